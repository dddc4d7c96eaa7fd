"""Spiking self-attention without softmax, and an exact count of its arithmetic.

Two mechanisms, each a pure function on spike tensors plus a thin module that makes the spikes:

- **SSA** (Spikformer, Zhou et al. 2023/2024): ``SSA(Q, K, V) = Q K^T V * s``. With binary
  ``Q``, ``K``, ``V`` the map ``Q K^T`` counts coinciding spikes (AND + pop-count), so it is a
  non-negative integer and needs no softmax; ``(Q K^T) V`` adds integer rows selected by spikes.
  The constant scale ``s`` folds into the next neuron's threshold (``s A > v_th`` iff
  ``A > v_th / s``). Cost quadratic in the number of tokens ``N``.
- **SDSA** (Spike-driven Transformer, Yao et al. 2023/2024). Variant 1 (V1 paper):
  ``SN(sum_tokens(Q * K)) * V`` - a Hadamard product of spikes (AND), a column sum over tokens
  (additions), a spike, and a mask on ``V``: no multiplications, cost linear in ``N``.
  Variant 3 (Meta-SpikeFormer): ``Q (K^T V) * s``, linear attention on spikes, ``O(N d^2)``.

Shapes are time-first: tokens ``[T, B, N, D]``; per-head tensors ``[..., N, d]``. The op counts
(:class:`OpCount`) are exact for the given tensors: an event-driven implementation adds one row of
the other operand per spike of a binary operand (``nnz x width`` additions); a product with no
binary operand costs dense multiply-accumulates. ``snnkit.hw.count_ops`` prices the synaptic
layers (``nn.Linear``/``nn.Conv``); these attention products have no weights, so modules here
count them themselves while ``counting`` is set (see :func:`attention_ops`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..neurons import LIF
from .attention import scaled_dot_product


@dataclass
class OpCount:
    """Arithmetic of attention products: ``acs`` additions (accumulates), ``macs``
    multiply-accumulates, ``nonlinear`` exponentials and divisions (softmax), ``logic`` bitwise
    ANDs (spike masks; free in the energy model, as in the papers)."""

    acs: float = 0.0
    macs: float = 0.0
    nonlinear: float = 0.0
    logic: float = 0.0

    def __add__(self, other: OpCount) -> OpCount:
        return OpCount(self.acs + other.acs, self.macs + other.macs,
                       self.nonlinear + other.nonlinear, self.logic + other.logic)

    def __truediv__(self, n: float) -> OpCount:
        return OpCount(self.acs / n, self.macs / n, self.nonlinear / n, self.logic / n)

    @property
    def multiplications(self) -> float:
        """Operations beyond additions and logic: one per MAC, exponential or division."""
        return self.macs + self.nonlinear

    def compute_pj(self, e_mac: float = 4.6, e_ac: float = 0.9) -> float:
        """Energy of the MACs and ACs (pJ), 45 nm float32 figures by default (Horowitz 2014)."""
        return self.macs * e_mac + self.acs * e_ac


def is_binary(x: torch.Tensor) -> bool:
    """True if every element of ``x`` is 0 or 1 (a spike tensor)."""
    return bool(((x == 0) | (x == 1)).all())


def matmul_ops(a: torch.Tensor, b: torch.Tensor) -> OpCount:
    """Exact cost of ``a @ b`` for ``a`` ``[..., N, K]`` and ``b`` ``[..., K, M]``.

    A binary ``a`` costs ``nnz(a) * M`` additions (each spike adds one row of ``b``); else a
    binary ``b`` costs ``nnz(b) * N``; otherwise ``N K M`` MACs per matrix.
    """
    n, m = a.shape[-2], b.shape[-1]
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]).numel()
    if is_binary(a):       # each element of ``a`` is used batch / (its own batch) times
        return OpCount(acs=float((a != 0).sum()) * m * batch / a.shape[:-2].numel())
    if is_binary(b):
        return OpCount(acs=float((b != 0).sum()) * n * batch / b.shape[:-2].numel())
    return OpCount(macs=float(batch * n * a.shape[-1] * m))


# ----------------------------------------------------------------------------- pure functions


def ssa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float = 0.125,
        return_map: bool = False):
    """Spiking self-attention ``(Q K^T) V * scale`` without softmax.

    ``q``, ``k``, ``v``: spikes ``[..., N, d]``. Returns ``[..., N, d]`` (and the map
    ``Q K^T`` ``[..., N, N]``, non-negative integers for spike inputs).
    """
    attn = q @ k.transpose(-2, -1)
    out = attn @ v * scale
    return (out, attn) if return_map else out


def ssa_integer(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``Q K^T V`` computed the way spiking hardware would: no multiplication anywhere.

    ``Q K^T`` is an AND followed by a pop-count; ``(Q K^T) V`` sums, for every output, the
    integers ``A[i, j]`` of the tokens ``j`` whose value spikes. Inputs are 0/1 tensors
    ``[..., N, d]``; returns int64 ``[..., N, d]`` (unscaled).
    """
    q, k, v = q.bool(), k.bool(), v.bool()
    attn = (q.unsqueeze(-2) & k.unsqueeze(-3)).sum(-1)                       # [..., N, N]
    picked = torch.where(v.unsqueeze(-3), attn.unsqueeze(-1), 0)             # [..., N, N, d]
    return picked.sum(-2)


