"""MetaFormer (Yu et al., CVPR 2022) and a spiking MetaFormer (Max-Former, Fang et al., 2025).

A MetaFormer block on a token grid ``X`` ``[B, C, H, W]`` is::

    X' = X  + ls1 * TokenMixer(Norm(X))
    Y  = X' + ls2 * MLP(Norm(X'))              Norm = GroupNorm(1, C), MLP per token: C -> 4C -> C

with the token mixer left open: identity, pooling, a depth-wise convolution or self-attention
(:func:`make_mixer`). PoolFormer's pooling mixer returns ``pool(X) - X`` because the block adds
``X`` back. :class:`MetaFormer` is a one-stage classifier on the patch grid of
:class:`~snnkit.nn.PatchEmbed`; :func:`metaformer_macs` counts its multiply-accumulates exactly.

The spiking variant (:class:`SpikingMetaFormer`) is time-first, ``[T, B, C, H, W]``, and follows
Max-Former's block: the mixer acts on membrane potentials and *replaces* them (max-pool,
average-pool, identity), or adds ``BN(DWConv(spikes))``; the channel MLP reads spikes and adds
to the membrane. Its patch embedding may end in an extra 3x3 max-pool (stride 2) instead of a
strided convolution. With ``neuron="relu"`` and ``T=1`` the same code is the non-spiking twin.
"""

from __future__ import annotations

import torch
from torch import nn

from ..neurons import LIF
from ..nn import MultiHeadAttention, PatchEmbed

MIXERS = ("identity", "avg", "max", "dwconv", "attention")


