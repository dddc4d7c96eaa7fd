"""Meta-SpikeFormer (Spike-driven Transformer V2, Yao et al., ICLR 2024) and its ANN twin.

A MetaFormer in four stages: stages 1-2 hold conv blocks (token mixer: separable convolution;
channel mixer: two 3x3 convolutions), stages 3-4 transformer blocks (token mixer: spike-driven
self-attention, :class:`~snnkit.nn.spiking_attention.SDSA`; channel mixer: a two-layer MLP); a
Conv-BN down-sampling layer opens every stage.

Every residual is a **membrane shortcut**: the identity path carries real-valued membrane
potentials ``u`` and every branch begins with a spiking neuron, ``u <- u + branch(SN(u))``, so every
synaptic layer (conv or linear) except the first one, which reads the image, receives binary spikes:
the network is spike-driven. (Spikformer's spike shortcuts, ``s + branch(s)``, instead hand the
next layer integers: a spike plus a spike is 2.) ``spiking=False`` builds the ANN twin: ReLU for
every neuron and softmax attention for SDSA, the same layers otherwise. Both start every block as
the identity (zero-initialised last BatchNorm of each branch), which speeds up training a lot.

Our simplifications (read against the paper): projections are Linear-BN rather than the
re-parameterisable ``RepConv``; the separable convolution has a neuron between its depthwise and
last pointwise convolution, so every synaptic layer reads spikes directly (the paper chains them
without one, which folds into a single convolution on spikes). Shapes are time-first:
``[T, B, C, H, W]`` in conv stages, ``[T, B, N, C]`` in transformer stages.
"""

from __future__ import annotations

import torch
from torch import nn

from ..neurons import LIF
from ..nn.spiking_attention import SDSA, SoftmaxAttention, batch_norm_tokens


class Spike(nn.Module):
    """A LIF layer that returns only its spikes (``[T, B, ...]`` -> same shape)."""

    def __init__(self, beta: float = 0.5, threshold: float = 1.0):
        super().__init__()
        self.lif = LIF(beta, threshold, reset="zero")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(x)[0]


def _neuron(spiking: bool) -> nn.Module:
    return Spike() if spiking else nn.ReLU()


def _attention(dim: int, heads: int, variant: int, spiking: bool) -> nn.Module:
    if spiking:
        return SDSA(dim, heads, variant)
    return nn.Sequential(nn.ReLU(), SoftmaxAttention(dim, heads))


