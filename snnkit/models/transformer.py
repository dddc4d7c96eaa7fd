"""One pre-norm transformer block, and three small models built from it.

The block (Vaswani et al., 2017, with the layer norm moved in front of each sub-layer):

    x <- x + MHA(LN(x))        x <- x + MLP(LN(x))

:class:`Transformer` stacks blocks over token vectors ``[B, N, dim]`` with positions added; the
three models differ only in how they make tokens and read them out:

- :class:`CharLM`: characters -> embeddings; causal; logits over the vocabulary at every position.
- :class:`PatchClassifier`: an image cut into patches (ViT); mean of the tokens -> class logits.
- :class:`Forecaster`: one scalar per time step; causal; the next value at every position.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..nn import MultiHeadAttention, PatchEmbed
from ..nn.attention import causal_mask

POSITIONS = ("sin", "learned", "none")


def sinusoidal_pe(n: int, dim: int) -> torch.Tensor:
    """Fixed positions ``[n, dim]``: ``PE[p, 2i] = sin(p / 10000^(2i/dim))``, ``PE[p, 2i+1] =
    cos(...)`` (``dim`` even)."""
    if dim % 2:
        raise ValueError(f"sinusoidal positions need an even dim, got {dim}")
    p = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    pe = torch.empty(n, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(p * freq), torch.cos(p * freq)
    return pe


class TransformerBlock(nn.Module):
    """Pre-norm block: attention then a two-layer GELU MLP (``mlp_ratio * dim`` hidden), each
    wrapped as ``x + f(LN(x))``. ``forward(x, mask=None)``: ``x`` ``[B, N, dim]``, ``mask`` boolean
    ``[N, N]`` (True = may attend); returns ``[B, N, dim]``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask=mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """Positions + ``depth`` :class:`TransformerBlock` s + a final layer norm.

    Args:
        dim, depth, heads: width, number of blocks, heads per block.
        max_len: longest sequence (rows of the position table).
        causal: each token sees only itself and earlier tokens.
        pos: ``"sin"`` (fixed sinusoids), ``"learned"`` (a trained table) or ``"none"`` (then the
            model is permutation-equivariant, or, if causal, sees an ordered set).

    ``forward(tokens)``: ``[B, N, dim]`` -> ``[B, N, dim]``, ``N <= max_len``.
    """

    def __init__(self, dim: int, depth: int, heads: int, max_len: int, causal: bool = False,
                 pos: str = "sin", mlp_ratio: int = 4):
        super().__init__()
        if pos not in POSITIONS:
            raise ValueError(f"pos must be one of {POSITIONS}, got {pos!r}")
        self.causal = causal
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        if pos == "learned":
            self.pos = nn.Parameter(0.02 * torch.randn(max_len, dim))
        else:
            table = sinusoidal_pe(max_len, dim) if pos == "sin" else torch.zeros(max_len, dim)
            self.register_buffer("pos", table, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        if n > self.pos.shape[0]:
            raise ValueError(f"sequence of {n} tokens is longer than max_len={self.pos.shape[0]}")
        mask = causal_mask(n, tokens.device) if self.causal else None
        x = tokens + self.pos[:n]
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    @torch.no_grad()
    def attention_maps(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Run ``tokens`` ``[B, N, dim]`` through and return each block's attention map
        ``[B, heads, N, N]`` (rows: queries, columns: keys; each row sums to 1)."""
        for block in self.blocks:
            block.attn.keep_weights = True
        try:
            self(tokens)
            return [block.attn.weights for block in self.blocks]
        finally:
            for block in self.blocks:
                block.attn.keep_weights, block.attn.weights = False, None


class CharLM(nn.Module):
    """Causal character model: ``forward(ids)`` ``[B, N]`` long -> logits ``[B, N, vocab]``, the
    logits at position t predicting symbol t+1."""

    def __init__(self, vocab: int, dim: int, depth: int, heads: int, context: int,
                 pos: str = "sin"):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.trunk = Transformer(dim, depth, heads, context, causal=True, pos=pos)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self.embed(ids)))

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, n: int, generator: torch.Generator | None = None,
                 temperature: float = 1.0) -> torch.Tensor:
        """Append ``n`` sampled symbols to ``ids`` ``[B, N0]`` (context cropped to ``max_len``)."""
        context = self.trunk.pos.shape[0]
        for _ in range(n):
            logits = self(ids[:, -context:])[:, -1] / temperature
            nxt = torch.multinomial(logits.softmax(-1).cpu(), 1, generator=generator)
            ids = torch.cat([ids, nxt.to(ids.device)], 1)
        return ids


class PatchClassifier(nn.Module):
    """Vision transformer for small images: ``patch x patch`` squares -> tokens -> blocks ->
    mean over tokens -> class logits. ``forward(images)`` ``[B, C, H, W]`` -> ``[B, classes]``."""

    def __init__(self, image: int, patch: int, classes: int, dim: int, depth: int, heads: int,
                 channels: int = 1, pos: str = "sin"):
        super().__init__()
        if image % patch:
            raise ValueError(f"image side {image} is not a multiple of patch {patch}")
        self.embed = PatchEmbed(channels, dim, patch)
        self.trunk = Transformer(dim, depth, heads, (image // patch) ** 2, pos=pos)
        self.head = nn.Linear(dim, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self.embed(images)).mean(1))


class Forecaster(nn.Module):
    """Causal one-step-ahead forecaster of a univariate series.

    ``forward(x)``: ``x`` ``[B, N]`` (a scaled series) -> ``[B, N]``, entry t predicting
    ``x[t+1]`` from ``x[:t+1]``. Each value becomes a token through a linear map; the model
    predicts the *change* and adds it to the last value (differencing, the forecaster's oldest
    trick), so a model that outputs zero is the persistence forecast.
    """

    def __init__(self, dim: int, depth: int, heads: int, context: int, pos: str = "sin"):
        super().__init__()
        self.embed = nn.Linear(1, dim)
        self.trunk = Transformer(dim, depth, heads, context, causal=True, pos=pos)
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.head(self.trunk(self.embed(x[..., None]))).squeeze(-1)
