"""Spikformer and Spikformer V2 (Zhou et al., ICLR 2023; arXiv:2401.02020), sized by arguments.

Image -> spiking tokens (stem) -> relative position embedding -> ``depth`` blocks of
``x + SSA(x)``, ``x + MLP(x)`` -> mean over tokens and time -> linear classifier.

Two stems: ``"patch"`` cuts the image into ``patch x patch`` squares (a strided convolution,
:class:`snnkit.nn.PatchEmbed`) followed by BN and LIF; ``"conv"`` (V2's spiking convolutional stem)
first runs ``stem_layers`` Conv3x3-BN-LIF layers at full resolution, so the patches are cut from
spiking convolutional features. The image is repeated at each of ``T`` steps (direct coding);
the first layer sees the same input every step, so it is computed once.

:class:`MaskedReconstruction` is V2's self-supervised pre-training, in our reading of the paper
(its code is unreleased): mask a random ``mask_ratio`` of the patches, zero them in the image and
again after every stem convolution (SparK-style, so nothing leaks through 3x3 receptive fields),
and regress the normalised pixels of the masked patches from the encoder's tokens with a small
non-spiking decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from ..neurons import LIF
from ..nn import PatchEmbed
from ..nn.spiking_attention import SSA, LinearBNSpike


def _fold(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-image layer to ``[T, B, ...]`` by folding time into the batch."""
    y = layer(x.flatten(0, 1))
    return y.view(*x.shape[:2], *y.shape[1:])


