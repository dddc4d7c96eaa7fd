"""Superconducting single-flux-quantum (SFQ) circuits, at two levels.

**Circuit level: one Josephson junction as the RCSJ model.** In normalised units (time
``tau = omega_c t``, currents in units of the critical current ``I_c``, voltage in ``I_c R``)

    beta_c phi'' + phi' + sin(phi) = i_bias + i_in(tau) + i_noise(tau),

with ``omega_c = 2 pi I_c R / PHI0``, ``beta_c = 2 pi I_c R^2 C / PHI0`` (Stewart-McCumber) and
thermal noise ``<i_n(tau) i_n(tau')> = 2 Gamma delta(tau - tau')``, ``Gamma = 2 pi k_B T /
(PHI0 I_c)``. The voltage is ``v = phi'``; each 2 pi phase slip is one SFQ pulse carrying one flux
quantum, ``integral V dt = PHI0 = h / 2e = 2.068 mV ps``. A junction biased above ``I_c`` slips
periodically, at the Josephson frequency ``f = <V> / PHI0``.

**Pulse level: a behavioural model for networks** (our abstraction, calibrated on the circuit
level; the paper's netlists are not public). Every element is set by a bias current, as on chip:

- a *stochastic synapse* is a junction biased just below ``I_c``: each arriving pulse passes with
  probability ``p(i_b) = 0.5 erfc((i_sw - i_b) / (sqrt(2) sigma))`` (:class:`Calibration`,
  fitted to a Monte-Carlo switching curve); biased at or above ``I_c`` it free-runs and emits
  pulses of its own;
- an *SFQ neuron* is a storing loop that counts fluxons (excitatory synapses add one, inhibitory
  ones remove one) and fires when the count reaches a threshold set by its bias
  (:func:`threshold_from_bias`);
- *splitters* copy a pulse to every synapse it feeds; a *merger* ORs lines with a dead time.

Time advances in ticks of ``tick_ps`` picoseconds.

Sources: Stewart (1968) and McCumber (1968) for RCSJ; Likharev & Semenov (1991) for SFQ logic;
Krylov, Edwards, Friedman & Friedman, arXiv:2311.10721 (2023), and Edwards et al., Neuromorph.
Comput. Eng. 4, 014005 (2024) for the neuromorphic circuits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import curve_fit
from scipy.special import erfc, erfcinv

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

    def switching_energy_j(self, i_bias: float = 1.0) -> float:
        """Energy, in joules, that one 2 pi slip draws from a bias current ``i_bias`` (units of
        ``I_c``) and dissipates: ``I_b * integral V dt = I_b PHI0`` (2.1e-19 J for 100 uA at
        ``i_bias = 1``), the dynamic switching energy of SFQ logic."""
        return float(i_bias) * self.ic * PHI0

    def frequency_ghz(self, v):
        """Josephson frequency ``f = <V> / PHI0`` of a mean voltage ``v`` (units of I_c R), GHz:
        the rate of SFQ pulses a junction at that voltage emits."""
        return np.asarray(v, float) * self.icr_mv / PHI0_MV_PS * 1e3


def _euler_maruyama(i_b, drive, beta_c, gamma, dt, rng):
    """Yield ``(phi, v)`` after each step of the normalised RCSJ equation, starting at rest.
    ``i_b`` ``[n_trials, K]``; ``drive`` iterates over steps (each broadcast against ``i_b``)."""
    phi = np.arcsin(np.clip(i_b, -1, 1))
    u = np.zeros(i_b.shape)                                  # phi' for the second-order case
    kick = math.sqrt(2 * gamma * dt)
    for d in drive:
        noise = kick * rng.standard_normal(i_b.shape) if gamma > 0 else 0.0
        force = i_b + d - np.sin(phi)
        if beta_c > 0:
            u = u + (dt * (force - u) + noise) / beta_c
            step = u * dt
        else:
            step = force * dt + noise
        phi = phi + step
        yield phi, step / dt


def _inputs(i_bias, i_in, n_steps, n_trials):
    i_b = np.broadcast_to(np.atleast_1d(np.asarray(i_bias, float)), (n_trials, np.size(i_bias)))
    drive = np.zeros(n_steps) if i_in is None else np.asarray(i_in, float)
    if drive.shape != (n_steps,):
        raise ValueError(f"i_in must have shape ({n_steps},), got {drive.shape}")
    return i_b, drive


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
    ``phi'`` (units of ``I_c R``, ``v[n]`` is the mean over step ``n``), starting at rest
    ``phi = arcsin(min(i_bias, 1))``.
    """
    rng = rng or np.random.default_rng(0)
    i_b, drive = _inputs(i_bias, i_in, n_steps, n_trials)
    phi = np.empty((n_steps + 1, *i_b.shape))
    v = np.zeros_like(phi)
    phi[0] = np.arcsin(np.clip(i_b, -1, 1))
    for n, (p, vel) in enumerate(_euler_maruyama(i_b, drive, beta_c, gamma, dt, rng)):
        phi[n + 1], v[n] = p, vel
    v[-1] = v[-2]
    return phi, v


