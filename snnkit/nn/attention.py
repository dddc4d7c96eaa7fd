"""Multi-head self-attention, written out (Vaswani et al., 2017).

``scaled_dot_product`` is the pure function; :class:`MultiHeadAttention` holds the projections
and splits heads. Its weights load from and match ``torch.nn.MultiheadAttention``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def scaled_dot_product(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                       return_weights: bool = False):
    """``softmax(q k^T / sqrt(d) + bias, masked) v``.

    Args:
        q: queries ``[..., N, d]``; k: keys ``[..., M, d]``; v: values ``[..., M, d_v]``.
        mask: boolean ``[..., N, M]`` (broadcastable), True where attention is *allowed*.
        bias: additive logits ``[..., N, M]`` (broadcastable), e.g. a relative position bias or
            ``-inf``/``-100`` entries of a shift mask.
        return_weights: also return the attention map ``[..., N, M]``.

    Returns ``[..., N, d_v]`` (and the weights).
    """
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        logits = logits + bias
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    weights = logits.softmax(-1)
    out = weights @ v
    return (out, weights) if return_weights else out


def causal_mask(n: int, device=None) -> torch.Tensor:
    """Boolean ``[n, n]`` mask allowing each position to see itself and the past."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    """Self- (or cross-) attention with ``heads`` heads over ``dim`` features.

    ``forward(x, context=None, mask=None, bias=None)``: ``x`` ``[B, N, dim]``, ``context``
    ``[B, M, dim]`` (defaults to ``x``); ``mask`` boolean ``[N, M]`` or ``[B, heads, N, M]``,
    True = allowed; ``bias`` additive ``[heads, N, M]`` or broadcastable. Returns ``[B, N, dim]``;
    the last attention map ``[B, heads, N, M]`` is kept in ``self.weights`` when
    ``keep_weights`` is set.
    """

    def __init__(self, dim: int, heads: int = 1, bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.dim, self.heads = dim, heads
        self.q, self.k, self.v = (nn.Linear(dim, dim, bias=bias) for _ in range(3))
        self.out = nn.Linear(dim, dim, bias=bias)
        self.keep_weights = False
        self.weights: torch.Tensor | None = None

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N, dim]`` -> ``[B, heads, N, dim/heads]``."""
        B, N, _ = x.shape
        return x.view(B, N, self.heads, self.dim // self.heads).transpose(1, 2)

    def forward(self, x, context=None, mask=None, bias=None):
        context = x if context is None else context
        q, k, v = self.split(self.q(x)), self.split(self.k(context)), self.split(self.v(context))
        out, w = scaled_dot_product(q, k, v, mask, bias, return_weights=True)
        self.weights = w.detach() if self.keep_weights else None
        B, _, N, _ = out.shape
        return self.out(out.transpose(1, 2).reshape(B, N, self.dim))

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` with the same dim and heads."""
        wq, wk, wv = mha.in_proj_weight.chunk(3)
        for lin, w in zip((self.q, self.k, self.v), (wq, wk, wv), strict=True):
            lin.weight.copy_(w)
        if mha.in_proj_bias is not None:
            for lin, b in zip((self.q, self.k, self.v), mha.in_proj_bias.chunk(3), strict=True):
                lin.bias.copy_(b)
        self.out.weight.copy_(mha.out_proj.weight)
        if mha.out_proj.bias is not None:
            self.out.bias.copy_(mha.out_proj.bias)
        return self