def _remask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero masked positions of a feature map ``[..., C, H, W]``; ``mask`` ``[B, h, w]`` (True =
    masked) is stretched to ``H x W`` (H a multiple of h)."""
    if mask is None:
        return x
    f = x.shape[-2] // mask.shape[-2]
    keep = ~mask.repeat_interleave(f, -2).repeat_interleave(f, -1)
    return x * keep.unsqueeze(-3).to(x.dtype)


class SpikingStem(nn.Module):
    """Image ``[B, C, H, W]`` -> spike map ``[T, B, dim, H/patch, W/patch]``.

    ``kind="patch"``: PatchEmbed-BN-LIF. ``kind="conv"``: ``layers`` Conv3x3-BN-LIF (channels
    ``dim/2**layers, ..., dim/2``), then the patch split as a strided conv on spikes, BN, LIF.
    ``mask`` (``[B, H/patch, W/patch]``, True = hidden) zeroes the hidden patches in the input
    and after every layer.
    """

    def __init__(self, in_channels: int, dim: int, patch: int, T: int, kind: str = "patch",
                 layers: int = 2, beta: float = 0.5):
        super().__init__()
        if kind not in ("patch", "conv"):
            raise ValueError(f"stem must be 'patch' or 'conv', got {kind!r}")
        self.T, self.kind, self.patch = T, kind, patch
        widths = [max(1, dim >> (layers - i)) for i in range(layers)] if kind == "conv" else []
        chans = [in_channels, *widths]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False)
                                   for a, b in zip(chans[:-1], chans[1:], strict=True))
        self.patch_embed = PatchEmbed(chans[-1], dim, patch)
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in [*widths, dim])
        self.lifs = nn.ModuleList(LIF(beta, 1.0, reset="zero") for _ in range(len(widths) + 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = _remask(x, mask)
        convs = [*self.convs, self.patch_embed.proj]
        for i, (conv, bn, lif) in enumerate(zip(convs, self.bns, self.lifs, strict=True)):
            if i == 0:   # analogue image: the same current at every step, computed once
                y = bn(conv(x))
                y = y.unsqueeze(0).expand(self.T, *y.shape)
            else:
                y = _fold(lambda z, c=conv, b=bn: b(c(z)), x)
            x = _remask(lif(y)[0], mask)
        return x


class SpikformerBlock(nn.Module):
    """``x + SSA(x)``, then ``x + MLP(x)`` with MLP = two Linear-BN-LIF layers.
    Tokens ``[T, B, N, dim]``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4, beta: float = 0.5):
        super().__init__()
        self.attn = SSA(dim, heads, beta=beta)
        self.mlp = nn.Sequential(LinearBNSpike(dim, mlp_ratio * dim, beta),
                                 LinearBNSpike(mlp_ratio * dim, dim, beta))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class Spikformer(nn.Module):
    """A Spikformer classifier for images ``[B, C, H, W]`` -> logits ``[B, classes]``.

    Args: ``in_channels``, ``classes``, ``dim`` (token width), ``depth`` (blocks), ``heads``,
    ``T`` (time steps), ``patch`` (token size in pixels), ``stem`` (``"patch"`` or ``"conv"``),
    ``stem_layers`` (conv layers before the patch split), ``mlp_ratio``, ``beta`` (LIF decay).
    """

    def __init__(self, in_channels: int = 1, classes: int = 10, dim: int = 64, depth: int = 1,
                 heads: int = 4, T: int = 2, patch: int = 2, stem: str = "patch",
                 stem_layers: int = 2, mlp_ratio: int = 4, beta: float = 0.5):
        super().__init__()
        self.T, self.patch, self.in_channels = T, patch, in_channels
        self.stem = SpikingStem(in_channels, dim, patch, T, stem, stem_layers, beta)
        self.rpe = nn.Conv2d(dim, dim, 3, padding=1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(dim)
        self.rpe_lif = LIF(beta, 1.0, reset="zero")
        self.blocks = nn.ModuleList(SpikformerBlock(dim, heads, mlp_ratio, beta)
                                    for _ in range(depth))
        self.head = nn.Linear(dim, classes)

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens after the last block, ``[T, B, N, dim]`` (row-major patch order)."""
        s = self.stem(x, mask)                                          # [T, B, dim, h, w]
        s = s + self.rpe_lif(_fold(lambda z: self.rpe_bn(self.rpe(z)), s))[0]
        tokens = s.flatten(3).transpose(2, 3)                           # [T, B, N, dim]
        for block in self.blocks:
            tokens = block(tokens)
        return tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(2)).mean(0)


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, N, patch*patch*C]`` in the row-major order of the tokens."""
    B, C, H, W = x.shape
    x = x.view(B, C, H // patch, patch, W // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(B, (H // patch) * (W // patch), -1)


def random_mask(batch: int, grid: tuple[int, int], ratio: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean ``[batch, h, w]``: exactly ``round(ratio * h * w)`` True (hidden) per image."""
    n = grid[0] * grid[1]
    hidden = round(ratio * n)
    order = torch.rand(batch, n, generator=generator).argsort(1)
    mask = torch.zeros(batch, n, dtype=torch.bool)
    mask.scatter_(1, order[:, :hidden], True)
    return mask.view(batch, *grid)


def normalise_patches(patches: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """Per-patch standardised pixels ``(p - mean) / sqrt(var + eps)`` over the last dim (MAE's
    target). ``eps`` (in squared pixel units, pixels in [0, 1]) keeps near-blank patches from
    being blown up into noise."""
    mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


class MaskedReconstruction(nn.Module):
    """Masked-patch pre-training of a :class:`Spikformer` ``encoder``.

    ``loss(x)`` hides ``mask_ratio`` of the patches of ``x`` ``[B, C, H, W]``, encodes the rest,
    decodes every token's time-averaged output with a non-spiking MLP (``decoder_dim`` hidden
    units) to a patch of pixels, and returns ``(mse, baseline)``: the mean squared error on the
    normalised pixels of the hidden patches, and that of the trivial prediction "every pixel
    equals its patch's mean" (0 after normalisation).
    """

    def __init__(self, encoder: Spikformer, mask_ratio: float = 0.5, decoder_dim: int = 128):
        super().__init__()
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.encoder, self.mask_ratio = encoder, mask_ratio
        dim, p = encoder.head.in_features, encoder.patch
        self.decoder = nn.Sequential(nn.Linear(dim, decoder_dim), nn.GELU(),
                                     nn.Linear(decoder_dim, p * p * encoder.in_channels))

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted normalised patches ``[B, N, patch*patch*C]`` given the mask."""
        return self.decoder(self.encoder.features(x, mask).mean(0))

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None):
        p = self.encoder.patch
        mask = random_mask(len(x), (x.shape[-2] // p, x.shape[-1] // p), self.mask_ratio,
                           generator).to(x.device)
        target = normalise_patches(patchify(x, p))
        hidden = mask.flatten(1)
        err = (self.reconstruct(x, mask) - target)[hidden].pow(2).mean()
        baseline = target[hidden].pow(2).mean()
        return err, baseline.detach()
