"""Delta activations: training a frame-by-frame network for temporal sparsity (Yousefzadeh &
Sifalakis, 2021, arXiv:2107.07305).

A network that sees a video one frame at a time recomputes almost the same activations every
frame. *Delta inference* sends only the change: after a quantiser ``q``, a layer passes
``delta_t = q(a_t) - q(a_{t-1})`` (``q(a_{-1}) = 0``) and the next linear layer keeps an
accumulator ``z_t = z_{t-1} + W delta_t``, which equals ``W q(a_t)`` by linearity. Its work is one
multiply-accumulate per non-zero entry of ``delta`` per output it reaches, so the cost follows
the *temporal* sparsity of the activations.

The :class:`DeltaActivation` layer makes training aware of it:

- it quantises with a learnable step ``theta`` (per channel, per neuron or per layer):
  ``q(a) = theta * round(a / theta)``, a straight-through estimator for ``round``; ``theta``
  gets its gradient only through the multiplicative path, *negated* (the official code's trick:
  the L1 of the deltas would otherwise shrink ``theta``, making more, smaller deltas; negated,
  it grows ``theta`` and makes fewer). ``theta = 0`` is no quantiser at all;
- it adds the sparsity loss ``lam * fan_out * mean|delta|`` (``fan_out``: the MACs one non-zero
  entry costs in the next layer, so costly layers are pushed harder);
- ``sigma=True`` first integrates its input over time (a cumulative sum), the way an event
  camera's changes add up to an image.

:class:`L1Activation` is the spatial baseline: the same loss on the activations themselves.

Shapes are time-first: sequences ``[T, B, ...]``. :class:`FrameNet` runs a stack of per-frame
layers on every frame and lets the delta layers see the whole sequence; :func:`delta_inference`
runs the same network frame by frame on deltas, with accumulators, and counts the MACs it
executes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

GRANULARITIES = ("channel", "neuron", "layer")


# ---------------------------------------------------------------- pure functions

class _Quantise(torch.autograd.Function):
    """``theta * round(a / theta)`` (``a`` where ``theta == 0``); straight-through for ``a``,
    negated multiplicative-path gradient ``-round(a / theta)`` for ``theta``."""

    @staticmethod
    def forward(ctx, a, theta):
        on = theta > 0
        ctx.theta_shape = theta.shape
        if bool(on.all()):
            k = torch.round(a / theta)
            ctx.save_for_backward(k)
            return k * theta
        k = torch.round(a / torch.where(on, theta, torch.ones_like(theta))) * on
        ctx.save_for_backward(k)
        return torch.where(on, k * theta, a)

    @staticmethod
    def backward(ctx, grad):
        (k,) = ctx.saved_tensors               # zero where theta == 0
        return grad, (-(grad * k)).sum_to_size(ctx.theta_shape)


def quantise(a: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``theta * round(a / theta)`` with ``theta >= 0`` broadcast against ``a``; ``theta = 0``
    leaves ``a`` unchanged. Gradients: see :class:`DeltaActivation`."""
    theta = torch.as_tensor(theta, dtype=a.dtype, device=a.device)
    if not theta.requires_grad and not bool((theta > 0).any()):
        return a
    return _Quantise.apply(a, theta)


def temporal_delta(q: torch.Tensor) -> torch.Tensor:
    """``delta_t = q_t - q_{t-1}`` along the first (time) axis, with ``q_{-1} = 0``: what a
    delta layer sends. ``[T, ...] -> [T, ...]``; ``delta.cumsum(0)`` gives ``q`` back."""
    return torch.cat([q[:1], q[1:] - q[:-1]])


def nonzero_rate(x: torch.Tensor) -> float:
    """Fraction of non-zero entries of ``x``."""
    return float((x != 0).sum()) / x.numel()


def temporal_sparsity(q: torch.Tensor) -> float:
    """Fraction of zero entries of :func:`temporal_delta` ``(q)``: the share of a delta layer's
    messages that are never sent (``q``: ``[T, ...]``)."""
    return 1.0 - nonzero_rate(temporal_delta(q))


def spatial_sparsity(q: torch.Tensor) -> float:
    """Fraction of zero entries of ``q`` itself (what a dense, zero-skipping engine skips)."""
    return 1.0 - nonzero_rate(q)


