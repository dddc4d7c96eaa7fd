"""A SpiNNaker-like event-driven machine: fixed-point neurons on cores, spikes as routed packets.

The execution model of SpiNNaker (Furber et al., Proc. IEEE 2014), kept small enough to read:

- time advances in ticks of ``tick_ms`` (1 ms); each tick every core drains its ring buffer's
  current slot into its neurons' synaptic currents, updates its neurons and sends a multicast
  packet for every spike;
- neuron state is fixed point **s16.15** (``Q = 15`` fractional bits in a signed 32-bit word);
  decays are exact exponential factors computed once (``exp(-tick / tau)``), as sPyNNaker does;
- a weight ``w`` (nA) arriving in a tick adds ``w * init`` to the exponential synaptic current,
  ``init = (tau_syn / tick) (1 - exp(-tick / tau_syn))`` (sPyNNaker's normalisation): the current
  is then held over the tick at the mean of the exponential it stands for, so a synapse delivers
  the charge ``w * tau_syn`` of the continuous model even when ``tau_syn`` is shorter than a tick;
- populations are split into slices of at most ``neurons_per_core`` neurons, one slice per core;
  each slice gets a routing key (``slice << 16 | neuron``) and the router holds one key/mask
  entry per slice with outgoing projections, listing the cores that receive its packets;
- an arriving packet looks up its synaptic row and adds each weight into the ring buffer slot of
  its delay (>= 1 tick);
- with ``drop_p > 0`` the fabric loses each packet with that probability (all of its copies);
- counters: packets sent, router lookups, packet copies delivered, packets dropped, synaptic
  events, neuron updates, ticks; :meth:`Machine.energy` turns them into joules.

STDP (:class:`STDP`, pair rule with all-to-all traces, additive, weights in nA): a presynaptic
spike depresses its row by ``a_minus * y_post`` (post traces of earlier ticks) as it is sent; a
post spike potentiates its column by ``a_plus * x_pre``, presynaptic spikes of the same tick
included (a same-tick pair counts as causal); weights are clipped after each step.

``backend="float"`` runs the same network in float64 for comparison. Simplifications (stated):
one chip (no inter-chip links); STDP is applied as the spikes happen, whereas sPyNNaker defers
potentiation to the next presynaptic arrival, with its own conventions for delays and same-tick
pairs, so where plasticity is involved our rasters can differ from the chip's.

Neuron model: PyNN's ``IF_curr_exp`` (current-based LIF, exponential synaptic currents), units
mV, nA, nF, ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .energy import event_energy

Q = 15                              # fractional bits of s16.15
ONE = 1 << Q
INT32 = (-(2**31), 2**31 - 1)


def to_fix(x) -> np.ndarray:
    """Float -> s16.15 integers (round to nearest, saturate to 32 bits)."""
    return np.clip(np.round(np.asarray(x, float) * ONE), *INT32).astype(np.int64)


def from_fix(q) -> np.ndarray:
    """s16.15 integers -> float."""
    return np.asarray(q, np.int64) / ONE


def fix_mul(a, b) -> np.ndarray:
    """Product of two s16.15 numbers, rounded back to s16.15 (saturating)."""
    prod = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    return np.clip((prod + (1 << (Q - 1))) >> Q, *INT32)


@dataclass(frozen=True)
class IFCurrExp:
    """PyNN ``IF_curr_exp`` parameters (defaults: PyNN's)."""

    cm: float = 1.0            # nF
    tau_m: float = 20.0        # ms
    tau_refrac: float = 0.1    # ms
    tau_syn_e: float = 5.0     # ms
    tau_syn_i: float = 5.0     # ms
    v_rest: float = -65.0      # mV
    v_reset: float = -65.0     # mV
    v_thresh: float = -50.0    # mV
    i_offset: float = 0.0      # nA


@dataclass(eq=False)
class Population:
    """``n`` neurons with ``params``; or, with ``spike_times`` (one list of ms per neuron), a
    spike source that fires at those times. Populations compare by identity."""

    n: int
    params: IFCurrExp | None = None
    label: str = ""
    spike_times: list | None = None

    @property
    def is_source(self) -> bool:
        return self.spike_times is not None


@dataclass
class STDP:
    """Pair-based additive STDP with all-to-all traces: a post spike adds ``a_plus * x_pre``,
    a pre spike's arrival subtracts ``a_minus * y_post``; weights stay in ``[w_min, w_max]``."""

    tau_plus: float = 20.0
    tau_minus: float = 20.0
    a_plus: float = 0.01
    a_minus: float = 0.012
    w_min: float = 0.0
    w_max: float = 1.0


@dataclass
class Projection:
    """Synapses from ``pre`` to ``post``: ``weight`` ``[pre.n, post.n]`` in nA (0: none),
    ``delay`` ticks (int or ``[pre.n, post.n]``, >= 1), ``receptor`` "excitatory" or
    "inhibitory", optional ``stdp``."""

    pre: Population
    post: Population
    weight: np.ndarray
    delay: np.ndarray | int = 1
    receptor: str = "excitatory"
    stdp: STDP | None = None
    mask: np.ndarray = field(init=False)

    def __post_init__(self):
        self.weight = np.asarray(self.weight, float)
        if self.weight.shape != (self.pre.n, self.post.n):
            raise ValueError(f"weight must be {(self.pre.n, self.post.n)}, "
                             f"got {self.weight.shape}")
        self.delay = np.broadcast_to(np.asarray(self.delay, int), self.weight.shape).copy()
        if self.delay.min() < 1:
            raise ValueError("delays must be >= 1 tick")
        if self.receptor not in ("excitatory", "inhibitory"):
            raise ValueError(f"receptor must be 'excitatory' or 'inhibitory', "
                             f"got {self.receptor!r}")
        self.mask = self.weight != 0 if self.stdp is None else np.ones_like(self.weight, bool)


def synapse_init(tau_syn: float, tick: float) -> float:
    """Scale of a weight entering an exponential synapse: the mean of ``exp(-t / tau_syn)`` over
    one tick, ``(tau_syn / tick) (1 - exp(-tick / tau_syn))`` (0.29 for 0.3 ms at 1 ms ticks)."""
    return tau_syn / tick * (1 - math.exp(-tick / tau_syn))


def one_to_one(n: int, w: float) -> np.ndarray:
    return np.eye(n) * w


def all_to_all(n_pre: int, n_post: int, w: float, allow_self: bool = True) -> np.ndarray:
    W = np.full((n_pre, n_post), float(w))
    if not allow_self and n_pre == n_post:
        np.fill_diagonal(W, 0.0)
    return W


# Per-event energies of SpiNNaker 1, orders of magnitude only (Stromatias et al., IJCNN 2013,
# measured about 8 nJ per synaptic event; neuron updates and packets cost the same order). Use them
# to compare event counts, not as a calibration; pass your own table to Machine.energy. Keys
# are the names of :meth:`Machine.run`'s counters (see snnkit.hw.event_energy).
ENERGY_J = {"synaptic_events": 8e-9, "neuron_updates": 11e-9, "deliveries": 1.1e-9,
            "router_lookups": 0.0}


class Machine:
    """One chip of ``cores`` cores with at most ``neurons_per_core`` neurons each."""

    def __init__(self, cores: int = 16, neurons_per_core: int = 256, tick_ms: float = 1.0,
                 drop_p: float = 0.0, seed: int = 0):
        self.cores, self.neurons_per_core, self.tick_ms = cores, neurons_per_core, tick_ms
        self.drop_p, self.seed = drop_p, seed
        self.populations: list[Population] = []
        self.projections: list[Projection] = []
        self.slices: list[tuple[int, int, int]] = []      # (population index, start, stop)
        self.routes: dict[int, set[int]] = {}             # slice key -> destination cores

    def add(self, pop: Population) -> Population:
        self.populations.append(pop)
        return pop

    def connect(self, *args, **kwargs) -> Projection:
        proj = Projection(*args, **kwargs)
        self.projections.append(proj)
        return proj

    def place_and_route(self) -> None:
        """Split populations into per-core slices, give each a key and fill the routing table.
        Raises ValueError when the network does not fit on the chip."""
        self.slices = []
        for p, pop in enumerate(self.populations):
            for start in range(0, pop.n, self.neurons_per_core):
                self.slices.append((p, start, min(start + self.neurons_per_core, pop.n)))
        if len(self.slices) > self.cores:
            raise ValueError(f"{len(self.slices)} slices of <= {self.neurons_per_core} neurons "
                             f"need more than the chip's {self.cores} cores")
        self.routes = {}
        for key, (p, start, stop) in enumerate(self.slices):
            dests = set()
            for proj in self.projections:
                if proj.pre is not self.populations[p]:
                    continue
                q = self.populations.index(proj.post)
                for core, (p2, s2, e2) in enumerate(self.slices):
                    if p2 == q and proj.mask[start:stop, s2:e2].any():
                        dests.add(core)
            if dests:
                self.routes[key] = dests

    def core_of(self, pop: Population, neuron: int) -> int:
        p = self.populations.index(pop)
        return next(c for c, (q, s, e) in enumerate(self.slices) if q == p and s <= neuron < e)

    def run(self, ms: float, backend: str = "fixed") -> dict:
        """Simulate ``ms`` milliseconds; returns ``{"spikes": {label: [(t_ms, neuron), ...]},
        "counters": {...}}``. ``backend``: "fixed" (s16.15) or "float" (float64)."""
        if backend not in ("fixed", "float"):
            raise ValueError(f"backend must be 'fixed' or 'float', got {backend!r}")
        if not self.slices:
            self.place_and_route()
        fixed = backend == "fixed"
        rng = np.random.default_rng(self.seed)
        ticks, dt = int(round(ms / self.tick_ms)), self.tick_ms
        depth = 1 + max((int(p.delay.max()) for p in self.projections), default=1)
        pops = self.populations

        def num(x):
            return to_fix(x) if fixed else np.asarray(x, float)

        def mul(a, b):
            return fix_mul(a, b) if fixed else a * b

        state, const = [], []
        for pop in pops:
            if pop.is_source:
                state.append(None)
                const.append(None)
                continue
            prm = pop.params
            a_m = math.exp(-dt / prm.tau_m)
            const.append(dict(
                a_m=num(a_m), r_gain=num((1 - a_m) * prm.tau_m / prm.cm),
                a_e=num(math.exp(-dt / prm.tau_syn_e)), a_i=num(math.exp(-dt / prm.tau_syn_i)),
                init_e=num(synapse_init(prm.tau_syn_e, dt)),
                init_i=num(synapse_init(prm.tau_syn_i, dt)),
                v_rest=num(prm.v_rest), v_reset=num(prm.v_reset), v_th=num(prm.v_thresh),
                i_off=num(prm.i_offset), refrac=int(math.ceil(prm.tau_refrac / dt))))
            state.append(dict(v=num(np.full(pop.n, prm.v_rest)), i_e=num(np.zeros(pop.n)),
                              i_i=num(np.zeros(pop.n)), ref=np.zeros(pop.n, int),
                              ring=num(np.zeros((2, depth, pop.n)))))
        weights = [num(p.weight) for p in self.projections]
        traces = [(np.zeros(p.pre.n), np.zeros(p.post.n)) for p in self.projections]
        source_spikes = [self._source_raster(pop, ticks) if pop.is_source else None
                         for pop in pops]
        routed = [np.zeros(pop.n, bool) for pop in pops]         # neurons whose slice has a route
        for key, (p, start, stop) in enumerate(self.slices):
            routed[p][start:stop] = key in self.routes
        counters = dict(ticks=ticks, neuron_updates=0, packets=0, router_lookups=0,
                        deliveries=0, synaptic_events=0, dropped=0)
        raster: dict[str, list] = {pop.label or f"pop{i}": [] for i, pop in enumerate(pops)}

        for t in range(ticks):
            slot = t % depth
            spiked = []
            for i, pop in enumerate(pops):                       # 1. neurons
                if pop.is_source:
                    spiked.append(source_spikes[i][t])
                    continue
                s, c = state[i], const[i]
                s["i_e"] = mul(s["i_e"], c["a_e"]) + mul(s["ring"][0, slot], c["init_e"])
                s["i_i"] = mul(s["i_i"], c["a_i"]) + mul(s["ring"][1, slot], c["init_i"])
                s["ring"][:, slot] = 0
                drive = s["i_e"] - s["i_i"] + c["i_off"]
                v = c["v_rest"] + mul(s["v"] - c["v_rest"], c["a_m"]) + mul(drive, c["r_gain"])
                active = s["ref"] == 0
                s["v"] = np.where(active, v, s["v"])
                fire = active & (s["v"] >= c["v_th"])
                s["v"] = np.where(fire, c["v_reset"], s["v"])
                s["ref"] = np.where(fire, c["refrac"], np.maximum(s["ref"] - 1, 0))
                counters["neuron_updates"] += pop.n
                spiked.append(fire)
            for i, pop in enumerate(pops):
                for n in np.flatnonzero(spiked[i]):
                    raster[pop.label or f"pop{i}"].append((t * dt, int(n)))
            delivered = []                                         # 2. packets and router
            for i, pop in enumerate(pops):
                sent = spiked[i].astype(bool) & routed[i]
                if self.drop_p > 0 and sent.any():
                    lost = sent & (rng.random(pop.n) < self.drop_p)
                    counters["dropped"] += int(lost.sum())
                    sent = sent & ~lost
                delivered.append(sent)
            for key, (p, start, stop) in enumerate(self.slices):
                if key in self.routes:
                    counters["packets"] += int(spiked[p][start:stop].sum())
                    counters["router_lookups"] += int(spiked[p][start:stop].sum())
                    counters["deliveries"] += (int(delivered[p][start:stop].sum())
                                               * len(self.routes[key]))
            for k, proj in enumerate(self.projections):            # 3. synaptic rows
                pre, post = pops.index(proj.pre), pops.index(proj.post)
                arriving = delivered[pre]
                x_pre, y_post = traces[k]
                if proj.stdp is not None and arriving.any():      # depression on arrival
                    self._stdp(proj, weights, k, arriving, y_post, fixed, potentiate=False)
                rows = np.flatnonzero(arriving)
                if rows.size:
                    w, d = weights[k][rows], proj.delay[rows]
                    live = proj.mask[rows] & (w != 0)
                    counters["synaptic_events"] += int(live.sum())
                    ring = state[post]["ring"][0 if proj.receptor == "excitatory" else 1]
                    for delay in np.unique(d[live]):
                        ring[(t + delay) % depth] += np.where(live & (d == delay), w, 0).sum(0)
                if proj.stdp is not None:
                    a_plus = math.exp(-dt / proj.stdp.tau_plus)
                    a_minus = math.exp(-dt / proj.stdp.tau_minus)
                    x_pre *= a_plus
                    x_pre += spiked[pre]
                    y_post *= a_minus
                    y_post += spiked[post]
                    if spiked[post].any():                          # potentiation at post
                        self._stdp(proj, weights, k, spiked[post].astype(bool), x_pre, fixed,
                                   potentiate=True)
        for k, proj in enumerate(self.projections):
            if proj.stdp is not None:
                proj.weight = from_fix(weights[k]) if fixed else weights[k]
        return {"spikes": raster, "counters": counters}

    @staticmethod
    def _stdp(proj, weights, k, who, trace, fixed, potentiate):
        rule = proj.stdp
        w = from_fix(weights[k]) if fixed else weights[k]
        if potentiate:                      # post neurons ``who`` fired: pre traces
            w[:, who] += rule.a_plus * trace[:, None]
        else:                               # pre neurons ``who`` arrived: post traces
            w[who, :] -= rule.a_minus * trace[None, :]
        w = np.clip(w, rule.w_min, rule.w_max)
        weights[k] = to_fix(w) if fixed else w

    def _source_raster(self, pop: Population, ticks: int) -> np.ndarray:
        raster = np.zeros((ticks, pop.n), bool)
        for n, times in enumerate(pop.spike_times):
            for t_ms in times:
                tick = int(round(t_ms / self.tick_ms))
                if 0 <= tick < ticks:
                    raster[tick, n] = True
        return raster

    @staticmethod
    def energy(counters: dict, table: dict | None = None) -> float:
        """Joules spent on the counted events (default: :data:`ENERGY_J`)."""
        return float(event_energy(counters, table or ENERGY_J))
