"""Low-bit weights and multi-bit spikes (Qiu et al., Quantized Spike-driven Transformer, ICLR 2025).

Weights: learned step-size quantisation (LSQ, Esser et al., ICLR 2020). A weight tensor ``W`` with
a per-output-channel step ``alpha`` becomes ``W_q = alpha * clamp(round(W / alpha), Qn, Qp)``
with ``Qn = -2^(b-1)``, ``Qp = 2^(b-1) - 1`` for ``b`` bits. Rounding passes the gradient straight
through (STE); ``alpha``'s gradient is scaled by ``1 / sqrt(numel(W) * Qp)``. Stored as ``b``-bit
integers (plus one float step per output channel), the weights take ``b/32`` of their float size.

Spikes: an information-enhanced LIF neuron (:class:`IELIF`) emits integer spikes
``s = round(clamp(D * u, 0, D))`` in ``{0, ..., D}`` during training. At inference an integer
spike is ``D`` binary spikes over ``D`` virtual time steps (:func:`spike_planes`), so a synaptic
layer still only adds weights: ``W s = sum_d W b_d`` exactly (:func:`spike_driven`).

Distillation: :func:`fgd_loss` aligns a student's attention features (queries, keys, values,
attention output) with a full-precision teacher's, through their token-similarity matrices.
:func:`spike_entropy` measures the information a spike tensor can carry (bits per element).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

FLOAT_BITS = 32


# ---------------------------------------------------------------- weights: LSQ

def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` in the forward pass, identity in the backward pass (straight-through)."""
    return x + (x.round() - x).detach()


def grad_scale(x: torch.Tensor, g: float) -> torch.Tensor:
    """``x`` in the forward pass, its gradient multiplied by ``g`` in the backward pass."""
    return (x - x * g).detach() + x * g


def qrange(bits: int) -> tuple[int, int]:
    """The signed integer range ``(Qn, Qp) = (-2^(b-1), 2^(b-1) - 1)`` of ``bits``-bit weights."""
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"weight bits must be an int in 2..16 (or 32 for float), got {bits!r}")
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def lsq_init(w: torch.Tensor, bits: int) -> torch.Tensor:
    """LSQ's initial step size for ``w``: ``2 mean|w| / sqrt(Qp)`` (a scalar tensor)."""
    return 2 * w.detach().abs().mean() / math.sqrt(qrange(bits)[1])


def lsq_quantize(w: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """Fake-quantise ``w`` to ``bits`` bits with step ``alpha`` (broadcastable to ``w``, e.g.
    ``[out, 1]`` per output channel). Returns ``alpha * clamp(round(w / alpha), Qn, Qp)``, same
    shape as ``w``, differentiable in ``w`` (STE) and ``alpha`` (LSQ)."""
    qn, qp = qrange(bits)
    a = grad_scale(alpha, 1.0 / math.sqrt(w.numel() * qp))
    return round_ste((w / a).clamp(qn, qp)) * a


class _Quantised:
    """Mixin for a layer whose ``weight`` is quantised to ``bits`` bits with a per-channel step.

    The step ``alpha`` is initialised from the weights on the first forward call (any mode; LSQ's
    reference code waits for the first *training* call, which leaves ``alpha`` unset if one
    evaluates first)."""

    bits: int

    def _init_quant(self, bits: int) -> None:
        qrange(bits)
        self.bits = bits
        shape = (self.weight.shape[0],) + (1,) * (self.weight.dim() - 1)
        self.alpha = nn.Parameter(torch.ones(shape))
        self.register_buffer("initialised", torch.tensor(False))
        self._ready = False

    def quantised_weight(self) -> torch.Tensor:
        """The weight as used in the forward pass: ``alpha * integer_weight()``."""
        if not self._ready:                     # a Python flag: no tensor sync per call
            if not self.initialised:
                with torch.no_grad():
                    self.alpha.fill_(lsq_init(self.weight, self.bits).item())
                    self.initialised.fill_(True)
            self._ready = True
        return lsq_quantize(self.weight, self.alpha, self.bits)

    @torch.no_grad()
    def integer_weight(self) -> torch.Tensor:
        """The stored ``bits``-bit integers (int64 tensor, same shape as ``weight``)."""
        w = self.quantised_weight()
        return torch.round(w / self.alpha).long()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", bits={self.bits}"


class QuantLinear(_Quantised, nn.Linear):
    """``nn.Linear`` with ``bits``-bit LSQ weights (bias kept in float)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bits: int = 4):
        super().__init__(in_features, out_features, bias)
        self._init_quant(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantised_weight(), self.bias)


class QuantConv2d(_Quantised, nn.Conv2d):
    """``nn.Conv2d`` with ``bits``-bit LSQ weights (bias kept in float)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, bits: int = 4):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias)
        self._init_quant(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.quantised_weight(), self.bias)