# ---------------------------------------------------------------- layers

class DeltaActivation(nn.Module):
    """Quantise, measure the temporal deltas and hold their sparsity loss.

    Args:
        shape: one frame's activation shape, channels first (``(C, H, W)`` or ``(C,)``).
        granularity: one step ``theta`` per ``"channel"``, ``"neuron"`` or ``"layer"``.
        thr_init: initial ``theta`` (0: no quantiser, delta inference then equals dense).
        learn_thr: train ``theta`` (``|theta|`` is used).
        lam: weight of the sparsity loss; ``fan_out``: its multiplier (MACs per non-zero entry
            in the next layer; see :meth:`FrameNet.set_fan_out`).
        sigma: integrate the input over time first.

    ``forward(a)``: ``[T, B, *shape] -> q(a)`` of the same shape. After each call with
    ``lam > 0``, ``loss`` holds ``lam * fan_out * mean|delta|`` (a tensor in the graph); in eval
    mode ``nnz`` and ``numel`` count the deltas' non-zero entries and all entries (including
    frame 0, sent from zero).
    """

    def __init__(self, shape, granularity="channel", thr_init=0.1, learn_thr=True, lam=0.0,
                 fan_out=1.0, sigma=False):
        super().__init__()
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        shape = tuple(shape)
        size = {"channel": (shape[0],) + (1,) * (len(shape) - 1), "neuron": shape,
                "layer": (1,) * len(shape)}[granularity]
        self.theta = nn.Parameter(torch.full(size, float(thr_init)), requires_grad=learn_thr)
        self.shape, self.granularity = shape, granularity
        self.lam, self.fan_out, self.sigma = lam, float(fan_out), sigma
        self.loss = torch.zeros(())
        self.nnz, self.numel = 0, 0

    def __getstate__(self):
        state = dict(self.__dict__)
        state["loss"] = state["loss"].detach()        # copies and pickles carry no graph
        return state

    def step_size(self) -> torch.Tensor:
        """The quantisation step in use, ``|theta|``."""
        return self.theta.abs()

    def integrate(self, a: torch.Tensor) -> torch.Tensor:
        return a.cumsum(0) if self.sigma else a

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        q = quantise(self.integrate(a), self.step_size())
        if self.lam:
            l1 = q[0].abs().sum() + (q[1:] - q[:-1]).abs().sum()
            self.loss = self.lam * self.fan_out * l1 / q.numel()
        if not self.training:
            self.nnz, self.numel = int((temporal_delta(q) != 0).sum()), q.numel()
        return q

    def extra_repr(self) -> str:
        return (f"shape={self.shape}, granularity={self.granularity!r}, lam={self.lam}, "
                f"fan_out={self.fan_out:g}, sigma={self.sigma}")


class L1Activation(nn.Module):
    """The spatial-sparsity baseline: identity, with ``loss = lam * fan_out * mean|a|`` (when
    ``lam > 0``) and, in eval mode, the non-zero counts of ``a`` itself (not of its deltas)."""

    def __init__(self, lam=0.0, fan_out=1.0):
        super().__init__()
        self.lam, self.fan_out = lam, float(fan_out)
        self.loss = torch.zeros(())
        self.nnz, self.numel = 0, 0

    __getstate__ = DeltaActivation.__getstate__

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.lam:
            self.loss = self.lam * self.fan_out * a.abs().mean()
        if not self.training:
            self.nnz, self.numel = int((a != 0).sum()), a.numel()
        return a

    def extra_repr(self) -> str:
        return f"lam={self.lam}, fan_out={self.fan_out:g}"


def _sparsity_layers(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, (DeltaActivation, L1Activation))]


def set_lam(model: nn.Module, delta: float | None = None, l1: float | None = None) -> nn.Module:
    """Set the loss weight of every :class:`DeltaActivation` (``delta``) and
    :class:`L1Activation` (``l1``); ``None`` leaves them. Returns ``model``."""
    for m in model.modules():
        if isinstance(m, DeltaActivation) and delta is not None:
            m.lam = delta
        elif isinstance(m, L1Activation) and l1 is not None:
            m.lam = l1
    return model


