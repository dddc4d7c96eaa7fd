"""Legendre Memory Units (Voelker, Kajić & Eliasmith, NeurIPS 2019) and the LMUFormer
(Liu et al., ICLR 2024), with its spiking variant.

The memory is a linear time-invariant system that holds the first ``order`` Legendre coefficients
of the last ``theta`` steps of a signal ``u``::

    theta dm/dt = A m + B u,   A_ij = (2i+1) * (-1 if i < j else (-1)^(i-j+1)),   B_i = (2i+1)(-1)^i

discretised by zero-order hold at one step: ``m[t] = Ad m[t-1] + Bd u[t]``. Because it is linear,
``m = H * u`` with the impulse response ``H[t] = Ad^t Bd``: a whole sequence's memory is one causal
convolution, computed with FFTs (the *parallel* form, for training). The recurrence gives the
same numbers one step at a time (the *streaming* form, for inference).

Shapes are time-first as in :mod:`snnkit.neurons`: sequences ``[T, B, features]``, one step
``[B, features]``; a memory adds a trailing ``order`` axis. Every module has ``forward`` (whole
sequence) and ``step(x_t, state) -> (y_t, state)`` (``state=None`` at the start); the two agree
in eval mode (BatchNorm frozen), and spiking layers are snnkit :class:`~snnkit.neurons.LIF`
populations running along the time axis.
"""

from __future__ import annotations

import torch
from torch import nn

from ..neurons import LIF

NEURONS = ("relu", "lif", "none")


# ---------------------------------------------------------------- the memory, as pure functions

