"""L2MU: a Legendre Memory Unit built only from spiking populations (Fra et al., 2024,
arXiv:2407.04076).

Every part of the LMU (Voelker et al., 2019) becomes a population of leaky integrate-and-fire
("leaky") or current-based LIF ("synaptic", CuBa) neurons, one step per sample of the signal::

    u[t] = P_u(e_x x[t] + e_h h[t-1] + e_m m[t-1])         encoder,  memory_dim neurons
    m[t] = P_m(A m[t-1] + B u[t])                           memory,   memory_dim x order neurons
    h[t] = P_h(W_x x[t] + W_h h[t-1] + W_m m[t])            hidden,   hidden neurons

with ``A``, ``B`` the LMU's zero-order-hold matrices (:func:`snnkit.sequence.lmu.lmu_matrices`,
frozen). With spiking populations ``u``, ``m``, ``h`` are spikes, so every recurrent product
(``A m``, ``e_h h``, ``W_h h`` ...) adds weights where a spike arrived (accumulates, no
multiplies). ``neuron="ann"`` gives the original, non-spiking LMU for comparison: ``P_u``, ``P_m``
identity (a linear memory) and ``P_h = tanh``.

Neurons, per step, with the current ``I`` and a learnable decay ``beta`` (and ``alpha``) and
threshold ``vartheta``, one each per population, reset by subtraction one step later::

    leaky:      U[t] = beta U[t-1] + I[t] - vartheta S[t-1]
    synaptic:   J[t] = alpha J[t-1] + I[t];   U[t] = beta U[t-1] + J[t] - vartheta S[t-1]
    spike:      S[t] = Theta(U[t] - vartheta)

They run as snnkit's LIF (:mod:`snnkit.functional.lif`) on the membrane in units of the
threshold, ``U / vartheta`` (the same spikes; the current is divided by ``vartheta``), so the
threshold stays learnable. Shapes are time-first: ``[T, B, features]``.

Training through recurrent spikes: the gradient of a loop grows per step by about
``beta + |W| * max surrogate'``, so with snnTorch's default arctan (peak 1) it explodes over
tens of steps. :data:`DAMPED`, an arctan with peak 0.15 (the "dampening" of Bellec et al.,
NeurIPS 2018), keeps it bounded; weights start at :data:`INIT_GAIN` times PyTorch's default
scale so the populations fire from the first step.
"""

from __future__ import annotations

import torch
from torch import nn

from ..functional import lif_sequence, lif_step
from ..functional import surrogate as sg
from .lmu import lmu_matrices

KINDS = ("leaky", "synaptic")
DAMPED = sg.ATan(alpha=0.3)   # surrogate peak alpha/2 = 0.15
INIT_GAIN = 3.0


class Population(nn.Module):
    """LIF (``kind="leaky"``) or current-based LIF (``"synaptic"``) neurons with a learnable decay
    ``beta`` (clamped to [0, 1]), synaptic decay ``alpha`` (synaptic only) and threshold.

    ``shape``: the shape of the learnable parameters, ``()`` for one per population or e.g.
    ``(channels, 1)`` for one per channel group; they broadcast over one step's current.
    ``forward(I)``: ``[T, B, ...]`` -> spikes ``[T, B, ...]`` (fused over time for leaky
    neurons); ``step(I, state)`` -> ``(spikes, state)`` for one step, ``state=None`` at rest.
    """

    emits_spikes = True  # count_ops prices this module as neurons

    def __init__(self, kind: str = "leaky", beta: float = 0.9, threshold: float = 1.0,
                 alpha: float = 0.8, shape: tuple = (), surrogate=DAMPED):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.beta = nn.Parameter(torch.full(shape, float(beta)))
        self.threshold = nn.Parameter(torch.full(shape, float(threshold)))
        self.alpha = nn.Parameter(torch.full(shape, float(alpha))) if kind == "synaptic" else None
        self.surrogate = sg.get(surrogate)

    def constants(self):
        """``(beta, alpha, 1/threshold)`` as a step uses them (clamped; ``alpha`` is None for
        leaky neurons): compute once per sequence and pass to :meth:`step`."""
        beta = self.beta.clamp(0, 1)
        alpha = None if self.alpha is None else self.alpha.clamp(0, 1)
        return beta, alpha, 1.0 / self.threshold.clamp(min=1e-3)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        beta, alpha, inv = self.constants()
        x = current * inv
        if alpha is not None:
            syn, js = torch.zeros_like(x[0]), []
            for x_t in x:
                syn = alpha * syn + x_t
                js.append(syn)
            x = torch.stack(js)
        return lif_sequence(x, beta, 1.0, "subtract", self.surrogate)[0]

    def step(self, current: torch.Tensor, state=None, constants=None):
        beta, alpha, inv = self.constants() if constants is None else constants
        x = current * inv
        syn, mem = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        if alpha is not None:
            syn = alpha * syn + x
            x = syn
        spikes, mem = lif_step(x, mem, beta, 1.0, "subtract", self.surrogate)
        return spikes, (syn, mem)