def slip_counts(i_bias, i_in=None, beta_c: float = 0.0, gamma: float = 0.0, dt: float = 0.02,
                n_steps: int = 5000, n_trials: int = 1, rng: np.random.Generator | None = None):
    """Net number of 2 pi slips (SFQ pulses out) of each junction, ``[n_trials, K]``, without
    storing the trajectory (arguments as :func:`rcsj`). Counted from the phase gained,
    ``round((phi_end - phi_0) / 2 pi)``: exact when the drive ends with the junction at rest."""
    rng = rng or np.random.default_rng(0)
    i_b, drive = _inputs(i_bias, i_in, n_steps, n_trials)
    phi = phi0 = np.arcsin(np.clip(i_b, -1, 1))
    for state in _euler_maruyama(i_b, drive, beta_c, gamma, dt, rng):
        phi = state[0]
    return np.rint((phi - phi0) / (2 * math.pi)).astype(int)


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


def pulse_drive(arrivals, n_steps: int, dt: float = 0.02, amp: float = 0.3,
                width: float = 2.0) -> np.ndarray:
    """Input current ``[n_steps]`` (units of I_c): a rectangular pulse of ``amp`` lasting
    ``width`` (normalised time) at each arrival time in ``arrivals`` (normalised time)."""
    t = np.arange(n_steps) * dt
    drive = np.zeros(n_steps)
    for a in np.atleast_1d(arrivals):
        drive[(t >= a) & (t < a + width)] += amp
    return drive


def switching_curve(i_b_grid, pulse_amp: float = 0.3, pulse_width: float = 2.0,
                    gamma: float = 1.8e-3, n_trials: int = 200, beta_c: float = 0.0,
                    dt: float = 0.02, settle: float = 20.0, window: float = 30.0, rng=None):
    """Monte-Carlo probability that one input pulse makes a junction biased at ``i_b`` slip.

    The junction first thermalises for ``settle`` (normalised time), then a rectangular current
    pulse of ``pulse_amp`` (units of I_c) lasting ``pulse_width`` arrives; a slip by the end of
    ``window`` after it counts as a transmitted pulse. Returns ``p`` ``[len(i_b_grid)]``.
    """
    n_steps = int((settle + window) / dt)
    drive = pulse_drive([settle], n_steps, dt, pulse_amp, pulse_width)
    slips = slip_counts(np.asarray(i_b_grid, float), drive, beta_c, gamma, dt, n_steps,
                        n_trials, rng)
    return (slips > 0).mean(0)


def transmission(i_bias, spacing: float, n_pulses: int = 40, pulse_amp: float = 0.3,
                 pulse_width: float = 2.0, gamma: float = 1.8e-3, n_trials: int = 100,
                 beta_c: float = 0.0, dt: float = 0.02, rng=None):
    """Fraction of a regular pulse train (one pulse every ``spacing``, normalised time) that a
    synapse junction biased at ``i_bias`` ``[K]`` passes, by RCSJ Monte Carlo: output slips /
    input pulses, ``[K]``. Compare with the pulse-level model's ``p(i_b)``, which assumes every
    pulse is an independent trial (true once the junction has relaxed between pulses)."""
    start = 20.0
    arrivals = start + spacing * np.arange(n_pulses)
    n_steps = int((arrivals[-1] + 30.0) / dt)
    drive = pulse_drive(arrivals, n_steps, dt, pulse_amp, pulse_width)
    slips = slip_counts(i_bias, drive, beta_c, gamma, dt, n_steps, n_trials, rng)
    return slips.mean(0) / n_pulses


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
    return i_sw - math.sqrt(2) * sigma * erfcinv(2 * np.asarray(p, float))


