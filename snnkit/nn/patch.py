"""From images to tokens: a patch embedding (ViT) and a small convolutional stem."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """Cut ``[B, C, H, W]`` into ``patch x patch`` squares and project each to ``dim`` features.

    ``forward`` returns tokens ``[B, N, dim]`` with ``N = (H/patch) * (W/patch)`` in row-major
    order; ``grid(x)`` gives ``(H/patch, W/patch)``. A strided convolution does the cut and the
    projection at once (it equals a Linear on flattened patches).
    """

    def __init__(self, in_channels: int, dim: int, patch: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch)

    def grid(self, x: torch.Tensor) -> tuple[int, int]:
        return x.shape[-2] // self.patch, x.shape[-1] // self.patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class ConvStem(nn.Module):
    """A convolutional stem: ``depth`` 3x3 conv-BN-ReLU layers, the first ``downsample`` of them
    with stride 2, then a 1x1 projection to ``dim``; returns tokens ``[B, N, dim]``.

    Swapping a :class:`PatchEmbed` for this stem is the Spikformer V2 / early-convolution recipe.
    ``act`` builds the nonlinearity (default ReLU; a spiking chapter passes its neuron wrapper).
    """

    def __init__(self, in_channels: int, dim: int, depth: int = 2, downsample: int = 1,
                 act=nn.ReLU):
        super().__init__()
        layers, ch = [], in_channels
        for i in range(depth):
            stride = 2 if i < downsample else 1
            layers += [nn.Conv2d(ch, dim, 3, stride, 1, bias=False), nn.BatchNorm2d(dim), act()]
            ch = dim
        layers.append(nn.Conv2d(dim, dim, 1))
        self.body = nn.Sequential(*layers)
        self.downsample = downsample

    def grid(self, x: torch.Tensor) -> tuple[int, int]:
        f = 2 ** self.downsample
        return -(-x.shape[-2] // f), -(-x.shape[-1] // f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(2).transpose(1, 2)