class L2MUCell(nn.Module):
    """One L2MU layer (see the module docstring): ``in_dim`` inputs, ``hidden`` neurons and
    ``memory_dim`` encoder neurons, each feeding an ``order``-dimensional memory with a window of
    ``theta`` steps. ``neuron``: ``"leaky"``, ``"synaptic"`` or ``"ann"`` (the non-spiking LMU).
    Every synapse is an ``nn.Linear`` (the frozen ``A``, ``B`` too), so
    :func:`snnkit.hw.count_ops` counts each path.

    ``forward(x)``: ``[T, B, in_dim]`` -> hidden output ``[T, B, hidden]``; ``run(x)`` returns
    all three populations' outputs ``u`` ``[T, B, memory_dim]``, ``m`` ``[T, B, memory_dim,
    order]`` and ``h``; ``step(x_t, state)`` -> ``(h_t, state)`` with ``state = (h, m, the
    populations' states)``, ``None`` at rest.
    """

    def __init__(self, in_dim: int, hidden: int, order: int, theta: float, memory_dim: int = 1,
                 neuron: str = "leaky", beta: float = 0.9, threshold: float = 1.0,
                 alpha: float = 0.8):
        super().__init__()
        if neuron not in (*KINDS, "ann"):
            raise ValueError(f"neuron must be one of {(*KINDS, 'ann')}, got {neuron!r}")
        self.hidden, self.order, self.memory_dim = hidden, order, memory_dim
        n_mem = memory_dim * order
        self.e_x = nn.Linear(in_dim, memory_dim, bias=False)
        self.e_h = nn.Linear(hidden, memory_dim, bias=False)
        self.e_m = nn.Linear(n_mem, memory_dim, bias=False)
        self.W_x = nn.Linear(in_dim, hidden)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_m = nn.Linear(n_mem, hidden, bias=False)
        Ad, Bd = lmu_matrices(order, theta)
        self.A, self.B = nn.Linear(order, order, bias=False), nn.Linear(1, order, bias=False)
        self.A.weight = nn.Parameter(Ad.float(), requires_grad=False)
        self.B.weight = nn.Parameter(Bd.float()[:, None], requires_grad=False)
        self.pops = None if neuron == "ann" else nn.ModuleList(
            [Population(neuron, beta, threshold, alpha) for _ in range(3)])

    def _recur(self, xu, xh, state, consts):
        """One step, given the input's currents ``xu = e_x x[t]`` and ``xh = W_x x[t]``.
        Returns ``(u, m, h)`` and the new state."""
        h, m, su, sm, sh = state
        iu = xu + self.e_h(h) + self.e_m(m.flatten(1))
        if self.pops is None:   # the original LMU: linear encoder and memory, tanh hidden
            u = iu
            m = self.A(m) + self.B(u[..., None])
            h = torch.tanh(xh + self.W_h(h) + self.W_m(m.flatten(1)))
            return (u, m, h), (h, m, None, None, None)
        pu, pm, ph = self.pops
        u, su = pu.step(iu, su, consts[0])
        m, sm = pm.step(self.A(m) + self.B(u[..., None]), sm, consts[1])  # [B, md, order]
        h, sh = ph.step(xh + self.W_h(h) + self.W_m(m.flatten(1)), sh, consts[2])
        return (u, m, h), (h, m, su, sm, sh)

    def _rest(self, x: torch.Tensor):
        h = x.new_zeros(x.shape[-2], self.hidden)
        m = x.new_zeros(x.shape[-2], self.memory_dim, self.order)
        return h, m, None, None, None

    def _constants(self):
        return None if self.pops is None else [p.constants() for p in self.pops]

    def step(self, x: torch.Tensor, state=None):
        """One step ``x`` ``[B, in_dim]`` -> ``(h [B, hidden], state)``."""
        out, state = self._recur(self.e_x(x), self.W_x(x), state or self._rest(x),
                                 self._constants())
        return out[2], state

    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        state, consts = self._rest(x), self._constants()
        xu, xh = self.e_x(x), self.W_x(x)        # the input's currents, all steps at once
        outs = []
        for t in range(len(x)):
            out, state = self._recur(xu[t], xh[t], state, consts)
            outs.append(out)
        return {k: torch.stack(v) for k, v in zip("umh", zip(*outs, strict=True), strict=True)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)["h"]