@dataclass(frozen=True)
class Calibration:
    """A synapse's fitted switching curve: ``p(i_b) = erfc_curve(i_b, i_sw, sigma)``."""

    i_sw: float
    sigma: float

    def p(self, i_b):
        return erfc_curve(i_b, self.i_sw, self.sigma)

    def bias(self, p):
        return bias_for_probability(p, self.i_sw, self.sigma)


def threshold_from_bias(i_bias, i_per_fluxon: float = 0.3):
    """An SFQ neuron's firing threshold in stored fluxons: each fluxon in the storing loop adds
    ``i_per_fluxon = PHI0 / (L I_c)`` to the output junction's current, which switches once
    ``i_bias + n i_per_fluxon >= 1``. Raising the bias lowers the threshold. Works elementwise
    (an int for a scalar bias)."""
    n = np.maximum(1, np.ceil((1.0 - np.asarray(i_bias, float)) / i_per_fluxon - 1e-9))
    return int(n) if n.ndim == 0 else n.astype(int)


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


def loop_step(store, wait, drive, n_th, leak: float = 0.0, floor: float = 4.0,
              refractory: int = 2):
    """One tick of SFQ neurons (elementwise over any shape). ``store``: fluxons held in each
    storing loop; ``wait``: ticks left in the refractory period; ``drive``: fluxons the synapses
    add this tick (negative: inhibitory); ``n_th``: thresholds. The loop leaks a fraction
    ``leak``, holds at most ``floor`` fluxons of the wrong sign, and fires (emitting one pulse and
    releasing ``n_th`` fluxons) when it holds ``n_th`` and is not refractory.
    Returns ``(store, wait, fire)``."""
    store = np.maximum((1 - leak) * store + drive, -floor)
    fire = (store >= n_th) & (wait == 0)
    store = np.where(fire, store - n_th, store)
    wait = np.where(fire, refractory, np.maximum(wait - 1, 0))
    return store, wait, fire


@dataclass
class Layer:
    """One layer of SFQ neurons fed through splitters by stochastic synapses, set by biases.

    ``w`` ``[n_out, n_in]`` integer: fluxons a passing pulse adds to the storing loop (negative:
    inhibitory, removes them; 0: no synapse); ``syn_bias`` ``[..., n_out, n_in]``: each synapse
    junction's bias (units of its I_c; leading dims, if any, are the batch); ``neuron_bias``
    ``[..., n_out]``: each neuron's bias (sets its threshold); ``leak``: fraction of stored flux
    lost per tick; ``floor``: most negative flux the loop holds (in fluxons); ``refractory``:
    ticks before a neuron can fire again.
    """

    w: np.ndarray
    syn_bias: np.ndarray
    neuron_bias: np.ndarray
    leak: float = 0.0
    floor: float = 4.0
    refractory: int = 2


@dataclass
class Activity:
    """What :meth:`PulseNetwork.simulate` saw. ``rates`` ``[B, n_out]`` output pulses per ps;
    ``layer_rates``: each layer's firing rates; ``counts``: pulses per sample ``[B]`` by kind:
    ``"input"`` (input pulses), ``"arrived"`` (pulses reaching a synapse, after splitting),
    ``"passed"`` (synapse junctions that switched, spontaneous slips included), ``"fired"``
    (neuron output pulses)."""

    rates: np.ndarray
    layer_rates: list[np.ndarray]
    counts: dict[str, np.ndarray] = field(default_factory=dict)