class ConvBN(nn.Module):
    """Conv2d + BatchNorm2d on ``[T, B, C, H, W]`` (time folded into the batch)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x.flatten(0, 1)))
        return y.view(*x.shape[:2], *y.shape[1:])


class LinearBN(nn.Module):
    """Linear (no bias) + BatchNorm1d on tokens ``[T, B, N, C]``."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=False)
        self.bn = nn.BatchNorm1d(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return batch_norm_tokens(self.bn, self.linear(x))


class SepConv(nn.Sequential):
    """Token mixer of a conv block: SN-pw(C->2C)-BN, SN-dw(k x k)-BN, SN-pw(2C->C)-BN."""

    def __init__(self, dim: int, k: int = 7, expansion: int = 2, spiking: bool = True):
        hidden = expansion * dim
        super().__init__(_neuron(spiking), ConvBN(dim, hidden, 1),
                         _neuron(spiking), ConvBN(hidden, hidden, k, groups=hidden),
                         _neuron(spiking), ConvBN(hidden, dim, 1))


class ConvMLP(nn.Sequential):
    """Channel mixer of a conv block: SN-Conv3x3(C->rC)-BN, SN-Conv3x3(rC->C)-BN."""

    def __init__(self, dim: int, ratio: int = 4, spiking: bool = True):
        super().__init__(_neuron(spiking), ConvBN(dim, ratio * dim, 3),
                         _neuron(spiking), ConvBN(ratio * dim, dim, 3))


class TokenMLP(nn.Sequential):
    """Channel mixer of a transformer block: SN-Linear-BN, SN-Linear-BN on ``[T, B, N, C]``."""

    def __init__(self, dim: int, ratio: int = 4, spiking: bool = True):
        super().__init__(_neuron(spiking), LinearBN(dim, ratio * dim),
                         _neuron(spiking), LinearBN(ratio * dim, dim))


class Block(nn.Module):
    """A MetaFormer block with membrane shortcuts: ``u + mixer(u)``, then ``u + mlp(u)``; both
    branches start with a neuron, so the shortcut carries membrane potentials, never spikes."""

    def __init__(self, mixer: nn.Module, mlp: nn.Module):
        super().__init__()
        self.mixer, self.mlp = mixer, mlp

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u + self.mixer(u)
        return u + self.mlp(u)

    @torch.no_grad()
    def zero_init_(self) -> None:
        """Zero the scale of each branch's last BatchNorm, so the block starts as the identity on
        the membrane (the "zero-gamma" residual initialisation of Goyal et al., 2017)."""
        for branch in (self.mixer, self.mlp):
            bns = [m for m in branch.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            bns[-1].weight.zero_()


class MetaSpikeFormer(nn.Module):
    """Meta-SpikeFormer classifier: images ``[B, C, H, W]`` -> logits ``[B, classes]``.

    Args:
        dims: channels of the four stages; depths: blocks per stage (stages 1-2 conv blocks,
            3-4 transformer blocks; a depth may be 0). strides: of each stage's down-sampling
            (the paper: 4x, 2x, 2x, 1x for ImageNet; here (2, 2, 2, 1) for 28x28 input).
        heads: attention heads; T: time steps (direct coding; the paper trains with T=1);
        mlp_ratio: channel-mixer expansion; sep_kernel: depthwise kernel of the token mixer;
        variant: SDSA variant (1 or 3); spiking: False builds the ANN twin (T is then 1).
    """

    def __init__(self, in_channels: int = 1, classes: int = 10, dims=(16, 32, 64, 80),
                 depths=(1, 1, 1, 1), strides=(2, 2, 2, 1), heads: int = 4, T: int = 1,
                 mlp_ratio: int = 4, sep_kernel: int = 7, variant: int = 3,
                 spiking: bool = True):
        super().__init__()
        self.T = T if spiking else 1
        self.downs, self.stages = nn.ModuleList(), nn.ModuleList()
        c_in = in_channels
        for i, (dim, depth, stride) in enumerate(zip(dims, depths, strides, strict=True)):
            down = ConvBN(c_in, dim, 3, stride)
            if i < 2:
                blocks = [Block(SepConv(dim, sep_kernel, spiking=spiking),
                                ConvMLP(dim, mlp_ratio, spiking)) for _ in range(depth)]
            else:
                blocks = [Block(_attention(dim, heads, variant, spiking),
                                TokenMLP(dim, mlp_ratio, spiking))
                          for _ in range(depth)]
            self.downs.append(down if i == 0 else nn.Sequential(_neuron(spiking), down))
            self.stages.append(nn.ModuleList(blocks))
            c_in = dim
        self.head_neuron = _neuron(spiking)
        self.head = nn.Linear(dims[-1], classes)
        for block in self.modules():
            if isinstance(block, Block):
                block.zero_init_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.downs[0].bn(self.downs[0].conv(x))          # the image: computed once
        u = y.unsqueeze(0).expand(self.T, *y.shape)          # membrane input [T, B, C, H, W]
        for i, blocks in enumerate(self.stages):
            if i > 0:
                u = self.downs[i](u)
            if i < 2:
                for block in blocks:
                    u = block(u)
            else:                                            # tokens [T, B, N, C]
                tokens = u.flatten(3).transpose(2, 3)
                for block in blocks:
                    tokens = block(tokens)
                u = tokens.transpose(2, 3).reshape(u.shape)
        spikes = self.head_neuron(u.flatten(3).transpose(2, 3))     # [T, B, positions, C]
        return self.head(spikes).mean((0, 2))