class IdentityMixer(nn.Module):
    """No token mixing: ``Mixer(X) = X`` (the ablation of PoolFormer's Table 5)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class PoolMixer(nn.Module):
    """``pool(X) - X`` (``subtract_input``) or ``pool(X)`` over ``size x size`` neighbourhoods,
    stride 1, same spatial size. ``kind="avg"`` averages over the neighbours that exist (borders
    are not padded with zeros: ``count_include_pad=False``); ``kind="max"`` takes their maximum.
    No parameters. ``x``: ``[B, C, H, W]``."""

    def __init__(self, kind: str = "avg", size: int = 3, subtract_input: bool = True):
        super().__init__()
        if kind not in ("avg", "max"):
            raise ValueError(f"kind must be 'avg' or 'max', got {kind!r}")
        if size % 2 != 1:
            raise ValueError(f"pool size must be odd (same output size), got {size}")
        self.kind, self.size, self.subtract_input = kind, size, subtract_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.size // 2
        if self.kind == "avg":
            y = nn.functional.avg_pool2d(x, self.size, 1, pad, count_include_pad=False)
        else:
            y = nn.functional.max_pool2d(x, self.size, 1, pad)
        return y - x if self.subtract_input else y

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, size={self.size}, subtract_input={self.subtract_input}"


class DWConvMixer(nn.Module):
    """A depth-wise ``k x k`` convolution: each channel mixes its own neighbourhood with learned
    weights (``C * (k*k + 1)`` parameters). ``x``: ``[B, C, H, W]``."""

    def __init__(self, dim: int, k: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class AttentionMixer(nn.Module):
    """Multi-head self-attention over all ``H * W`` tokens of the grid
    (:class:`~snnkit.nn.MultiHeadAttention`). ``x``: ``[B, C, H, W]``."""

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        self.attn = MultiHeadAttention(dim, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2)                      # [B, N, C]
        return self.attn(tokens).transpose(1, 2).reshape(B, C, H, W)


def make_mixer(name: str, dim: int, heads: int = 4, pool_size: int = 3) -> nn.Module:
    """The MetaFormer token mixer called ``name`` (one of :data:`MIXERS`) for ``dim`` channels.
    Pooling mixers subtract their input (PoolFormer)."""
    if name == "identity":
        return IdentityMixer()
    if name in ("avg", "max"):
        return PoolMixer(name, pool_size, subtract_input=True)
    if name == "dwconv":
        return DWConvMixer(dim, pool_size)
    if name == "attention":
        return AttentionMixer(dim, heads)
    raise ValueError(f"mixer must be one of {MIXERS}, got {name!r}")


class ChannelMLP(nn.Module):
    """The channel MLP of a token grid ``[B, C, H, W]``: ``C -> ratio*C``, GELU, back to ``C``,
    the same for every token (PoolFormer's 1x1 convolutions, done as ``nn.Linear`` on
    channels-last tokens, which is faster on CPU)."""

    def __init__(self, dim: int, ratio: int = 4):
        super().__init__()
        self.fc1 = nn.Linear(dim, ratio * dim)
        self.fc2 = nn.Linear(ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        return self.fc2(nn.functional.gelu(self.fc1(x))).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """Per-channel learned scale ``lambda * x`` on ``[B, C, H, W]``, ``lambda`` starting at
    ``init`` (CaiT; PoolFormer uses 1e-5 for deep models)."""

    def __init__(self, dim: int, init: float = 1e-5):
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim, 1, 1), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


class MetaFormerBlock(nn.Module):
    """``X + LS(Mixer(Norm(X)))`` then ``+ LS(MLP(Norm(.)))`` on ``[B, C, H, W]``.

    ``mixer`` is a module (or a name for :func:`make_mixer`); ``layer_scale=None`` drops the
    scales (plain residuals).
    """

    def __init__(self, dim: int, mixer: nn.Module | str = "avg", mlp_ratio: int = 4,
                 layer_scale: float | None = 1e-5, heads: int = 4, pool_size: int = 3):
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(1, dim), nn.GroupNorm(1, dim)
        self.mixer = make_mixer(mixer, dim, heads, pool_size) if isinstance(mixer, str) else mixer
        self.mlp = ChannelMLP(dim, mlp_ratio)
        scale = (lambda: LayerScale(dim, layer_scale)) if layer_scale else nn.Identity
        self.ls1, self.ls2 = scale(), scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.mixer(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class MetaFormer(nn.Module):
    """A one-stage MetaFormer classifier.

    ``PatchEmbed(patch)`` cuts ``[B, in_channels, H, W]`` into an ``(H/patch) x (W/patch)`` grid
    of ``dim``-channel tokens; ``depth`` :class:`MetaFormerBlock` s with the same ``mixer``; a
    final GroupNorm, the mean over tokens and a linear head give logits ``[B, num_classes]``.
    ``pos_embed`` adds a learned position embedding to the grid of an ``image_size`` square
    input (ViT and DeiT give attention one: without it attention cannot tell where a token is;
    pooling and convolution see neighbourhoods by construction). ``[B, H, W]`` input is taken as
    one channel.
    """

    def __init__(self, mixer: str = "avg", in_channels: int = 1, num_classes: int = 10,
                 dim: int = 48, depth: int = 4, patch: int = 4, mlp_ratio: int = 4,
                 heads: int = 4, pool_size: int = 3, layer_scale: float | None = 1e-2,
                 pos_embed: bool = False, image_size: int = 28):
        super().__init__()
        self.mixer_name = mixer
        self.embed = PatchEmbed(in_channels, dim, patch)
        grid = image_size // patch
        self.pos = nn.Parameter(torch.zeros(1, dim, grid, grid)) if pos_embed else None
        if self.pos is not None:
            nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*(MetaFormerBlock(dim, mixer, mlp_ratio, layer_scale, heads,
                                                      pool_size) for _ in range(depth)))
        self.norm = nn.GroupNorm(1, dim)
        self.head = nn.Linear(dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The token grid after the blocks, ``[B, dim, H/patch, W/patch]``."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        h, w = self.embed.grid(x)
        grid = self.embed(x).transpose(1, 2).reshape(len(x), -1, h, w)
        if self.pos is not None:
            grid = grid + self.pos
        return self.norm(self.blocks(grid))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


def attention_matmul_macs(n: int, dim: int) -> int:
    """MACs of the two token-by-token products of self-attention on ``n`` tokens of ``dim``
    channels (``Q K^T`` and ``A V``), which no ``nn.Linear`` hook sees: ``2 n^2 dim``."""
    return 2 * n * n * dim


def metaformer_macs(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Multiply-accumulates per sample of one forward pass of a (non-spiking) model on ``x``.

    Linear and convolution layers are counted by :func:`snnkit.hw.count_ops` (dense MACs);
    every :class:`AttentionMixer` adds its two matrix products (:func:`attention_matmul_macs`).
    Pooling, normalisation and activations do no multiply-accumulates (pooling does ``k*k - 1``
    additions or comparisons per output, reported as ``pool_ops``). Returns ``{"macs":
    total, "attention_matmul": part of it, "pool_ops": ..., "params": ...}``.
    """
    from ..hw import count_ops

    samples = len(x)
    extra = {"attention_matmul": 0.0, "pool_ops": 0.0}

    def attn_hook(module, args, y):
        B, C, H, W = args[0].shape
        extra["attention_matmul"] += B * attention_matmul_macs(H * W, C) / samples

    def pool_hook(module, args, y):
        extra["pool_ops"] += y.numel() * (module.size ** 2 - 1) / samples

    hooks = []
    for m in model.modules():
        if isinstance(m, AttentionMixer):
            hooks.append(m.register_forward_hook(attn_hook))
        elif isinstance(m, PoolMixer):
            hooks.append(m.register_forward_hook(pool_hook))
    try:
        report = count_ops(model, x, samples=samples, spike_driven=False)
    finally:
        for h in hooks:
            h.remove()
    return {"macs": report.total("macs") + extra["attention_matmul"], **extra,
            "params": sum(p.numel() for p in model.parameters())}


