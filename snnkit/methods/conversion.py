"""From ANN to SNN: copy an ANN's weights into its spiking twin, and the parts that make it work.

Two recipes use these pieces:

- **Pre-training as a bridge** (Lin et al., arXiv:2203.01158): train an ANN whose activation,
  the *sharpened ReLU* :class:`SharpenedReLU`, is annealed towards the spike function, copy its
  weights with :func:`transfer` into the LIF network :func:`bridge_snn`, then fine-tune with
  BPTT. :func:`pretrain` runs the annealed ANN training.
- **DIET-SNN / IIR-SNN** (Rathi & Roy; Chowdhury et al., arXiv:2110.05929): a network of
  :class:`DietLIF` neurons with a learned leak and threshold per layer (:class:`DietSNN`),
  initialised from an ANN and given thresholds by :func:`percentile_thresholds`.

Training cost is counted, not timed: :func:`dense_macs` counts one forward pass as a GPU computes
it (every multiply, zeros included), and :func:`time_to_target` reads a cost-accuracy curve.

Parameter names match across twins: :class:`ActivationMLP`, :class:`~snnkit.models.MLP`,
:class:`~snnkit.models.SpikingMLP` and :class:`DietSNN` all keep their linear layers in
``layers``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .. import encoding
from ..functional import Surrogate
from ..hw import count_ops
from ..models import SpikingMLP
from ..train import fit

# ----------------------------------------------------------------------------- weight transfer


def transfer(src: nn.Module, dst: nn.Module, strict: bool = True) -> list[str]:
    """Copy every parameter of ``src`` into the parameter of the same name in ``dst`` (and the
    buffers both have, e.g. batch-norm statistics). Returns the names copied.

    Names and shapes must match for every parameter of ``src``. ``strict=True`` also requires
    ``dst`` to have no parameter that ``src`` lacks; ``strict=False`` leaves those (a spiking
    layer's leak or threshold) as they are.
    """
    src_params, dst_params = dict(src.named_parameters()), dict(dst.named_parameters())
    missing = sorted(set(src_params) - set(dst_params))
    extra = sorted(set(dst_params) - set(src_params))
    if missing:
        raise KeyError(f"transfer: {type(dst).__name__} has no parameters {missing}")
    if strict and extra:
        raise KeyError(f"transfer: {type(src).__name__} has no parameters {extra} "
                       "(strict=False leaves them untouched)")
    src_state, dst_state = src.state_dict(), dst.state_dict()
    names = list(src_params) + [n for n, _ in src.named_buffers() if n in dst_state]
    for name in names:
        if src_state[name].shape != dst_state[name].shape:
            raise ValueError(f"transfer: {name} has shape {tuple(src_state[name].shape)} in "
                             f"{type(src).__name__}, {tuple(dst_state[name].shape)} in "
                             f"{type(dst).__name__}")
    with torch.no_grad():
        for name in names:
            dst_state[name].copy_(src_state[name])
    return names


class ActivationMLP(nn.Module):
    """``Linear -> act -> ... -> Linear``: :class:`~snnkit.models.MLP` with any activation.

    ``act``: a zero-argument callable returning a module (``nn.ReLU``, :class:`SharpenedReLU`).
    ``forward(x)``: ``[B, in]`` -> logits ``[B, out]``.
    """

    def __init__(self, sizes, act: Callable[[], nn.Module] = nn.ReLU):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                      strict=True))
        self.acts = nn.ModuleList(act() for _ in sizes[1:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, act in zip(self.layers[:-1], self.acts, strict=True):
            x = act(layer(x))
        return self.layers[-1](x)


# ------------------------------------------------------------ pre-training as a bridge (Lin et al.)


@dataclass(frozen=True)
class Rectangle(Surrogate):
    """Rectangular surrogate: ``dS/dv = 1[|v| < lens] / (2 lens)`` (unit area)."""

    lens: float = 0.5
    name = "rectangle"

    def derivative_(self, v):
        return torch.lt(v.abs_(), self.lens, out=v).div_(2 * self.lens)


class _Sharpened(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, a, b, v_th, lens):
        ctx.save_for_backward(x)
        ctx.settings = (v_th, lens)
        return ((x - a) / (b - a)).clamp(0, 1)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        v_th, lens = ctx.settings
        return grad * Rectangle(lens).derivative(x - v_th), None, None, None, None


def sharpened_relu(x: torch.Tensor, a: float, b: float, v_th: float = 0.5,
                   lens: float = 0.5) -> torch.Tensor:
    """``clip((x - a) / (b - a), 0, 1)`` forward; the SNN's rectangle surrogate
    ``1[|x - v_th| < lens] / (2 lens)`` backward. Any shape. With ``a, b -> v_th`` it becomes
    the spike ``H(x - v_th)``; at ``a=0, b=1`` (and the defaults) its backward is exact."""
    return _Sharpened.apply(x, a, b, v_th, lens)


def sharpen_schedule(epoch: int, epochs: int) -> tuple[float, float]:
    """``(a, b)`` at ``epoch`` (0-based) of ``epochs``: from ``(0, 1)`` to ``(0.49, 0.51)`` at
    the last epoch. The paper's ``a = min(e/200, .49)``, ``b = 1 - e/200`` rescaled to any run
    length (in absolute epochs a short run would never get sharp)."""
    p = epoch / max(epochs - 1, 1)
    return min(p / 2, 0.49), max(1 - p / 2, 0.51)


class SharpenedReLU(nn.Module):
    """The sharpened ReLU as a module; :func:`set_sharpness` moves its ``(a, b)``."""

    def __init__(self, v_th: float = 0.5, lens: float = 0.5):
        super().__init__()
        self.v_th, self.lens = v_th, lens
        self.a, self.b = 0.0, 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sharpened_relu(x, self.a, self.b, self.v_th, self.lens)

    def extra_repr(self) -> str:
        return f"a={self.a:.3f}, b={self.b:.3f}, v_th={self.v_th}, lens={self.lens}"


def set_sharpness(model: nn.Module, epoch: int, epochs: int) -> tuple[float, float]:
    """Set every :class:`SharpenedReLU` in ``model`` to :func:`sharpen_schedule`'s ``(a, b)``."""
    a, b = sharpen_schedule(epoch, epochs)
    for m in model.modules():
        if isinstance(m, SharpenedReLU):
            m.a, m.b = a, b
    return a, b


def bridge_snn(sizes, T: int = 6, decay: float = 0.25, v_th: float = 0.5,
               lens: float = 0.5) -> SpikingMLP:
    """The paper's LIF network as a :class:`~snnkit.models.SpikingMLP` (direct input):
    ``u[t] = decay * u[t-1] * (1 - s[t-1]) + W x[t]`` (multiplicative reset, detached),
    ``s[t] = H(u[t] - v_th)``, rectangle surrogate of half-width ``lens``."""
    snn = SpikingMLP(sizes, T=T, beta=decay, threshold=v_th, surrogate=Rectangle(lens))
    for neuron in snn.neurons:
        neuron.reset = "zero"
    return snn


def pretrain(ann: nn.Module, train, val=None, epochs: int = 15, lr: float = 2e-3,
             batch_size: int = 64, seed: int = 0, device="cpu", progress: bool = True,
             on_epoch: Callable[[int, nn.Module], None] | None = None) -> dict[str, list]:
    """Train ``ann`` with :func:`~snnkit.train.fit`, one epoch per call, sharpening its
    :class:`SharpenedReLU` s before each (:func:`set_sharpness`). The optimiser (Adam) restarts
    each epoch. ``on_epoch(epoch, ann)`` runs after every epoch (e.g. to transfer and test).
    Returns ``fit``'s history, concatenated over epochs."""
    history: dict[str, list] = {}
    for epoch in range(epochs):
        set_sharpness(ann, epoch, epochs)
        h = fit(ann, train, val, epochs=1, lr=lr, batch_size=batch_size, seed=seed + epoch,
                device=device, progress=progress, desc=f"ANN epoch {epoch + 1}/{epochs}")
        for key, values in h.items():
            history.setdefault(key, []).extend(values)
        if on_epoch is not None:
            on_epoch(epoch, ann)
    return history


# ------------------------------------------------------------------ DIET-SNN / IIR-SNN neurons


@dataclass(frozen=True)
class LinearSurrogate(Surrogate):
    """DIET-SNN's linear (triangle) surrogate: ``dS/dz = gamma * max(0, 1 - |z|)``."""

    gamma: float = 0.3
    name = "linear"

    def derivative_(self, v):
        return v.abs_().neg_().add_(1).clamp_(min=0).mul_(self.gamma)


def diet_lif_sequence(x: torch.Tensor, leak: torch.Tensor, threshold: torch.Tensor,
                      surrogate: Surrogate = LinearSurrogate()
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky neurons with soft reset and threshold-relative spikes (DIET-SNN), as a plain loop::

        u[t] = leak * u[t-1] + x[t] - threshold * o[t-1]
        o[t] = H(z),  z = u[t] / threshold - 1         backward: surrogate'(z)

    ``x``: input current ``[T, B, ...]``; ``leak``, ``threshold``: tensors broadcastable to one
    step (gradients flow into both; the reset's spike is detached). Returns
    ``(spikes, membrane)``, ``[T, B, ...]``.
    """
    u = torch.zeros_like(x[0])
    o = torch.zeros_like(x[0])
    spikes, mems = [], []
    for x_t in x:
        u = leak * u + x_t - threshold * o.detach()
        o = surrogate(u / threshold - 1)
        spikes.append(o)
        mems.append(u)
    return torch.stack(spikes), torch.stack(mems)


class DietLIF(nn.Module):
    """A layer of :func:`diet_lif_sequence` neurons with one learned ``leak`` and ``threshold``.

    Both are projected at every forward pass in training (so after every optimiser step):
    ``leak`` into ``[0, leak_max]``, ``threshold`` to at least ``1e-3``.
    ``forward(x)``: ``[T, B, ...]`` -> ``(spikes, membrane)``.
    """

    def __init__(self, leak: float = 1.0, threshold: float = 1.0, gamma: float = 0.3,
                 leak_max: float = 1.0, trainable_leak: bool = True,
                 trainable_threshold: bool = True):
        super().__init__()
        self.leak = nn.Parameter(torch.tensor(float(leak)), requires_grad=trainable_leak)
        self.threshold = nn.Parameter(torch.tensor(float(threshold)),
                                      requires_grad=trainable_threshold)
        self.surrogate = LinearSurrogate(gamma)
        self.leak_max = leak_max

    def forward(self, x: torch.Tensor):
        if self.training:
            with torch.no_grad():
                self.leak.clamp_(0.0, self.leak_max)
                self.threshold.clamp_(min=1e-3)
        return diet_lif_sequence(x, self.leak, self.threshold, self.surrogate)

    def extra_repr(self) -> str:
        return f"leak={self.leak.item():.4g}, threshold={self.threshold.item():.4g}"


class DietSNN(nn.Module):
    """``Linear -> DietLIF -> ... -> Linear`` with direct (analogue) input for ``T`` steps; the
    output layer has no neuron and sums over time: ``logits = sum_t W_L o_{L-1}[t] + T b_L``.

    ``forward(x)``: ``[B, in]`` (repeated over ``T``) or ``[T, B, in]`` -> logits ``[B, out]``.
    Set ``model.T`` to change the number of steps.
    """

    def __init__(self, sizes, T: int = 5, leak: float = 1.0, threshold: float = 1.0,
                 gamma: float = 0.3):
        super().__init__()
        self.T = T
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                      strict=True))
        self.neurons = nn.ModuleList(DietLIF(leak, threshold, gamma) for _ in sizes[1:-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in]`` -> ``[T, B, in]`` (the image at every step); time-first input as is."""
        return encoding.direct(x, self.T) if x.dim() == 2 else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode(x)
        for layer, neuron in zip(self.layers[:-1], self.neurons, strict=True):
            h, _ = neuron(layer(h))
        return self.layers[-1](h).sum(0)


@torch.no_grad()
def percentile_thresholds(snn: nn.Module, x: torch.Tensor, q: float = 0.9) -> list[float]:
    """Set each hidden layer's threshold to the ``q``-quantile of its input current, layer by
    layer: layer ``l`` is measured with the spiking network up to it, thresholds below already
    set; the ``k``-th smallest value with ``k = ceil(q * n)``. ``snn``: a :class:`DietSNN`
    (learned thresholds) or a :class:`~snnkit.models.SpikingMLP`; ``x``: one batch ``[B, in]``.
    Returns the thresholds."""
    h = snn.encode(x)
    found = []
    for layer, neuron in zip(snn.layers[:-1], snn.neurons, strict=True):
        current = layer(h)
        k = max(1, math.ceil(q * current.numel()))
        v = current.flatten().kthvalue(k).values.item()
        if isinstance(neuron.threshold, torch.Tensor):
            neuron.threshold.fill_(v)
        else:
            neuron.threshold = v
        found.append(v)
        h, _ = neuron(current)
    return found


# ------------------------------------------------------------------------------ training cost


def dense_macs(model: nn.Module, x: torch.Tensor) -> float:
    """Multiply-accumulates per sample of one forward pass of ``model`` on ``x`` ``[B, ...]``,
    counted densely (as a GPU trains: spikes are multiplied too) by
    :func:`~snnkit.hw.count_ops`. An SNN run for ``T`` steps costs ``T`` times its ANN twin."""
    return count_ops(model, x, samples=len(x), spike_driven=False).total("macs")


def time_to_target(cost, acc, target: float) -> float:
    """The first ``cost[i]`` at which ``acc[i] >= target`` (``inf`` if never): read off a
    time-to-accuracy curve (``cost`` cumulative, e.g. in MACs or epochs)."""
    for c, a in zip(cost, acc, strict=True):
        if a >= target:
            return float(c)
    return math.inf
