"""Superconducting single-flux-quantum (SFQ) circuits, at two levels.

**Circuit level: one Josephson junction as the RCSJ model.** In normalised units (time
``tau = omega_c t``, currents in units of the critical current ``I_c``, voltage in ``I_c R``)

    beta_c phi'' + phi' + sin(phi) = i_bias + i_in(tau) + i_noise(tau),

with ``omega_c = 2 pi I_c R / PHI0``, ``beta_c = 2 pi I_c R^2 C / PHI0`` (Stewart-McCumber) and
thermal noise ``<i_n(tau) i_n(tau')> = 2 Gamma delta(tau - tau')``, ``Gamma = 2 pi k_B T /
(PHI0 I_c)``. The voltage is ``v = phi'``; each 2 pi phase slip is one SFQ pulse carrying one flux
quantum, ``integral V dt = PHI0 = h / 2e = 2.068 mV ps``.

**Pulse level: a behavioural model for networks** (our abstraction, calibrated on the circuit
level; the paper's netlists are not public): stochastic synapses that pass each pulse with a
probability set by their bias current, SFQ neurons that count stored fluxons in a loop and fire
at a threshold set by their bias, mergers with a dead time, splitters. Time advances in ticks of
``tick_ps`` picoseconds.

Sources: Stewart (1968) and McCumber (1968) for RCSJ; Likharev & Semenov (1991) for SFQ logic;
Krylov, Edwards, Friedman & Friedman, arXiv:2311.10721 (2023), and Edwards et al., Neuromorph.
Comput. Eng. 4, 014005 (2024) for the neuromorphic circuits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit
from scipy.special import erfc

PHI0 = 2.067833848e-15          # flux quantum h / 2e, in Wb = V s
PHI0_MV_PS = PHI0 * 1e15        # the same in mV ps (2.0678)
K_B = 1.380649e-23              # Boltzmann constant, J / K


@dataclass(frozen=True)
class Junction:
    """A shunted Josephson junction in physical units.

    ``ic`` critical current (A), ``r`` shunt resistance (ohm), ``c`` capacitance (F),
    ``temperature`` (K). Defaults: a 100 uA niobium junction at 4.2 K (liquid helium).
    """

    ic: float = 100e-6
    r: float = 4.0
    c: float = 0.1e-12
    temperature: float = 4.2

    @property
    def omega_c(self) -> float:
        """Characteristic angular frequency ``2 pi I_c R / PHI0``, in rad/s."""
        return 2 * math.pi * self.ic * self.r / PHI0

    @property
    def tau_ps(self) -> float:
        """One unit of normalised time, in picoseconds."""
        return 1e12 / self.omega_c

    @property
    def beta_c(self) -> float:
        """Stewart-McCumber damping parameter (0: overdamped)."""
        return 2 * math.pi * self.ic * self.r**2 * self.c / PHI0

    @property
    def gamma(self) -> float:
        """Normalised noise strength ``2 pi k_B T / (PHI0 I_c)``."""
        return 2 * math.pi * K_B * self.temperature / (PHI0 * self.ic)

    @property
    def icr_mv(self) -> float:
        """The voltage unit ``I_c R``, in mV."""
        return self.ic * self.r * 1e3


def rcsj(i_bias, i_in=None, beta_c: float = 0.0, gamma: float = 0.0, dt: float = 0.02,
         n_steps: int = 5000, n_trials: int = 1, rng: np.random.Generator | None = None):
    """Integrate the normalised RCSJ equation (Euler-Maruyama; ``dt <= 0.05`` keeps it stable).

    Args:
        i_bias: bias current(s) in units of ``I_c``; a scalar or an array ``[K]`` (one junction
            per value), broadcast against ``n_trials``.
        i_in: optional input current ``[n_steps]`` (the same for every junction), in ``I_c``.
        beta_c: Stewart-McCumber parameter (0 solves the overdamped first-order equation).
        gamma: noise strength Gamma; the noise increment per step is ``sqrt(2 Gamma dt) N(0,1)``.
        dt: step in normalised time. n_steps: number of steps. rng: numpy generator.

    Returns ``(phi, v)``, each ``[n_steps + 1, n_trials, K]``: phase (rad) and voltage
    ``phi'`` (units of ``I_c R``), starting at rest ``phi = arcsin(min(i_bias, 1))``.
    """
    rng = rng or np.random.default_rng(0)
    i_b = np.broadcast_to(np.atleast_1d(np.asarray(i_bias, float)), (n_trials, np.size(i_bias)))
    drive = np.zeros(n_steps) if i_in is None else np.asarray(i_in, float)
    if drive.shape != (n_steps,):
        raise ValueError(f"i_in must have shape ({n_steps},), got {drive.shape}")
    phi = np.empty((n_steps + 1, *i_b.shape))
    v = np.zeros_like(phi)
    phi[0] = np.arcsin(np.clip(i_b, -1, 1))
    u = np.zeros(i_b.shape)                                  # phi' for the second-order case
    kick = math.sqrt(2 * gamma * dt)
    for n in range(n_steps):
        noise = kick * rng.standard_normal(i_b.shape) if gamma > 0 else 0.0
        force = i_b + drive[n] - np.sin(phi[n])
        if beta_c > 0:
            u = u + (dt * (force - u) + noise) / beta_c
            step = u * dt
        else:
            step = force * dt + noise
        v[n] = step / dt
        phi[n + 1] = phi[n] + step
    v[-1] = v[-2]
    return phi, v


def detect_pulses(phi: np.ndarray, dt: float = 1.0):
    """Times of 2 pi phase slips in ``phi`` ``[n_steps + 1, ...]`` (one SFQ pulse each).

    A forward slip is counted when the phase first passes ``phi_0 + (2k + 1) pi`` (the top of
    the washboard) for the next ``k``; the reference then moves by 2 pi, and a backward slip moves
    it back: this hysteresis keeps noise near a crossing from counting twice.
    Returns a list (one per trace, flattened over the trailing dims) of arrays of times
    (in units of ``dt``).
    """
    flat = phi.reshape(phi.shape[0], -1)
    out = []
    for trace in flat.T:
        ref, times = trace[0], []
        for n, p in enumerate(trace):
            if p >= ref + math.pi:
                times.append(n * dt)
                ref += 2 * math.pi
            elif p <= ref - 3 * math.pi:
                ref -= 2 * math.pi
        out.append(np.asarray(times))
    return out


def overdamped_voltage(i_bias):
    """The analytic mean voltage of a noiseless overdamped junction, ``sqrt(i^2 - 1)`` above
    the critical current and 0 below (units of ``I_c R``); the pulse rate is this over 2 pi."""
    i = np.asarray(i_bias, float)
    return np.sqrt(np.clip(i**2 - 1, 0, None))


def switching_curve(i_b_grid, pulse_amp: float = 0.3, pulse_width: float = 2.0,
                    gamma: float = 1.8e-3, n_trials: int = 200, beta_c: float = 0.0,
                    dt: float = 0.02, window: float = 30.0, rng=None):
    """Monte-Carlo probability that one input pulse makes a junction biased at ``i_b`` slip.

    A rectangular current pulse of ``pulse_amp`` (units of I_c) lasting ``pulse_width``
    (normalised time) arrives at time 1; a slip within ``window`` counts as a transmitted pulse.
    Returns ``p`` ``[len(i_b_grid)]``.
    """
    n_steps = int(window / dt)
    t = np.arange(n_steps) * dt
    drive = np.where((t >= 1.0) & (t < 1.0 + pulse_width), pulse_amp, 0.0)
    phi, _ = rcsj(np.asarray(i_b_grid, float), drive, beta_c, gamma, dt, n_steps, n_trials,
                  rng)
    slipped = (phi.max(0) - phi[0]) > math.pi                  # [n_trials, K]
    return slipped.mean(0)


def erfc_curve(i_b, i_sw: float, sigma: float):
    """``p(i_b) = 0.5 erfc((i_sw - i_b) / (sqrt(2) sigma))``: the synapse's pass probability."""
    return 0.5 * erfc((i_sw - np.asarray(i_b, float)) / (math.sqrt(2) * sigma))