def ssa_ops(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> OpCount:
    """Exact op count of :func:`ssa` (the scale is folded into the next threshold: free)."""
    attn = q @ k.transpose(-2, -1)
    return matmul_ops(q, k.transpose(-2, -1)) + matmul_ops(attn, v)


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Vanilla attention ``softmax(Q K^T / sqrt(d)) V`` on ``[..., N, d]`` (for comparison)."""
    return scaled_dot_product(q, k, v)


def softmax_attention_ops(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> OpCount:
    """Op count of :func:`softmax_attention`: two products (priced by :func:`matmul_ops`, so
    MACs for real inputs) plus one exponential and one division per map entry."""
    attn = q @ k.transpose(-2, -1)
    n_map = float(attn.numel())
    return (matmul_ops(q, k.transpose(-2, -1)) + matmul_ops(attn.softmax(-1), v)
            + OpCount(nonlinear=2 * n_map, macs=n_map))       # 1/sqrt(d): one multiply each


def sdsa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
         spike: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Spike-driven self-attention, variant 1: ``spike(sum_tokens(Q * K)) * V``.

    ``q``, ``k``, ``v``: spikes ``[T, ..., N, d]``; ``spike`` maps the column sums
    ``[T, ..., 1, d]`` (integer counts) to spikes (a neuron, time-first). Returns
    ``[T, ..., N, d]``: ``V`` masked channel-wise.
    """
    return spike((q * k).sum(-2, keepdim=True)) * v


def sdsa_ops(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> OpCount:
    """Exact op count of :func:`sdsa`: ``Q * K`` is an AND when both are spikes (a MAC per
    element with the column sum otherwise), the column sum adds the surviving spikes, and the
    spike gate masks ``V`` (a selection, whatever ``V`` holds)."""
    n_qk, n_v = float(q.numel()), float(v.numel())
    if is_binary(q) and is_binary(k):
        count = OpCount(acs=float(((q != 0) & (k != 0)).sum()), logic=n_qk)
    else:
        count = OpCount(macs=n_qk)
    return count + OpCount(logic=n_v)


def sdsa_linear(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                scale: float = 0.125) -> torch.Tensor:
    """Spike-driven self-attention, variant 3 (Meta-SpikeFormer): ``Q (K^T V) * scale``.

    ``K^T V`` ``[..., d, d]`` counts coincident spikes of key and value channels over tokens; the
    cost is ``O(N d^2)``, linear in the number of tokens ``N``. Shapes ``[..., N, d]``.
    """
    return q @ (k.transpose(-2, -1) @ v) * scale


def sdsa_linear_ops(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> OpCount:
    """Exact op count of :func:`sdsa_linear` (scale folded into the next threshold)."""
    kv = k.transpose(-2, -1) @ v
    return matmul_ops(k.transpose(-2, -1), v) + matmul_ops(q, kv)


def fold_threshold(threshold: float, scale: float) -> float:
    """The threshold that makes a neuron on ``A`` fire exactly when one on ``scale * A`` would."""
    return threshold / scale


# ----------------------------------------------------------------------------- modules


def batch_norm_tokens(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """Apply ``BatchNorm1d(D)`` to tokens ``[..., D]`` (statistics over all other dims)."""
    return bn(x.reshape(-1, x.shape[-1])).view_as(x)


class LinearBNSpike(nn.Module):
    """``LIF(BN(x W))`` on tokens: ``[T, B, N, d_in]`` -> spikes ``[T, B, N, d_out]``.

    ``spiking=False`` drops the neuron (the layer returns the normalised currents).
    """

    def __init__(self, d_in: int, d_out: int, beta: float = 0.5, threshold: float = 1.0,
                 spiking: bool = True):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=False)
        self.bn = nn.BatchNorm1d(d_out)
        self.lif = LIF(beta, threshold, reset="zero") if spiking else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = batch_norm_tokens(self.bn, self.linear(x))
        return x if self.lif is None else self.lif(x)[0]


class _Counted(nn.Module):
    """A module that adds the :class:`OpCount` of its products to ``self.ops`` while
    ``self.counting`` is set (:func:`attention_ops` switches it)."""

    def __init__(self):
        super().__init__()
        self.counting = False
        self.ops = OpCount()

    def _count(self, fn, *tensors) -> None:
        if self.counting:
            self.ops = self.ops + fn(*(t.detach() for t in tensors))


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[T, B, N, D]`` -> ``[T, B, heads, N, D/heads]``."""
    T, B, N, D = x.shape
    return x.view(T, B, N, heads, D // heads).transpose(2, 3)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, heads, N, d]`` -> ``[T, B, N, heads * d]``."""
    T, B, H, N, d = x.shape
    return x.transpose(2, 3).reshape(T, B, N, H * d)


class SSA(_Counted):
    """Spikformer's spiking self-attention on spike tokens ``[T, B, N, dim]`` -> spikes.

    ``Q, K, V = LIF(BN(X W))``; ``LIF_attn(Q K^T V * scale)`` with threshold ``attn_threshold``;
    then ``LIF(BN(Linear(.)))``. ``scale=0.125`` as the paper's code (not ``d**-0.5``). Set
    ``keep_map`` to store the last map ``Q K^T`` ``[T, B, heads, N, N]`` in ``self.map``.
    """

    def __init__(self, dim: int, heads: int = 4, scale: float = 0.125,
                 attn_threshold: float = 0.5, beta: float = 0.5):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.scale = heads, scale
        self.q, self.k, self.v = (LinearBNSpike(dim, dim, beta) for _ in range(3))
        self.attn_lif = LIF(beta, attn_threshold, reset="zero")
        self.proj = LinearBNSpike(dim, dim, beta)
        self.keep_map = False
        self.map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads(f(x), self.heads) for f in (self.q, self.k, self.v))
        out, attn = ssa(q, k, v, self.scale, return_map=True)
        self._count(ssa_ops, q, k, v)
        self.map = attn.detach() if self.keep_map else None
        return self.proj(self.attn_lif(_merge(out))[0])


class SDSA(_Counted):
    """Spike-driven self-attention on membrane tokens ``[T, B, N, dim]`` -> currents, same shape.

    The input is a membrane potential (real); a neuron turns it into spikes first, so every
    projection receives spikes. ``Q, K, V = LIF(BN(S W))``; ``variant=1``:
    ``LIF_attn(sum_tokens(Q * K)) * V``; ``variant=3``: ``LIF_attn(Q (K^T V) * scale)``; then
    ``BN(Linear(.))`` (no neuron: the output joins the membrane shortcut).
    """

    def __init__(self, dim: int, heads: int = 4, variant: int = 3, scale: float = 0.125,
                 attn_threshold: float = 0.5, beta: float = 0.5):
        super().__init__()
        if variant not in (1, 3):
            raise ValueError(f"variant must be 1 or 3, got {variant!r}")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.variant, self.scale = heads, variant, scale
        self.head_lif = LIF(beta, 1.0, reset="zero")
        self.q, self.k, self.v = (LinearBNSpike(dim, dim, beta) for _ in range(3))
        self.attn_lif = LIF(beta, attn_threshold, reset="zero")
        self.proj = LinearBNSpike(dim, dim, spiking=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        s = self.head_lif(u)[0]
        q, k, v = (_heads(f(s), self.heads) for f in (self.q, self.k, self.v))
        if self.variant == 1:
            out = sdsa(q, k, v, lambda c: self.attn_lif(c)[0])
            self._count(sdsa_ops, q, k, v)
        else:
            out = self.attn_lif(sdsa_linear(q, k, v, self.scale))[0]
            self._count(sdsa_linear_ops, q, k, v)
        return self.proj(_merge(out))


class SoftmaxAttention(_Counted):
    """The ANN counterpart: ``softmax(Q K^T / sqrt(d)) V`` on real tokens ``[T, B, N, dim]``
    (``T = 1`` for an ANN), ``Q, K, V = BN(X W)``, output ``BN(Linear(.))``."""

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.q, self.k, self.v = (LinearBNSpike(dim, dim, spiking=False) for _ in range(3))
        self.proj = LinearBNSpike(dim, dim, spiking=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads(f(x), self.heads) for f in (self.q, self.k, self.v))
        self._count(softmax_attention_ops, q, k, v)
        return self.proj(_merge(softmax_attention(q, k, v)))


def attention_ops(model: nn.Module, *inputs, samples: int) -> OpCount:
    """Run ``model(*inputs)`` once without gradients and return the summed :class:`OpCount` of
    its attention products, per sample (add it to ``snnkit.hw.count_ops`` for the whole model)."""
    counted = [m for m in model.modules() if isinstance(m, _Counted)]
    for m in counted:
        m.counting, m.ops = True, OpCount()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for m in counted:
            m.counting = False
    total = OpCount()
    for m in counted:
        total = total + m.ops
    return total / samples