def sparsity_loss(model: nn.Module) -> torch.Tensor:
    """Sum of the sparsity losses of the model's delta/L1 layers from its last forward pass."""
    return sum((m.loss for m in _sparsity_layers(model)), torch.zeros(()))


def nonzero_delta_rate(model: nn.Module, include_sigma: bool = False) -> float:
    """Non-zero deltas / all deltas over the model's delta layers in its last forward pass
    (layers that integrate their input, ``sigma=True``, only with ``include_sigma``)."""
    layers = [m for m in model.modules()
              if isinstance(m, DeltaActivation) and (include_sigma or not m.sigma)]
    total = sum(m.numel for m in layers)
    return sum(m.nnz for m in layers) / total if total else 0.0


# ---------------------------------------------------------------- a per-frame network

SYNAPTIC = (nn.Linear, nn.Conv2d)
DELTA_SAFE = (nn.Flatten, nn.Identity)      # linear maps that may act on a delta stream


class FrameNet(nn.Module):
    """A per-frame network for frame sequences.

    ``layers`` run on every frame (``[T * B, ...]``); :class:`DeltaActivation` and
    :class:`L1Activation` layers see ``[T, B, ...]``. ``frames(x)``: ``[T, B, ...]`` ->
    per-frame outputs ``[T, B, out]``; ``forward(x)`` returns their time mean ``[B, out]``
    (the clip's logits).
    """

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        h = x.flatten(0, 1)
        for m in self.layers:
            if isinstance(m, (DeltaActivation, L1Activation)):
                h = m(h.unflatten(0, (T, B))).flatten(0, 1)
            else:
                h = m(h)
        return h.unflatten(0, (T, B))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.frames(x).mean(0)

    @torch.no_grad()
    def set_fan_out(self, frame_shape) -> dict[str, float]:
        """Set every delta/L1 layer's ``fan_out`` to the MACs that one of its entries costs in
        the next synaptic layer (that layer's dense MACs / its input size), from one dummy
        frame of ``frame_shape``. Returns ``{layer index: fan_out}``."""
        h = torch.zeros(1, *frame_shape, device=next(self.parameters()).device)
        pending, fan = [], {}
        for i, m in enumerate(self.layers):
            if isinstance(m, (DeltaActivation, L1Activation)):
                pending.append((i, m))
                continue
            out = m(h)
            if isinstance(m, SYNAPTIC):
                for j, layer in pending:
                    layer.fan_out = fan[str(j)] = dense_macs(m, out) / h.numel()
                pending = []
            h = out
        return fan


def dense_macs(layer: nn.Module, out: torch.Tensor) -> int:
    """Dense multiply-accumulates of one call of a linear or conv layer with output ``out``."""
    if isinstance(layer, nn.Linear):
        return out.numel() * layer.in_features
    fan_in = layer.in_channels // layer.groups * math.prod(layer.kernel_size)
    return out.numel() * fan_in