def fit_erfc(i_b_grid, p) -> tuple[float, float]:
    """Least-squares ``(i_sw, sigma)`` of :func:`erfc_curve` through a switching curve."""
    i_b_grid, p = np.asarray(i_b_grid, float), np.asarray(p, float)
    start = (float(i_b_grid[np.argmin(abs(p - 0.5))]), 0.01)
    (i_sw, sigma), _ = curve_fit(erfc_curve, i_b_grid, p, p0=start,
                                 bounds=([i_b_grid.min() - 1, 1e-5], [i_b_grid.max() + 1, 1.0]))
    return float(i_sw), float(sigma)


def bias_for_probability(p, i_sw: float, sigma: float):
    """The bias current that gives pass probability ``p`` (inverse of :func:`erfc_curve`)."""
    from scipy.special import erfcinv

    return i_sw - math.sqrt(2) * sigma * erfcinv(2 * np.asarray(p, float))


def threshold_from_bias(i_bias, i_per_fluxon: float = 0.3) -> int:
    """An SFQ neuron's firing threshold in stored fluxons: each fluxon in the storing loop adds
    ``i_per_fluxon = PHI0 / (L I_c)`` to the output junction's current, which switches once
    ``i_bias + n i_per_fluxon >= 1``. Raising the bias lowers the threshold."""
    return max(1, math.ceil((1.0 - float(i_bias)) / i_per_fluxon - 1e-9))


# ---------------------------------------------------------------- pulse level (behavioural)


def merge(pulses: np.ndarray, dead_time: int = 2) -> np.ndarray:
    """A merger: ``pulses`` ``[T, k, ...]`` (0/1 per tick on k inputs) -> ``[T, ...]``, one
    output pulse when any input pulses, then blind for ``dead_time`` ticks (pulses arriving
    together, or while it recovers, leave as one: the loss grows with the input rate)."""
    out = np.zeros((pulses.shape[0], *pulses.shape[2:]), bool)
    blind = np.zeros(pulses.shape[2:], int)
    for t in range(pulses.shape[0]):
        out[t] = pulses[t].any(0) & (blind == 0)
        blind = np.where(out[t], dead_time, np.maximum(blind - 1, 0))
    return out