# --- the spiking MetaFormer (Max-Former's blocks), time-first [T, B, C, H, W] -----------------


class Spiking(nn.Module):
    """A neuron layer that returns only its output on ``[T, B, ...]``: LIF spikes, or ReLU for
    the non-spiking twin (``neuron="relu"``; ``beta``, ``threshold``, ``reset`` then unused).

    The defaults, ``beta=0.5, threshold=2, reset="zero"``, are spikingjelly's LIF with
    ``tau=2``, ``v_threshold=1`` and hard reset, as Max-Former uses it, in snnkit's units
    (snnkit does not divide the input by ``tau``, so the threshold doubles)."""

    def __init__(self, neuron: str = "lif", beta: float = 0.5, threshold: float = 2.0,
                 reset: str = "zero"):
        super().__init__()
        if neuron not in ("lif", "relu"):
            raise ValueError(f"neuron must be 'lif' or 'relu', got {neuron!r}")
        self.neuron = LIF(beta, threshold, reset) if neuron == "lif" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.neuron(x)
        return out[0] if isinstance(out, tuple) else out


def _seq(module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-image module (or function) to ``[T, B, C, H, W]``, time folded into batch."""
    T, B = x.shape[:2]
    y = module(x.flatten(0, 1))
    return y.view(T, B, *y.shape[1:])


class ConvBN(nn.Sequential):
    """``Conv2d(bias=False)`` then ``BatchNorm2d``."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out))


class SpikingEmbed(nn.Module):
    """Patch embedding: ``ConvBN(in -> dim/2, stride stem_stride)`` on the analogue input, then
    spikes, then either ``ConvBN(stride 2)`` (``pool=None``) or ``ConvBN(stride 1)`` followed by
    a 3x3 stride-2 pooling (``pool="max"``: Max-Former's Max_Embed; ``"avg"`` for the control).
    ``x``: ``[T, B, in, H, W]`` -> membrane ``[T, B, dim, H/(2 s), W/(2 s)]`` (rounded up).
    ``act`` builds the neuron layer (default :class:`Spiking`)."""

    def __init__(self, in_channels: int, dim: int, pool: str | None = None, act=Spiking,
                 stem_stride: int = 1):
        super().__init__()
        if pool not in (None, "max", "avg"):
            raise ValueError(f"embed pool must be None, 'max' or 'avg', got {pool!r}")
        self.pool = pool
        self.stem = ConvBN(in_channels, dim // 2, stride=stem_stride)
        self.act = act()
        self.proj = ConvBN(dim // 2, dim, stride=1 if pool else 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _seq(self.proj, self.act(_seq(self.stem, x)))
        if self.pool == "max":
            x = _seq(lambda u: nn.functional.max_pool2d(u, 3, 2, 1), x)
        elif self.pool == "avg":
            x = _seq(lambda u: nn.functional.avg_pool2d(u, 3, 2, 1, count_include_pad=False), x)
        return x


class SpikingMixer(nn.Module):
    """Max-Former's token mixers on membrane potentials ``[T, B, C, H, W]``: ``"max"`` /
    ``"avg"`` replace ``U`` by its ``k x k`` pooling (stride 1), ``"identity"`` keeps it,
    ``"dwconv"`` returns ``U + BN(DWConv_k(spikes(U)))``."""

    def __init__(self, kind: str, dim: int, k: int = 3, act=Spiking):
        super().__init__()
        if kind not in ("identity", "avg", "max", "dwconv"):
            raise ValueError(f"spiking mixer must be identity, avg, max or dwconv, got {kind!r}")
        self.kind = kind
        if kind in ("avg", "max"):
            self.pool = PoolMixer(kind, k, subtract_input=False)
        if kind == "dwconv":
            self.act, self.conv = act(), ConvBN(dim, dim, k, groups=dim)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if self.kind == "identity":
            return u
        if self.kind == "dwconv":
            return u + _seq(self.conv, self.act(u))
        return _seq(self.pool, u)


class SpikingMLP2d(nn.Module):
    """Spiking channel MLP: ``U + BN(1x1(spikes(BN(1x1(spikes(U))))))`` on ``[T, B, C, H, W]``."""

    def __init__(self, dim: int, ratio: int = 4, act=Spiking):
        super().__init__()
        self.act1, self.fc1 = act(), ConvBN(dim, ratio * dim, 1)
        self.act2, self.fc2 = act(), ConvBN(ratio * dim, dim, 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u + _seq(self.fc2, self.act2(_seq(self.fc1, self.act1(u))))


class SpikingMetaFormer(nn.Module):
    """A one-stage spiking MetaFormer (Max-Former style).

    :class:`SpikingEmbed` (optional extra ``embed_pool``) -> ``depth`` blocks of
    :class:`SpikingMixer` (``mixer``) then :class:`SpikingMLP2d` -> spikes -> mean over the grid
    -> linear head, averaged over the ``T`` steps. ``forward(x)``: static images ``[B, C, H, W]``
    or ``[B, H, W]`` (the same analogue input at each of ``T`` steps, direct coding) or
    time-first ``[T, B, C, H, W]``; returns logits ``[B, num_classes]``.

    Neurons: ``neuron="lif"`` with ``beta``, ``threshold``, ``reset`` (see :class:`Spiking`);
    ``neuron="relu"`` with ``T=1`` is the non-spiking twin: the same layers, ReLU for LIF.
    """

    def __init__(self, mixer: str = "max", in_channels: int = 1, num_classes: int = 10,
                 dim: int = 32, depth: int = 2, T: int = 2, embed_pool: str | None = None,
                 mlp_ratio: int = 4, k: int = 3, stem_stride: int = 1, neuron: str = "lif",
                 beta: float = 0.5, threshold: float = 2.0, reset: str = "zero"):
        super().__init__()
        self.T, self.mixer_name = T, mixer

        def act():
            return Spiking(neuron, beta, threshold, reset)

        self.embed = SpikingEmbed(in_channels, dim, embed_pool, act, stem_stride)
        self.blocks = nn.ModuleList(
            nn.Sequential(SpikingMixer(mixer, dim, k, act), SpikingMLP2d(dim, mlp_ratio, act))
            for _ in range(depth))
        self.act = act()
        self.head = nn.Linear(dim, num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return x.unsqueeze(0).expand(self.T, *x.shape) if x.dim() == 4 else x

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Membrane grids ``[T, B, dim, h, w]`` after the embedding and after each block."""
        out = [self.embed(self.encode(x))]
        for block in self.blocks:
            out.append(block(out[-1]))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.features(x)[-1]
        return self.head(self.act(u).mean((3, 4))).mean(0)