class PopulationEncoder(nn.Module):
    """The encoding-free input module: raw signals ``[T, B, channels]`` -> spikes
    ``[T, B, out_dim]``. Each channel drives its own population of ``pop_size`` neurons (one
    decay and threshold per channel), then two spiking layers mix the channels
    (``channels*pop_size -> hidden -> out_dim``). Only the first layer multiplies real values."""

    def __init__(self, channels: int, pop_size: int = 8, hidden: int = 32, out_dim: int = 16,
                 neuron: str = "leaky", beta: float = 0.9, threshold: float = 1.0,
                 alpha: float = 0.8):
        super().__init__()
        self.pop_size = pop_size
        self.split = nn.Conv1d(channels, channels * pop_size, 1, groups=channels)
        self.pop_in = Population(neuron, beta, threshold, alpha, shape=(channels, 1))
        self.mix = nn.Linear(channels * pop_size, hidden)
        self.pop_mix = Population(neuron, beta, threshold, alpha)
        self.out = nn.Linear(hidden, out_dim)
        self.pop_out = Population(neuron, beta, threshold, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, C = x.shape
        z = self.split(x.reshape(T * B, C, 1)).reshape(T, B, C, self.pop_size)
        s = self.pop_in(z).flatten(2)
        return self.pop_out(self.out(self.pop_mix(self.mix(s))))


class L2MU(nn.Module):
    """A classifier: (population encoder ->) L2MU cell -> linear read-out averaged over time.

    ``neuron="leaky"``/``"synaptic"``: the spiking L2MU on raw signals; the logits are the
    hidden spike trains' weighted, time-averaged sum (a membrane read-out, all additions).
    ``neuron="ann"``: the non-spiking LMU on the same signals (no encoder). Weights of the
    spiking network start at ``init_gain`` times PyTorch's default scale. Input
    ``[T, B, channels]``, output ``[B, n_classes]``.
    """

    def __init__(self, channels: int, n_classes: int, hidden: int = 32, order: int = 8,
                 theta: float = 16.0, memory_dim: int = 4, pop_size: int = 8,
                 encoding: int = 16, neuron: str = "leaky", beta: float = 0.9,
                 threshold: float = 1.0, alpha: float = 0.8, init_gain: float = INIT_GAIN):
        super().__init__()
        spiking = neuron != "ann"
        self.encoder = (PopulationEncoder(channels, pop_size, 2 * encoding, encoding, neuron,
                                          beta, threshold, alpha) if spiking else None)
        self.cell = L2MUCell(encoding if spiking else channels, hidden, order, theta,
                             memory_dim, neuron, beta, threshold, alpha)
        self.readout = nn.Linear(hidden, n_classes)
        if spiking:
            with torch.no_grad():
                for m in self.modules():
                    if isinstance(m, (nn.Linear, nn.Conv1d)) and m.weight.requires_grad:
                        m.weight.mul_(init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            x = self.encoder(x)
        return self.readout(self.cell(x)).mean(0)