def legendre_matrices(order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The continuous-time LMU system for ``theta = 1``: ``A`` ``[order, order]``, ``B``
    ``[order]`` (float64)."""
    q = torch.arange(order, dtype=torch.float64)
    i, j = q[:, None], q[None, :]
    sign = torch.where(i < j, torch.tensor(-1.0, dtype=torch.float64), (-1.0) ** (i - j + 1))
    return (2 * i + 1) * sign, (2 * q + 1) * (-1.0) ** q


def lmu_matrices(order: int, theta: float, dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order-hold discretisation of the LMU for a window of ``theta`` steps: ``(Ad, Bd)``,
    ``[order, order]`` and ``[order]``, float64.

    ZOH via one matrix exponential of the augmented system:
    ``expm([[A, B], [0, 0]] * dt / theta) = [[Ad, Bd], [0, 1]]``.
    """
    if order < 1 or theta <= 0 or dt <= 0:
        raise ValueError(f"need order >= 1, theta > 0, dt > 0; got {order}, {theta}, {dt}")
    A, B = legendre_matrices(order)
    M = torch.zeros(order + 1, order + 1, dtype=torch.float64)
    M[:order, :order] = A * dt / theta
    M[:order, order] = B * dt / theta
    E = torch.linalg.matrix_exp(M)
    return E[:order, :order], E[:order, order]


def lmu_impulse(Ad: torch.Tensor, Bd: torch.Tensor, T: int) -> torch.Tensor:
    """Impulse response ``H[t] = Ad^t Bd`` for ``t = 0..T-1``: ``[T, order]``."""
    H = [Bd]
    for _ in range(T - 1):
        H.append(Ad @ H[-1])
    return torch.stack(H)


def lmu_memory(u: torch.Tensor, Ad: torch.Tensor, Bd: torch.Tensor,
               m0: torch.Tensor | None = None) -> torch.Tensor:
    """Streaming form: run ``m[t] = Ad m[t-1] + Bd u[t]`` step by step.

    ``u``: ``[T, ...]`` (one scalar signal per entry); ``m0``: ``[..., order]`` (zeros if None).
    Returns ``m``: ``[T, ..., order]``.
    """
    m = u.new_zeros(*u.shape[1:], len(Bd)) if m0 is None else m0
    out = []
    for u_t in u:
        m = m @ Ad.T + u_t[..., None] * Bd
        out.append(m)
    return torch.stack(out)


def lmu_memory_fft(u: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """Parallel form: the causal convolution ``m[t] = sum_{s<=t} H[t-s] u[s]`` via real FFTs of
    length ``2T`` (zero-padded, so the circular convolution has no wrap-around).

    ``u``: ``[T, ...]``; ``H``: ``[T, order]`` from :func:`lmu_impulse`. Returns
    ``[T, ..., order]``; equals :func:`lmu_memory` with ``m0 = 0`` up to float rounding.
    """
    T = u.shape[0]
    if H.shape[0] != T:
        raise ValueError(f"impulse response has {H.shape[0]} steps, input {T}")
    U = torch.fft.rfft(u, n=2 * T, dim=0)[..., None]                      # [T+1, ..., 1]
    Hf = torch.fft.rfft(H, n=2 * T, dim=0)                                # [T+1, order]
    Hf = Hf.reshape(T + 1, *[1] * (u.dim() - 1), H.shape[1])
    return torch.fft.irfft(U * Hf, n=2 * T, dim=0)[:T]


# ---------------------------------------------------------------- layers with a streaming step

class Neurons(nn.Module):
    """Optional BatchNorm over features, then ReLU, a LIF population or nothing.

    ``forward``: ``[T, B, n]`` -> ``[T, B, n]`` (BatchNorm statistics over time and batch, as the
    official LMUFormer); ``step``: ``[B, n]`` -> ``[B, n]``, with the LIF membrane as state.
    """

    def __init__(self, n: int, neuron: str = "relu", norm: bool = True, beta: float = 0.5,
                 threshold: float = 1.0):
        super().__init__()
        if neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {NEURONS}, got {neuron!r}")
        self.norm = nn.BatchNorm1d(n) if norm else None
        self.lif = LIF(beta, threshold) if neuron == "lif" else None
        self.relu = neuron == "relu"

    def _norm(self, x):
        return x if self.norm is None else self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._norm(x)
        if self.lif is not None:
            return self.lif(x)[0]
        return torch.relu(x) if self.relu else x

    def step(self, x: torch.Tensor, state=None):
        x = self._norm(x)
        if self.lif is not None:
            return self.lif.step(x, state)
        return (torch.relu(x) if self.relu else x), None


class Unit(nn.Module):
    """Synapses, BatchNorm, neurons: ``[T, B, d_in]`` -> ``[T, B, d_out]``.

    ``kernel = 1``: one ``nn.Linear`` per step. ``kernel > 1``: a causal temporal ``nn.Conv1d``
    (``kernel - 1`` frames of zero padding on the left), so output ``t`` sees inputs
    ``t-kernel+1 .. t``. ``step`` keeps the last ``kernel - 1`` inputs as its state.
    """

    def __init__(self, d_in: int, d_out: int, kernel: int = 1, neuron: str = "relu",
                 beta: float = 0.5, threshold: float = 1.0):
        super().__init__()
        self.kernel = kernel
        self.synapse = (nn.Linear(d_in, d_out) if kernel == 1
                        else nn.Conv1d(d_in, d_out, kernel, bias=False))
        self.neurons = Neurons(d_out, neuron, True, beta, threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == 1:
            return self.neurons(self.synapse(x))
        z = nn.functional.pad(x.permute(1, 2, 0), (self.kernel - 1, 0))   # [B, d_in, T+k-1]
        return self.neurons(self.synapse(z).permute(2, 0, 1))

    def step(self, x: torch.Tensor, state=None):
        past, neuron_state = (None, None) if state is None else state
        if self.kernel == 1:
            z = self.synapse(x)
        else:
            if past is None:
                past = x.new_zeros(*x.shape, self.kernel - 1)
            window = torch.cat([past, x[..., None]], dim=-1)              # [B, d_in, kernel]
            z = nn.functional.conv1d(window, self.synapse.weight)[..., 0]
            past = window[..., 1:]
        y, neuron_state = self.neurons.step(z, neuron_state)
        return y, (past, neuron_state)


class LMUCell(nn.Module):
    """The LMU cell of LMUFormer (parallel via FFT, or one step at a time)::

        u[t] = f_u(W_u x[t])                       (d_in -> memory_dim scalar signals)
        m[t] = Ad m[t-1] + Bd u[t]                 (order Legendre coefficients per signal)
        h[t] = f_h(W_h [g(m[t]); x[t]])            (-> hidden)

    ANN (``spiking=False``): ``f_u``, ``f_h`` are BatchNorm + ReLU and ``g`` is the identity.
    Spiking: ``f_u``, ``f_h`` and ``g`` are BatchNorm + LIF populations, so ``u``, the memory's
    read-out and ``h`` are spikes; the memory itself stays a real-valued linear filter.
    ``theta``: the memory window in steps. Input ``[T, B, d_in]`` of any length ``T``.
    """

    def __init__(self, d_in: int, hidden: int, order: int, theta: float, memory_dim: int = 1,
                 spiking: bool = False, beta: float = 0.5, threshold: float = 1.0):
        super().__init__()
        neuron = "lif" if spiking else "relu"
        self.encoder = Unit(d_in, memory_dim, 1, neuron, beta, threshold)
        self.readout = Neurons(memory_dim * order, "lif" if spiking else "none", spiking, beta,
                               threshold)
        self.hidden = Unit(memory_dim * order + d_in, hidden, 1, neuron, beta, threshold)
        Ad, Bd = lmu_matrices(order, theta)
        self.register_buffer("Ad", Ad.float())
        self.register_buffer("Bd", Bd.float())
        self.order, self.theta = order, theta

    def memory(self, x: torch.Tensor) -> torch.Tensor:
        """The memory ``[T, B, memory_dim * order]`` of input ``[T, B, d_in]`` (parallel form)."""
        u = self.encoder(x)
        H = lmu_impulse(self.Ad.double(), self.Bd.double(), x.shape[0]).to(u.dtype)
        return lmu_memory_fft(u, H).flatten(-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(torch.cat([self.readout(self.memory(x)), x], dim=-1))

    def step(self, x: torch.Tensor, state=None):
        enc, m, rd, hid = (None,) * 4 if state is None else state
        u, enc = self.encoder.step(x, enc)                                # [B, memory_dim]
        m = u[..., None] * self.Bd if m is None else m @ self.Ad.T + u[..., None] * self.Bd
        r, rd = self.readout.step(m.flatten(-2), rd)
        h, hid = self.hidden.step(torch.cat([r, x], dim=-1), hid)
        return h, (enc, m, rd, hid)


class LMUFormerBlock(nn.Module):
    """Token mixer then channel mixer, each with a residual: ``x + P(LMU(x))`` with a 1x1
    projection ``P``, then ``x + FFN(x)`` with two 1x1 units (``dim -> ratio*dim -> dim``)."""

    def __init__(self, dim: int, order: int, theta: float, ratio: int = 2,
                 memory_dim: int = 1, spiking: bool = False, beta: float = 0.5,
                 threshold: float = 1.0):
        super().__init__()
        neuron = "lif" if spiking else "relu"
        self.lmu = LMUCell(dim, dim, order, theta, memory_dim, spiking, beta, threshold)
        self.proj = Unit(dim, dim, 1, neuron, beta, threshold)
        self.ffn = nn.ModuleList([Unit(dim, ratio * dim, 1, neuron, beta, threshold),
                                  Unit(ratio * dim, dim, 1, neuron, beta, threshold)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.proj(self.lmu(x))
        return x + self.ffn[1](self.ffn[0](x))

    def step(self, x: torch.Tensor, state=None):
        s = [None] * 4 if state is None else list(state)
        h, s[0] = self.lmu.step(x, s[0])
        h, s[1] = self.proj.step(h, s[1])
        x = x + h
        h, s[2] = self.ffn[0].step(x, s[2])
        h, s[3] = self.ffn[1].step(h, s[3])
        return x + h, tuple(s)


class ConvEmbed1d(nn.Module):
    """Convolutional embedding of a feature sequence: ``layers`` causal conv units
    (``in_dim -> dim``, kernel ``kernel``), then a convolutional "relative positional embedding"
    residual ``z + rpe(z)``. Receptive field ``(layers + 1)(kernel - 1) + 1`` frames, all past."""

    def __init__(self, in_dim: int, dim: int, layers: int = 4, kernel: int = 3,
                 spiking: bool = False, beta: float = 0.5, threshold: float = 1.0):
        super().__init__()
        neuron = "lif" if spiking else "relu"
        dims = [in_dim] + [dim] * layers
        self.convs = nn.ModuleList([Unit(a, b, kernel, neuron, beta, threshold)
                                    for a, b in zip(dims[:-1], dims[1:], strict=True)])
        self.rpe = Unit(dim, dim, kernel, neuron, beta, threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        return x + self.rpe(x)

    def step(self, x: torch.Tensor, state=None):
        s = [None] * (len(self.convs) + 1) if state is None else list(state)
        for i, conv in enumerate(self.convs):
            x, s[i] = conv.step(x, s[i])
        y, s[-1] = self.rpe.step(x, s[-1])
        return x + y, tuple(s)


class LMUFormer(nn.Module):
    """LMUFormer for sequence classification: conv embedding, ``depth`` LMU blocks, a linear head
    on every frame, averaged over time.

    ``forward(x)``: ``[T, B, in_dim]`` -> logits ``[B, n_classes]`` (mean over all frames).
    ``prefix_logits(x)``: ``[T, B, n_classes]``, the decision after each prefix (cumulative mean,
    the official ``test_mode="all_seq"``). ``stream(x)`` computes the same prefix logits one frame
    at a time through ``step`` (eval mode only). ``spiking=True`` swaps every ReLU for a LIF
    population (decay ``beta``, ``threshold``), so all hidden layers exchange spikes (the residual
    stream carries small spike counts); the embedding's first layer sees the real-valued input.
    ``order`` defaults to ``dim``; ``theta`` (steps) is the memory window, e.g. the clip length.
    """

    def __init__(self, in_dim: int, dim: int, n_classes: int, theta: float, depth: int = 1,
                 order: int | None = None, ratio: int = 2, memory_dim: int = 1,
                 embed_layers: int = 4, kernel: int = 3, spiking: bool = False,
                 beta: float = 0.5, threshold: float = 1.0):
        super().__init__()
        order = dim if order is None else order
        self.embed = ConvEmbed1d(in_dim, dim, embed_layers, kernel, spiking, beta, threshold)
        self.blocks = nn.ModuleList([
            LMUFormerBlock(dim, order, theta, ratio, memory_dim, spiking, beta, threshold)
            for _ in range(depth)])
        self.head = nn.Linear(dim, n_classes)
        self.spiking = spiking

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).mean(0)

    def prefix_logits(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.features(x)).cumsum(0)
        steps = torch.arange(1, len(z) + 1, device=z.device, dtype=z.dtype)
        return z / steps[:, None, None]

    def step(self, x: torch.Tensor, state=None):
        """One frame ``[B, in_dim]``: returns the prefix logits so far ``[B, n_classes]`` and the
        new state (embedding, blocks, frame count, running sum of per-frame logits)."""
        emb, blocks, t, total = (None, [None] * len(self.blocks), 0, 0.0) if state is None \
            else state
        blocks = list(blocks)
        x, emb = self.embed.step(x, emb)
        for i, block in enumerate(self.blocks):
            x, blocks[i] = block.step(x, blocks[i])
        total = total + self.head(x)
        return total / (t + 1), (emb, tuple(blocks), t + 1, total)

    @torch.no_grad()
    def stream(self, x: torch.Tensor) -> torch.Tensor:
        """Prefix logits ``[T, B, n_classes]`` computed frame by frame (eval mode)."""
        if self.training:
            raise RuntimeError("stream() runs in eval mode (BatchNorm uses batch statistics in "
                               "training); call model.eval() first")
        state, out = None, []
        for frame in x:
            logits, state = self.step(frame, state)
            out.append(logits)
        return torch.stack(out)
