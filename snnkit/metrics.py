"""Language-model scores: bits per character and perplexity.

A model that gives the next symbol probability ``p`` pays ``-log2 p`` bits for it. Averaged over
held-out text this is the **bits per character** (BPC, the cross-entropy in base 2; enwik8 and
text8 results are quoted in it), and ``2^BPC = e^{nats}`` is the **perplexity**, the size of a
uniform choice that would be as uncertain (the usual score for word-level text).

``model`` is any causal language model ``ids [B, N] -> logits [B, N, vocab]`` whose logits at
position t predict symbol t+1 (:class:`~snnkit.models.CharLM`,
:class:`~snnkit.sequence.rwkv.SpikeGPT`). The held-out text is cut into non-overlapping windows
of ``context`` symbols, each read from an empty context.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def cross_entropy_bits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean ``-log2 p(target)``: ``logits`` ``[..., vocab]``, ``targets`` ``[...]`` long."""
    return F.cross_entropy(logits.flatten(0, -2), targets.flatten()) / math.log(2)


@torch.no_grad()
def lm_nats(model: nn.Module, ids: torch.Tensor, context: int, batch_size: int = 64,
            device=None) -> float:
    """Mean cross-entropy (nats per symbol) of ``model`` on ``ids`` (a 1-D LongTensor), scored
    on ``(len(ids) - 1) // context`` windows; the incomplete tail is dropped."""
    n = (len(ids) - 1) // context * context
    if n == 0:
        raise ValueError(f"need more than {context} symbols to score, got {len(ids)}")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    x, y = ids[:n].view(-1, context), ids[1:n + 1].view(-1, context)
    total = 0.0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True):
        logits = model(xb.to(device))
        total += F.cross_entropy(logits.flatten(0, 1), yb.to(device).flatten(),
                                 reduction="sum").item()
    model.train(was_training)
    return total / n


def bits_per_char(model: nn.Module, ids: torch.Tensor, context: int, batch_size: int = 64,
                  device=None) -> float:
    """Held-out bits per character: :func:`lm_nats` / ln 2."""
    return lm_nats(model, ids, context, batch_size, device) / math.log(2)


def perplexity(model: nn.Module, ids: torch.Tensor, context: int, batch_size: int = 64,
               device=None) -> float:
    """Held-out perplexity: ``exp`` of :func:`lm_nats` (``2 ** bits_per_char``)."""
    return math.exp(lm_nats(model, ids, context, batch_size, device))


def unigram_bits(train: torch.Tensor, ids: torch.Tensor, vocab: int) -> float:
    """Bits per symbol of ``ids`` under the training text's symbol frequencies (add-one
    smoothed): the score of a model that ignores all context."""
    counts = torch.bincount(train, minlength=vocab).double() + 1
    return -(counts / counts.sum()).log2()[ids].mean().item()
