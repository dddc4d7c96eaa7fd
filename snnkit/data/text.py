"""Character-level text: tiny-shakespeare with its vocabulary and splits."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .registry import verify


@dataclass
class CharCorpus:
    """A character corpus: ``train``/``val`` are 1-D LongTensors of symbol ids."""

    text: str
    vocab: list[str]
    train: torch.Tensor
    val: torch.Tensor

    @property
    def stoi(self) -> dict[str, int]:
        return {ch: i for i, ch in enumerate(self.vocab)}

    def encode(self, s: str) -> torch.Tensor:
        stoi = self.stoi
        return torch.tensor([stoi[ch] for ch in s], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)


def load_shakespeare(root=None, val_fraction: float = 0.1) -> CharCorpus:
    """tiny-shakespeare: the first ``1 - val_fraction`` of the text trains, the rest validates
    (the char-rnn/nanoGPT convention). Vocabulary: the 65 sorted distinct characters."""
    text = (verify("tinyshakespeare", root) / "input.txt").read_text(encoding="utf-8")
    vocab = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(vocab)}
    ids = torch.tensor([stoi[ch] for ch in text], dtype=torch.long)
    n = int(len(ids) * (1 - val_fraction))
    return CharCorpus(text, vocab, ids[:n], ids[n:])