class PulseNetwork:
    """A feed-forward network of SFQ neurons simulated tick by tick (``tick_ps`` ps per tick).

    Synapse pass probabilities come from the bias currents through ``calib``; thresholds from
    the neuron biases through ``i_per_fluxon``; a synapse biased at or above I_c free-runs at its
    Josephson frequency (``junction`` gives the time unit). Each neuron's loop update per tick is
    :func:`loop_step`: ``n <- max((1 - leak) n + sum_j w_ij passed_ij, -floor)``; it fires when
    ``n >= n_th`` (and not refractory) and keeps ``n - n_th``.
    """

    def __init__(self, layers: list[Layer], calib: Calibration, i_per_fluxon: float = 0.3,
                 junction: Junction = Junction(), tick_ps: float = 1.0):
        self.layers, self.calib, self.i_per_fluxon = layers, calib, i_per_fluxon
        self.junction, self.tick_ps = junction, tick_ps

    def synapse_p(self, layer: Layer) -> np.ndarray:
        """Pass probability of each synapse of ``layer`` (0 where there is none)."""
        return np.where(layer.w != 0, self.calib.p(layer.syn_bias), 0.0)

    def thresholds(self, layer: Layer) -> np.ndarray:
        return threshold_from_bias(layer.neuron_bias, self.i_per_fluxon)

    def spontaneous_rate(self, layer: Layer) -> np.ndarray:
        """Pulses per tick a synapse emits with no input: its Josephson frequency when biased at
        or above I_c (overdamped estimate), else 0."""
        per_ps = overdamped_voltage(layer.syn_bias) / (2 * math.pi * self.junction.tau_ps)
        return np.where(layer.w != 0, per_ps * self.tick_ps, 0.0)

    def simulate(self, input_rates, duration_ps: float, rng: np.random.Generator | None = None,
                 inputs: str = "periodic", chunk: int = 256) -> Activity:
        """Drive the network with ``input_rates`` ``[B, n_in]`` (pulses per ps) for
        ``duration_ps``. ``inputs="periodic"``: each line pulses regularly at its rate, from a
        random phase (a clocked source); ``"poisson"``: independent pulses each tick. Random
        numbers are drawn ``chunk`` ticks at a time (a speed knob; results depend on it only
        through the random stream)."""
        if inputs not in ("periodic", "poisson"):
            raise ValueError(f"inputs must be 'periodic' or 'poisson', got {inputs!r}")
        rng = rng or np.random.default_rng(0)
        rates = np.asarray(input_rates, float) * self.tick_ps
        n_ticks, B = int(duration_ps / self.tick_ps), rates.shape[0]
        p = [self.synapse_p(layer) for layer in self.layers]
        free = [self.spontaneous_rate(layer) for layer in self.layers]
        free = [f if f.any() else None for f in free]                   # None: no free-running
        n_th = [self.thresholds(layer) for layer in self.layers]
        fan_out = [(layer.w != 0).sum(0) for layer in self.layers]        # synapses per line
        n_out = [layer.w.shape[0] for layer in self.layers]
        store = [np.zeros((B, n)) for n in n_out]
        wait = [np.zeros((B, n), int) for n in n_out]
        fired = [np.zeros((B, n)) for n in n_out]
        line_pulses = [np.zeros((B, layer.w.shape[1])) for layer in self.layers]
        switched = [np.zeros((B, *layer.w.shape)) for layer in self.layers]
        phase = rng.random(rates.shape)
        duration = n_ticks * self.tick_ps
        for t0 in range(0, n_ticks, chunk):
            ticks = min(chunk, n_ticks - t0)
            noise = [rng.random((ticks, B, *layer.w.shape)) for layer in self.layers]
            poisson = rng.random((ticks, *rates.shape)) if inputs == "poisson" else None
            for k in range(ticks):
                if poisson is None:
                    phase = phase + rates
                    pulses = phase >= 1
                    phase = phase - pulses
                else:
                    pulses = poisson[k] < rates
                for i, layer in enumerate(self.layers):
                    chance = pulses[:, None, :] * p[i]
                    passed = noise[i][k] < (chance if free[i] is None else chance + free[i])
                    line_pulses[i] += pulses
                    switched[i] += passed
                    drive = (passed * layer.w).sum(-1)
                    store[i], wait[i], pulses = loop_step(store[i], wait[i], drive, n_th[i],
                                                          layer.leak, layer.floor,
                                                          layer.refractory)
                    fired[i] += pulses
        counts = {"input": line_pulses[0].sum(-1),
                  "arrived": sum(n @ f for n, f in zip(line_pulses, fan_out, strict=True)),
                  "passed": sum(s.sum((-2, -1)) for s in switched),
                  "fired": sum(f.sum(-1) for f in fired)}
        rates_out = [f / duration for f in fired]
        return Activity(rates_out[-1], rates_out, counts)

    def with_bias_errors(self, rel_error: float, n_draws: int, rng: np.random.Generator,
                         repeat: int = 1, synapses: bool = True,
                         neurons: bool = True) -> PulseNetwork:
        """A batch of ``n_draws`` copies whose biases (every synapse's if ``synapses``, every
        neuron's if ``neurons``) are off by independent relative errors, uniform in
        ``[-rel_error, rel_error]``. Each copy is repeated ``repeat`` times along the batch (e.g.
        once per input pattern), copy-major."""
        def jitter(bias, shape, on):
            err = rng.uniform(-rel_error, rel_error, (n_draws, *shape)) if on else 0.0
            bias = np.broadcast_to(np.asarray(bias) * (1 + err), (n_draws, *shape))
            return np.repeat(bias, repeat, axis=0)

        layers = [replace(layer, syn_bias=jitter(layer.syn_bias, layer.w.shape, synapses),
                          neuron_bias=jitter(layer.neuron_bias, layer.w.shape[:1], neurons))
                  for layer in self.layers]
        return PulseNetwork(layers, self.calib, self.i_per_fluxon, self.junction, self.tick_ps)