def linear(in_features: int, out_features: int, bias: bool = True, bits: int = FLOAT_BITS):
    """A float ``nn.Linear`` for ``bits == 32``, else a :class:`QuantLinear`."""
    if bits == FLOAT_BITS:
        return nn.Linear(in_features, out_features, bias)
    return QuantLinear(in_features, out_features, bias, bits)


def conv2d(in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
           bias: bool = True, bits: int = FLOAT_BITS):
    """A float ``nn.Conv2d`` for ``bits == 32``, else a :class:`QuantConv2d`."""
    if bits == FLOAT_BITS:
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
    return QuantConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias,
                       bits=bits)


def model_size_bits(model: nn.Module) -> dict[str, int]:
    """Storage of ``model``'s parameters, in bits.

    ``quantised``: the weights of quantised layers at their bit width; ``float``: every other
    parameter (biases, norms, the steps ``alpha``) at 32 bits; ``total`` = the two;
    ``quantised_as_float``: the quantised layers' weights at 32 bits (what they took before
    quantisation). Buffers (running statistics) are not counted.
    """
    quantised = as_float = 0
    skip = set()
    for module in model.modules():
        if isinstance(module, _Quantised):
            quantised += module.weight.numel() * module.bits
            as_float += module.weight.numel() * FLOAT_BITS
            skip.add(id(module.weight))
    other = sum(p.numel() for p in model.parameters() if id(p) not in skip) * FLOAT_BITS
    return {"quantised": quantised, "float": other, "total": quantised + other,
            "quantised_as_float": as_float}


# ---------------------------------------------------------------- multi-bit spikes

class _IntegerSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: torch.Tensor, D: int) -> torch.Tensor:
        x = u * D
        ctx.save_for_backward((x > 0) & (x < D))
        ctx.D = D
        return torch.floor(x.clamp(0, D) + 0.5)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (window,) = ctx.saved_tensors
        return grad * window * ctx.D, None


def integer_spike(u: torch.Tensor, D: int) -> torch.Tensor:
    """Integer spike counts ``floor(clamp(D u, 0, D) + 1/2)`` in ``{0, ..., D}`` (float tensor,
    same shape as ``u``). Backward: ``d s / d u = D`` where ``0 < D u < D``, else 0."""
    if not isinstance(D, int) or D < 1:
        raise ValueError(f"D (spike levels) must be a positive int, got {D!r}")
    return _IntegerSpike.apply(u, D)


def spike_planes(counts: torch.Tensor, D: int) -> torch.Tensor:
    """Split integer spike counts ``[...]`` in ``{0..D}`` into ``D`` binary planes ``[D, ...]``:
    plane ``d`` (1-based) spikes where ``count >= d``, so the planes sum to the counts. Each
    plane is one virtual time step of a binary spiking neuron."""
    if not bool(((counts >= 0) & (counts <= D) & (counts == counts.round())).all()):
        raise ValueError(f"counts must be integers in [0, {D}]")
    levels = torch.arange(1, D + 1, device=counts.device, dtype=counts.dtype)
    return (counts.unsqueeze(0) >= levels.view(D, *([1] * counts.dim()))).to(counts.dtype)


def effective_weight(layer: nn.Module) -> torch.Tensor:
    """The weight a layer multiplies with: quantised for :class:`QuantLinear`/``QuantConv2d``."""
    return layer.quantised_weight() if isinstance(layer, _Quantised) else layer.weight


def spike_driven(layer: nn.Module, spikes: torch.Tensor, D: int,
                 scale: float | None = None) -> torch.Tensor:
    """Apply a linear or conv ``layer`` to multi-bit spikes as a spike-driven chip would: split
    ``spikes = scale * counts`` (``scale`` default ``1/D``) into ``D`` binary planes, run the
    bias-free layer on each (additions only), sum, rescale, add the bias. Equals
    ``layer(spikes)`` up to float rounding."""
    scale = 1.0 / D if scale is None else scale
    planes = spike_planes(torch.round(spikes / scale), D)
    w = effective_weight(layer)
    if isinstance(layer, nn.Linear):
        out = sum(F.linear(p, w) for p in planes)
    elif isinstance(layer, nn.Conv2d):
        out = sum(F.conv2d(p, w, None, layer.stride, layer.padding, layer.dilation,
                           layer.groups) for p in planes)
    else:
        raise TypeError(f"spike_driven needs nn.Linear or nn.Conv2d, got {type(layer).__name__}")
    out = out * scale
    if layer.bias is not None:
        shape = (-1,) if isinstance(layer, nn.Linear) else (-1, 1, 1)
        out = out + layer.bias.view(shape)
    return out


