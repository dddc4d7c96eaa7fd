"""Free Spoken Digits: WAV recordings as tensors, with the official train/test split."""

from __future__ import annotations

import wave

import numpy as np
import torch

from .registry import verify

SAMPLE_RATE = 8000  # Hz


def read_wav(path) -> tuple[torch.Tensor, int]:
    """A 16-bit PCM mono WAV as float32 in [-1, 1) ``[samples]``, and its sample rate (Hz)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return torch.from_numpy(pcm.astype(np.float32) / 32768.0), w.getframerate()


def load_fsdd(split: str = "train", root=None):
    """FSDD recordings of one split. The official split: takes 0-4 of each speaker and digit
    test, takes 5-49 train (2,700 train, 300 test).

    Returns ``(waves, labels, speakers)``: a list of 1-D float tensors (8 kHz, variable length),
    a LongTensor of digits, and a list of speaker names; sorted by file name.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = verify("fsdd", root) / "recordings"
    waves, labels, speakers = [], [], []
    for path in sorted(folder.glob("*.wav")):
        digit, speaker, take = path.stem.split("_")
        if (int(take) < 5) != (split == "test"):
            continue
        audio, rate = read_wav(path)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{path}: expected {SAMPLE_RATE} Hz, got {rate}")
        waves.append(audio)
        labels.append(int(digit))
        speakers.append(speaker)
    return waves, torch.tensor(labels), speakers