def _executed_macs(layer: nn.Module, delta: torch.Tensor) -> int:
    """Exact (non-zero input, weight) pairs of ``layer`` on ``delta``: ``nnz x out_features``
    for a linear layer; for a convolution each non-zero entry times the outputs it reaches
    (borders and strides included)."""
    nz = (delta != 0).to(delta.dtype)
    if isinstance(layer, nn.Linear):
        return int(nz.sum()) * layer.out_features
    ones = torch.ones(layer.groups, layer.in_channels // layer.groups, *layer.kernel_size,
                      dtype=delta.dtype, device=delta.device)
    reached = F.conv2d(nz, ones, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return int(reached.sum()) * layer.out_channels // layer.groups


def _apply(layer: nn.Module, x: torch.Tensor, bias: bool) -> torch.Tensor:
    w = layer.weight.to(x.dtype)
    b = layer.bias.to(x.dtype) if bias and layer.bias is not None else None
    if isinstance(layer, nn.Linear):
        return F.linear(x, w, b)
    return F.conv2d(x, w, b, layer.stride, layer.padding, layer.dilation, layer.groups)


def _bias(layer: nn.Module, dtype) -> torch.Tensor | float:
    if layer.bias is None:
        return 0.0
    b = layer.bias.to(dtype)
    return b if isinstance(layer, nn.Linear) else b[:, None, None]


@torch.no_grad()
def delta_inference(net: FrameNet, x: torch.Tensor, dtype=torch.float64):
    """Run ``net`` frame by frame the delta way.

    Each delta layer sends ``q(a_t) - q(a_{t-1})``; the synaptic layer after it adds ``W delta``
    into an accumulator (bias added on read-out), so only non-zero deltas cost MACs (a zero entry
    adds an exact 0.0, so the dense kernel used here gives a sparse engine's numbers). Synaptic
    layers fed a dense frame (no delta layer before them) cost their dense MACs.

    ``x``: ``[T, B, ...]``. Returns ``(outputs, counts)``: per-frame outputs ``[T, B, out]`` in
    ``dtype`` (equal to ``net.frames(x)`` up to the accumulators' rounding), and per synaptic
    layer (by index) ``{"executed": MACs, "dense": MACs of dense frame-by-frame inference}``,
    summed over frames and batch, plus the totals under ``"total"``.
    """
    T = x.shape[0]
    prev_q, integral, acc = {}, {}, {}
    counts = {str(i): {"executed": 0, "dense": 0}
              for i, m in enumerate(net.layers) if isinstance(m, SYNAPTIC)}
    outs = []
    for t in range(T):
        h, is_delta = x[t].to(dtype), False
        for i, m in enumerate(net.layers):
            if isinstance(m, DeltaActivation):
                if is_delta:
                    raise ValueError(f"layer {i}: a delta layer needs a dense input")
                if m.sigma:
                    integral[i] = integral.get(i, 0) + h
                    h = integral[i]
                q = quantise(h, m.step_size().to(dtype))
                h, prev_q[i], is_delta = q - prev_q.get(i, 0), q, True
            elif isinstance(m, SYNAPTIC):
                c = counts[str(i)]
                if is_delta:
                    acc[i] = acc.get(i, 0) + _apply(m, h, bias=False)
                    c["executed"] += _executed_macs(m, h)
                    out = acc[i] + _bias(m, dtype)
                else:
                    out = _apply(m, h, bias=True)
                    c["executed"] += dense_macs(m, out)
                c["dense"] += dense_macs(m, out)
                h, is_delta = out, False
            elif is_delta and not isinstance(m, DELTA_SAFE + (L1Activation,)):
                raise ValueError(f"layer {i} ({type(m).__name__}) is not linear: put a "
                                 "DeltaActivation after it, not before")
            else:
                h = h if isinstance(m, L1Activation) else m(h)
        outs.append(h)
    counts["total"] = {k: sum(c[k] for c in counts.values()) for k in ("executed", "dense")}
    return torch.stack(outs), counts


def frame_cnn(in_shape=(2, 34, 34), channels=(8, 16), hidden=64, classes=10, thr_init=0.1,
              lam=0.0, granularity="channel", l1=0.0) -> FrameNet:
    """A small per-frame CNN for event-camera clips, with delta layers everywhere:
    integrate the events (``sigma``, no quantiser: the deltas of the integral are the events),
    conv 5x5/2 -> ReLU -> delta, conv 3x3/2 -> ReLU -> delta, linear -> ReLU -> delta, linear
    head. Each hidden delta layer has an :class:`L1Activation` before it (weight ``l1``, the
    spatial baseline; an identity at 0). Fan-outs are set from the shapes
    (:meth:`FrameNet.set_fan_out`); :func:`set_lam` changes the loss weights later."""
    c1, c2 = channels
    h1 = (in_shape[1] - 5) // 2 + 1
    h2 = (h1 - 3) // 2 + 1

    def act(shape):
        return [nn.ReLU(), L1Activation(l1), DeltaActivation(shape, granularity, thr_init, lam=lam)]

    net = FrameNet(
        DeltaActivation(in_shape, "layer", thr_init=0.0, learn_thr=False, sigma=True),
        nn.Conv2d(in_shape[0], c1, 5, stride=2), *act((c1, h1, h1)),
        nn.Conv2d(c1, c2, 3, stride=2), *act((c2, h2, h2)),
        nn.Flatten(), nn.Linear(c2 * h2 * h2, hidden), *act((hidden,)),
        nn.Linear(hidden, classes))
    net.set_fan_out(in_shape)
    return net
