"""Shifted-window attention (Liu et al., Swin Transformer, ICCV 2021, arXiv:2103.14030).

Self-attention is restricted to non-overlapping ``M x M`` windows of the token map; every other
block shifts the windows by ``M // 2`` with a cyclic ``torch.roll`` and masks out the token pairs
that the roll made neighbours although they are far apart in the image. A learned bias indexed by
the relative offset of two tokens is added to the logits.

Shapes: token maps are ``[B, H, W, C]`` (channels last), windows ``[B, nW, M*M, C]`` with the
``nW = (H/M) (W/M)`` windows in row-major order and the tokens of a window in row-major order.
Pure functions first, then the modules that hold weights, then operation counts (in
multiply-accumulates, the unit the paper and its code call FLOPs).
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import scaled_dot_product
from .patch import PatchEmbed

MASK_VALUE = -100.0  # added to the logits of forbidden pairs (the official value, not -inf)


# ---------------------------------------------------------------------------------------------
# pure functions


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[B, H, W, C]`` -> ``[B, nW, window*window, C]`` (H and W divisible by ``window``)."""
    B, H, W, C = x.shape
    if H % window or W % window:
        raise ValueError(f"map {H}x{W} is not divisible into {window}x{window} windows")
    x = x.view(B, H // window, window, W // window, window, C).transpose(2, 3)
    return x.reshape(B, (H // window) * (W // window), window * window, C)


def window_reverse(windows: torch.Tensor, window: int, H: int, W: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``[B, nW, window*window, C]`` -> ``[B, H, W, C]``."""
    B, _, _, C = windows.shape
    x = windows.view(B, H // window, W // window, window, window, C).transpose(2, 3)
    return x.reshape(B, H, W, C)


def cyclic_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Roll a map ``[B, H, W, C]`` up and left by ``shift`` (``-shift`` rolls it back)."""
    return torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))


def relative_position_index(window: int) -> torch.Tensor:
    """``[N, N]`` (``N = window**2``) row of the bias table for each token pair:
    ``(dy + M - 1) (2M - 1) + (dx + M - 1)`` with ``(dy, dx)`` the query's offset from the key."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window - 1
    dx = xs[:, None] - xs[None, :] + window - 1
    return dy * (2 * window - 1) + dx


def region_labels(H: int, W: int, window: int, shift: int) -> torch.Tensor:
    """``[H, W]`` label of each position of the *rolled* map: rows and columns are cut at
    ``H - window`` and ``H - shift`` (resp. W) into three bands each, giving up to 9 regions.
    Within a window, two tokens share a label iff the roll did not tear them apart."""
    def bands(n):
        lab = torch.zeros(n, dtype=torch.long)
        lab[n - window:n - shift] = 1
        lab[n - shift:] = 2
        return lab
    return bands(H)[:, None] * 3 + bands(W)[None, :]


def shifted_window_mask(H: int, W: int, window: int, shift: int) -> torch.Tensor:
    """Additive mask ``[nW, N, N]`` for the rolled map: 0 where two tokens of a window share a
    region, :data:`MASK_VALUE` elsewhere (all zeros when ``shift == 0``)."""
    if shift == 0:
        n_win = (H // window) * (W // window)
        return torch.zeros(n_win, window * window, window * window)
    lab = window_partition(region_labels(H, W, window, shift)[None, :, :, None], window)[0, ..., 0]
    same = lab[:, :, None] == lab[:, None, :]
    return torch.zeros(same.shape).masked_fill(~same, MASK_VALUE)


def attention_graph(H: int, W: int, window: int, shift: int) -> torch.Tensor:
    """Boolean ``[H*W, H*W]`` in image (row-major) order: True where token i may attend to
    token j in a W-MSA (``shift=0``) or SW-MSA block. Powers of it give receptive fields."""
    ids = torch.arange(H * W).view(1, H, W, 1)
    ids = window_partition(cyclic_shift(ids, shift), window)[0, ..., 0]       # [nW, N]
    allowed = shifted_window_mask(H, W, window, shift) == 0
    graph = torch.zeros(H * W, H * W, dtype=torch.bool)
    graph[ids[:, :, None], ids[:, None, :]] = allowed
    return graph


def fit_window(resolution: tuple[int, int], window: int, shift: int) -> tuple[int, int]:
    """The official rule: a map no larger than the window is one window, with no shift."""
    if min(resolution) <= window:
        return min(resolution), 0
    if not 0 <= shift < window:
        raise ValueError(f"shift must be in [0, window={window}), got {shift}")
    return window, shift


# ---------------------------------------------------------------------------------------------
# modules


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a relative position bias.

    ``forward(windows [B, nW, N, dim], mask [nW, N, N] additive or None) -> [B, nW, N, dim]``.
    The bias table ``[(2M-1)^2, heads]`` is shared by all windows; ``rel_bias=False`` drops it.
    """

    def __init__(self, dim: int, window: int, heads: int, qkv_bias: bool = True,
                 rel_bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.dim, self.window, self.heads = dim, window, heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.table = (nn.Parameter(nn.init.trunc_normal_(torch.zeros((2 * window - 1) ** 2, heads),
                                                         std=0.02))
                      if rel_bias else None)
        self.register_buffer("index", relative_position_index(window), persistent=False)

    def position_bias(self) -> torch.Tensor | None:
        """``[heads, N, N]`` bias looked up from the table (None without one)."""
        if self.table is None:
            return None
        return self.table[self.index].permute(2, 0, 1)

    def forward(self, windows: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, nW, N, C = windows.shape
        qkv = self.qkv(windows).view(B, nW, N, 3, self.heads, C // self.heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5)            # each [B, nW, heads, N, d]
        bias = self.position_bias()
        if mask is not None:
            mask = mask[:, None]                              # [nW, 1, N, N]
            bias = mask if bias is None else bias + mask
        out = scaled_dot_product(q, k, v, bias=bias)          # [B, nW, heads, N, d]
        return self.proj(out.transpose(2, 3).reshape(B, nW, N, C))


class SwinBlock(nn.Module):
    """Pre-norm transformer block whose attention is (shifted-)window attention.

    ``forward(x [B, H*W, dim]) -> [B, H*W, dim]`` for the ``resolution = (H, W)`` given at
    construction. ``shift=0`` gives W-MSA, ``shift=window//2`` SW-MSA (roll, attend with the
    mask, roll back). As in the official code a map no larger than the window is a single
    window with no shift.
    """

    def __init__(self, dim: int, resolution: tuple[int, int], heads: int, window: int = 7,
                 shift: int = 0, mlp_ratio: float = 4.0, rel_bias: bool = True):
        super().__init__()
        self.resolution = tuple(resolution)
        self.window, self.shift = fit_window(self.resolution, window, shift)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, self.window, heads, rel_bias=rel_bias)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.register_buffer("mask", shifted_window_mask(*self.resolution, self.window, self.shift)
                             if self.shift else None, persistent=False)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """The attention branch alone on a map ``[B, H, W, dim]``."""
        H, W = self.resolution
        if self.shift:
            x = cyclic_shift(x, self.shift)
        x = window_reverse(self.attn(window_partition(x, self.window), self.mask),
                           self.window, H, W)
        return cyclic_shift(x, -self.shift) if self.shift else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        H, W = self.resolution
        if L != H * W:
            raise ValueError(f"expected {H}x{W}={H * W} tokens, got {L}")
        x = x + self.mix(self.norm1(x).view(B, H, W, C)).reshape(B, L, C)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """Halve the resolution, double the channels: concatenate each 2x2 neighbourhood in the
    order (0,0), (1,0), (0,1), (1,1) -> LayerNorm(4C) -> Linear(4C -> 2C, no bias).
    ``forward(x [B, H*W, C]) -> [B, H*W/4, 2C]``."""

    def __init__(self, resolution: tuple[int, int], dim: int):
        super().__init__()
        self.resolution = tuple(resolution)
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = self.resolution
        B, _, C = x.shape
        x = x.view(B, H, W, C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(B, -1, 4 * C)))


class SwinClassifier(nn.Module):
    """A small hierarchical Swin for classification.

    Patch embedding (no absolute position embedding, as in Swin-T) -> stages of
    ``depths[i]`` :class:`SwinBlock` s (W-MSA and SW-MSA alternating when ``shifted``, W-MSA only
    otherwise), :class:`PatchMerging` between stages -> LayerNorm -> mean over tokens -> Linear.
    ``forward(images [B, in_channels, image, image]) -> logits [B, classes]``.
    """

    def __init__(self, in_channels: int, classes: int, image: int, patch: int, dim: int,
                 depths: tuple[int, ...] = (2,), heads: tuple[int, ...] = (2,), window: int = 4,
                 shifted: bool = True, mlp_ratio: float = 4.0, rel_bias: bool = True):
        super().__init__()
        self.embed = PatchEmbed(in_channels, dim, patch)
        res = (image // patch, image // patch)
        stages = []
        for i, (depth, h) in enumerate(zip(depths, heads, strict=True)):
            if i:
                stages.append(PatchMerging(res, dim))
                res, dim = (res[0] // 2, res[1] // 2), 2 * dim
            stages += [SwinBlock(dim, res, h, window, window // 2 if shifted and j % 2 else 0,
                                 mlp_ratio, rel_bias) for j in range(depth)]
        self.stages = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Tokens after the last block, ``[B, N, dim]``."""
        return self.stages(self.embed(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.features(images)).mean(1))


# ---------------------------------------------------------------------------------------------
# operation counts (multiply-accumulates)


def msa_flops(h: int, w: int, dim: int) -> int:
    """Global multi-head self-attention on ``h x w`` tokens: ``4 hw C^2 + 2 (hw)^2 C``."""
    return 4 * h * w * dim ** 2 + 2 * (h * w) ** 2 * dim


def wmsa_flops(h: int, w: int, dim: int, window: int) -> int:
    """Window attention on ``h x w`` tokens, ``M x M`` windows: ``4 hw C^2 + 2 M^2 hw C``."""
    return 4 * h * w * dim ** 2 + 2 * window ** 2 * h * w * dim


def swin_block_flops(h: int, w: int, dim: int, window: int = 7, mlp_ratio: float = 4.0) -> float:
    """One :class:`SwinBlock` as the official ``SwinTransformerBlock.flops()`` counts it:
    two LayerNorms (``C`` per token each), the window attention, the MLP (``2 hw C^2 r``)."""
    window, _ = fit_window((h, w), window, 0)
    return 2 * dim * h * w + wmsa_flops(h, w, dim, window) + 2 * h * w * dim * dim * mlp_ratio


def matmul_macs(fn, *args) -> int:
    """Multiply-accumulates that ``fn(*args)`` spends in matrix products (linear layers and
    attention), counted from the operations torch actually runs (``FlopCounterMode``)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops() // 2