def split(pulses: np.ndarray, n: int) -> np.ndarray:
    """A splitter: every pulse ``[T, ...]`` copied to ``n`` outputs ``[T, n, ...]``."""
    return np.repeat(np.asarray(pulses)[:, None], n, axis=1)


@dataclass
class Layer:
    """One layer of SFQ neurons fed through splitters by stochastic synapses.

    ``w`` ``[n_out, n_in]`` integer: fluxons a passing pulse adds to the storing loop (negative:
    inhibitory, removes them; 0: no synapse); ``p`` ``[n_out, n_in]``: each synapse's pass
    probability (set by its bias current); ``n_th`` ``[n_out]``: thresholds in fluxons;
    ``leak``: fraction of stored flux lost per tick; ``floor``: most negative flux the loop
    holds (in fluxons); ``refractory``: ticks before a neuron can fire again.
    """

    w: np.ndarray
    p: np.ndarray
    n_th: np.ndarray
    leak: float = 0.0
    floor: float = 4.0
    refractory: int = 2


class PulseNetwork:
    """A feed-forward network of SFQ neurons simulated tick by tick (``tick_ps`` ps per tick).

    ``simulate(input_rates, duration_ps, rng)``: ``input_rates`` ``[B, n_in]`` in pulses per ps
    (Poisson inputs); returns the output rates ``[B, n_out]`` (pulses per ps) and every layer's
    rates. Each neuron's loop update per tick is
    ``n <- max((1 - leak) n + sum_j w_ij passed_ij, -floor)``; it fires when ``n >= n_th`` and
    keeps ``n - n_th``.
    """

    def __init__(self, layers: list[Layer], tick_ps: float = 1.0):
        self.layers, self.tick_ps = layers, tick_ps

    def simulate(self, input_rates, duration_ps: float, rng: np.random.Generator | None = None):
        rng = rng or np.random.default_rng(0)
        rates = np.asarray(input_rates, float)
        n_ticks = int(duration_ps / self.tick_ps)
        B = rates.shape[0]
        store = [np.zeros((B, len(layer.n_th))) for layer in self.layers]
        wait = [np.zeros((B, len(layer.n_th)), int) for layer in self.layers]
        counts = [np.zeros((B, len(layer.n_th))) for layer in self.layers]
        for _ in range(n_ticks):
            pulses = rng.random(rates.shape) < rates * self.tick_ps
            for i, layer in enumerate(self.layers):
                passed = (rng.random((B, *layer.p.shape)) < layer.p) & pulses[:, None, :]
                drive = (passed * layer.w).sum(-1)
                store[i] = np.maximum((1 - layer.leak) * store[i] + drive, -layer.floor)
                fire = (store[i] >= layer.n_th) & (wait[i] == 0)
                store[i] = np.where(fire, store[i] - layer.n_th, store[i])
                wait[i] = np.where(fire, layer.refractory, np.maximum(wait[i] - 1, 0))
                counts[i] += fire
                pulses = fire
        duration = n_ticks * self.tick_ps
        return counts[-1] / duration, [c / duration for c in counts]


def xor_network(p_exc: float = 0.95, p_inh: float = 0.95, n_th: int = 2, depth: int = 2,
                floor: float = 4.0, leak: float = 0.0) -> PulseNetwork:
    """A rate-coded XOR of SFQ neurons. Hidden neuron k is "x_k and not x_other": excited by
    its own input, inhibited by the other's (threshold ``n_th`` fluxons), so equal input rates
    cancel; the output fires on any hidden pulse (threshold 1, the two hidden lines merged).
    ``depth=3`` inserts a relay layer before the output, as in the paper's deeper network.
    Synapse probabilities come from bias currents (:func:`bias_for_probability`), thresholds
    from neuron biases (:func:`threshold_from_bias`)."""
    w_hidden = np.array([[1, -1], [-1, 1]])
    p_hidden = np.array([[p_exc, p_inh], [p_inh, p_exc]])
    layers = [Layer(w_hidden, p_hidden, np.array([n_th, n_th]), leak, floor)]
    if depth == 3:
        layers.append(Layer(np.eye(2, dtype=int), p_exc * np.eye(2), np.array([1, 1])))
    elif depth != 2:
        raise ValueError(f"depth must be 2 or 3, got {depth}")
    layers.append(Layer(np.array([[1, 1]]), np.array([[p_exc, p_exc]]), np.array([1])))
    return PulseNetwork(layers)


XOR_PATTERNS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


def classification_margin(rates) -> float:
    """XOR margin of output rates for patterns (00, 01, 10, 11):
    ``min(r01, r10) - max(r00, r11)`` (positive means separable by a rate threshold)."""
    r = np.asarray(rates, float).reshape(4)
    return float(min(r[1], r[2]) - max(r[0], r[3]))