def xor_network(calib: Calibration, exc_bias, inh_bias, hidden_bias: float = 0.55,
                out_bias: float = 0.85, depth: int = 2, i_per_fluxon: float = 0.3,
                floor: float = 4.0, leak: float = 0.0) -> PulseNetwork:
    """A rate-coded XOR of SFQ neurons, set by bias currents (units of I_c).

    Hidden neuron k is "x_k and not x_other": excited by its own input through a synapse biased at
    ``exc_bias``, inhibited by the other's through one biased at ``inh_bias``; its bias
    ``hidden_bias`` sets its threshold (2 fluxons at the default), so equal input rates cancel.
    The output neuron (bias ``out_bias``: threshold 1) fires on any hidden pulse that passes its
    excitatory synapses: the two hidden lines merge in its loop. ``depth=3`` inserts a relay
    layer (one excitatory synapse and a threshold-1 neuron per line) before the output, as in the
    paper's deeper network. ``exc_bias``/``inh_bias`` may be arrays ``[B]``: one network per
    batch row (e.g. a bias sweep).
    """
    if depth not in (2, 3):
        raise ValueError(f"depth must be 2 or 3, got {depth}")
    e = np.asarray(exc_bias, float)[..., None, None]
    i = np.asarray(inh_bias, float)[..., None, None]
    w_hidden = np.array([[1, -1], [-1, 1]])
    layers = [Layer(w_hidden, np.where(w_hidden > 0, e, i), np.full(2, hidden_bias),
                    leak, floor)]
    if depth == 3:
        layers.append(Layer(np.eye(2, dtype=int), e * np.ones((2, 2)), np.full(2, out_bias)))
    layers.append(Layer(np.array([[1, 1]]), e * np.ones((1, 2)), np.full(1, out_bias)))
    return PulseNetwork(layers, calib, i_per_fluxon)


def energy_table(junction: Junction = Junction(), i_bias: float = 1.0) -> dict[str, float]:
    """Joules per event of :attr:`Activity.counts`, for :func:`snnkit.hw.event_energy`: each
    input pulse, switched synapse and neuron pulse is one junction switching, priced
    :meth:`Junction.switching_energy_j` at ``i_bias`` (default ``I_c``: the usual ``I_c PHI0``
    estimate). Only the junctions the pulse level models are priced: splitter and
    transmission-line junctions, blocked arrivals, the static power of resistor-biased RSFQ (zero
    in energy-efficient ERSFQ) and the cryocooler (hundreds of watts of wall power per watt
    removed at 4 K) are not."""
    e = junction.switching_energy_j(i_bias)
    return {"input": e, "passed": e, "fired": e}


XOR_PATTERNS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


def classification_margin(rates):
    """XOR margin of output rates for patterns (00, 01, 10, 11): ``min(r01, r10) - max(r00,
    r11)`` (positive: separable by a rate threshold). ``rates`` holds 4 values per network, in
    pattern order (a batch ``[n * 4]`` or ``[n * 4, 1]``, network-major); a float for one
    network, an array ``[n]`` for several."""
    r = np.asarray(rates, float).reshape(-1, 4)
    m = np.minimum(r[:, 1], r[:, 2]) - np.maximum(r[:, 0], r[:, 3])
    return float(m[0]) if m.size == 1 else m