class IELIF(nn.Module):
    """Information-enhanced LIF (QSD-Transformer): multi-bit integer spikes while training, ``D``
    binary spikes per step at inference.

    Per step ``t`` on ``[B, ...]``::

        h[t] = beta * (h[t-1] - s[t-1]) + r(x[t])        # soft reset by the amount emitted
        s[t] = out_scale * round(clamp(D h[t], 0, D))     # s in {0, 1/D, ..., 1} * (D out_scale)

    ``r`` is the *rectification*: with ``rectify=True`` a per-channel standardisation with learned
    affine (batch statistics in training, running statistics at inference, where it folds into
    the preceding layer's weights). It spreads the membrane over the ``D`` spike levels, raising
    the entropy of the spikes (our reading of the paper's membrane rectification; the released
    code has no such step). ``channel_dim`` indexes the channel axis of one step's ``[B, ...]``.

    ``forward(x)``: ``x`` ``[T, B, ...]``. Returns ``(spikes, membrane)``, both ``[T, B, ...]``.
    """

    emits_spikes = True  # count_ops prices this module as neurons

    def __init__(self, D: int = 4, beta: float = 0.5, rectify: bool = False,
                 num_features: int | None = None, channel_dim: int = -1,
                 out_scale: float | None = None):
        super().__init__()
        integer_spike(torch.zeros(1), D)    # validates D
        if not 0 < beta <= 1:
            raise ValueError(f"beta must be in (0, 1], got {beta}")
        if rectify and num_features is None:
            raise ValueError("rectify=True needs num_features (channels)")
        self.D, self.beta, self.channel_dim = D, beta, channel_dim
        self.out_scale = 1.0 / D if out_scale is None else out_scale
        self.norm = nn.BatchNorm1d(num_features) if rectify else None

    def rectify(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise ``x`` ``[T, B, ...]`` per channel (identity without ``rectify``)."""
        if self.norm is None:
            return x
        dim = self.channel_dim % (x.dim() - 1) + 1
        moved = x.movedim(dim, -1)
        out = self.norm(moved.reshape(-1, moved.shape[-1])).view(moved.shape)
        return out.movedim(-1, dim)

    def forward(self, x: torch.Tensor):
        x = self.rectify(x)
        h = s_prev = None                                 # at rest
        spikes, mems = [], []
        for t in range(x.shape[0]):
            h = x[t] if h is None else self.beta * (h - s_prev) + x[t]
            counts = integer_spike(h, self.D)
            s_prev = counts / self.D
            spikes.append(counts * self.out_scale)
            mems.append(h)
        return torch.stack(spikes), torch.stack(mems)

    def extra_repr(self) -> str:
        return (f"D={self.D}, beta={self.beta}, rectify={self.norm is not None}, "
                f"out_scale={self.out_scale:.4g}")


# ---------------------------------------------------------------- information and distillation

def spike_entropy(x: torch.Tensor) -> float:
    """Shannon entropy (bits) of the distribution of values in ``x``, pooled over all elements:
    at most 1 for binary spikes, ``log2(D + 1)`` for ``D``-level integer spikes."""
    _, counts = torch.unique(x.detach().flatten(), return_counts=True)
    p = counts.double() / counts.sum()
    return float(-(p * p.log2()).sum())


def similarity(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Token-similarity matrix ``G = X X^T`` divided by its Frobenius norm: ``[..., N, C]`` ->
    ``[..., N, N]``. Invariant to the overall scale of ``x``, so a spiking student and a float
    teacher can be compared; a silent sample (``X = 0``) gives zeros and zero gradient (rows
    normalised one by one would blow up the gradient of every silent token)."""
    g = x @ x.transpose(-2, -1)
    return g / (g.square().sum((-2, -1), keepdim=True) + eps).sqrt()


def fgd_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """Fine-grained distillation: sum over the shared keys (e.g. ``q, k, v, out``) of the squared
    Frobenius distance between :func:`similarity` matrices, averaged over the batch (each term in
    ``[0, 4]``). Features are ``[B, N, C]`` (average a student's time steps first); the
    teacher's are detached."""
    keys = sorted(student.keys() & teacher.keys())
    if not keys:
        raise ValueError("student and teacher share no feature names")
    return sum((similarity(student[k]) - similarity(teacher[k].detach())).square().sum((-2, -1))
               .mean() for k in keys)
