"""A CA3-like spiking content-addressable memory on the SpiNNaker-like machine.

After Casanueva-Morato et al., "Bio-inspired computational memory model of the Hippocampus: an
approach to a neuromorphic spike-based Content-Addressable Memory" (Neural Networks 2024): a
memory is a one-hot **cue** (``cue_size`` neurons, one per address) bound to a binary
**content** (``cont_size`` bits). Populations (the paper's names in brackets):

- ``cue_cue`` [CA3cueCueRecall] and ``cont_cue`` [CA3contCueRecall]: the input's cue and content
  bits, one to one; a plastic all-to-all projection ``cue_cue -> cont_cue`` stores cue -> content;
- ``cont_cond`` [CA3contCond] relays ``cont_cue`` to ``cont_cont`` [CA3contContRecall] unless a
  cue is active (``cue_cue`` inhibits it two ticks later), helped by one interneuron
  ``cond_int`` [CA3contCondInt]; a plastic projection ``cont_cont -> cue_cont``
  [CA3cueContRecall] stores content -> cue;
- ``cue_cont`` receives its own cue during learning (so both directions are learned) and inhibits
  the other cues; ``merge_cue`` / ``merge_cont`` [CA3merge] collect both paths into ``output``
  (cue neurons first, then content bits).

Both plastic projections use pair STDP with ``tau = 3 ms``, ``A+ = A- = 6`` and weights in
``[0, 6]``: one pairing is nearly enough to switch a synapse fully on or off (one-shot learning).

Operations (``t0`` = the tick the operation starts, 1 ms ticks):

- **learn** (cue + content held 3 ticks): the pair potentiates cue <-> content synapses; a cue
  that held another content before recalls it at ``t0+2``, one tick off the new content, and the
  pair rule depresses those old synapses (forgetting); output at ``t0+5`` and ``t0+7``;
- **recall by cue** (cue for 1 tick): the cue comes out at ``t0+5``, its content at ``t0+6``;
- **recall by content** (some content bits for 1 tick): the bits come out at ``t0+5`` and every
  cue whose content contains at least one of them at ``t0+6``.

The next operation may start 7 ticks after a learn and 6 after a recall (:data:`GAP`).
Neuron, synapse and delay values are the official configuration's (sPyMem, ``network_config``).

On snnkit's machine (STDP applied as spikes happen) the circuit also has two side effects that
:class:`ReferenceCAM` can model: relearning a cue leaves its old content -> cue links in place
(the old bits' relay falls between the cue's two ``cue_cont`` spikes, so the pair rule undoes
its own depression), and a recall by content links every given bit to every cue it returns.
Learning back to back also leaves weak links from one memory's content to the next cue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hw.spinnaker import STDP, IFCurrExp, Machine, Population, all_to_all

PYRAMIDAL = IFCurrExp(cm=0.27, tau_m=3.0, tau_refrac=1.0, tau_syn_e=0.3, tau_syn_i=0.3,
                      v_rest=-60.0, v_reset=-60.0, v_thresh=-57.0)
INTERNEURON = IFCurrExp(cm=0.14, tau_m=0.5, tau_refrac=1.0, tau_syn_e=0.3, tau_syn_i=0.3,
                        v_rest=-60.0, v_reset=-60.0, v_thresh=-57.0)
W = 6.0                                                    # nA, static synapses
RULE = dict(tau_plus=3.0, tau_minus=3.0, a_plus=6.0, a_minus=6.0, w_min=0.0, w_max=6.0)

HOLD = {"learn": 3, "cue": 1, "content": 1}               # ticks the input is held
GAP = {"learn": 7, "cue": 6, "content": 6}                # ticks before the next operation
READ = {"learn": (5, 7), "cue": (5, 6), "content": (5, 6)}  # output ticks after t0


@dataclass(frozen=True)
class Op:
    """One memory operation: ``kind`` "learn", "cue" (recall by cue) or "content" (recall by
    content), a cue index (learn, cue) and content bits (learn, content)."""

    kind: str
    cue: int | None = None
    bits: tuple[int, ...] = ()


def learn(cue: int, bits) -> Op:
    return Op("learn", int(cue), tuple(sorted(int(b) for b in bits)))


def recall_cue(cue: int) -> Op:
    return Op("cue", int(cue))


def recall_content(bits) -> Op:
    return Op("content", None, tuple(sorted(int(b) for b in bits)))


@dataclass
class Recall:
    """What a run returned: per operation the decoded ``(cues, bits)`` sets, its start tick, the
    raster ``{population: [(t_ms, neuron), ...]}`` and the machine's event counters."""

    answers: list[tuple[set, set]]
    starts: list[int]
    spikes: dict
    counters: dict


class CA3Memory:
    """The content-addressable memory on one :class:`~snnkit.hw.spinnaker.Machine`.

    ``run(ops)`` plays a schedule of operations in one simulation; the plastic weights persist
    between runs (neuron state does not), so ``learn``/``recall_by_cue``/``recall_by_content``
    can also be called one at a time. ``machine_kw`` go to the Machine (``drop_p``, ``seed``,
    ``cores``, ``neurons_per_core``).
    """

    def __init__(self, cue_size: int, cont_size: int, **machine_kw):
        C, K = self.cue_size, self.cont_size = cue_size, cont_size
        m = self.machine = Machine(**machine_kw)
        self.input = m.add(Population(C + K, label="input",
                                      spike_times=[[] for _ in range(C + K)]))

        def pop(n, params, label):
            return m.add(Population(n, params, label=label))

        cue_cue, cue_cont = pop(C, PYRAMIDAL, "cue_cue"), pop(C, INTERNEURON, "cue_cont")
        cont_cue, cont_cont = pop(K, PYRAMIDAL, "cont_cue"), pop(K, PYRAMIDAL, "cont_cont")
        cond, cond_int = pop(K, INTERNEURON, "cont_cond"), pop(1, INTERNEURON, "cond_int")
        merge_cue, merge_cont = pop(C, PYRAMIDAL, "merge_cue"), pop(K, PYRAMIDAL, "merge_cont")
        self.output = pop(C + K, PYRAMIDAL, "output")
        eye, zeros = np.eye, np.zeros

        def others(n, w):
            return all_to_all(n, n, w, allow_self=False)

        m.connect(self.input, cue_cue, np.vstack([eye(C) * W, zeros((K, C))]))
        m.connect(self.input, cont_cue, np.vstack([zeros((C, K)), eye(K) * W]))
        self.cue_to_cont = m.connect(cue_cue, cont_cue, zeros((C, K)), stdp=STDP(**RULE))
        self.cont_to_cue = m.connect(cont_cont, cue_cont, zeros((K, C)), stdp=STDP(**RULE))
        m.connect(cue_cue, cue_cont, eye(C) * W, delay=2)
        m.connect(cue_cue, cue_cont, others(C, W * K), delay=3, receptor="inhibitory")
        m.connect(cue_cont, cue_cont, others(C, W * K), delay=2, receptor="inhibitory")
        m.connect(cue_cue, cond, np.full((C, K), W), delay=2, receptor="inhibitory")
        m.connect(cont_cue, cond, eye(K) * 9.0)
        m.connect(cont_cue, cond_int, np.full((K, 1), W))
        m.connect(cond_int, cond, np.full((1, K), 2.0))
        m.connect(cond, cont_cont, eye(K) * W)
        m.connect(cue_cue, merge_cue, eye(C) * W, delay=3)
        m.connect(cue_cont, merge_cue, eye(C) * W)
        m.connect(cont_cue, merge_cont, eye(K) * W, delay=3)
        m.connect(cont_cont, merge_cont, eye(K) * W)
        m.connect(merge_cue, self.output, np.hstack([eye(C) * W, zeros((C, K))]))
        m.connect(merge_cont, self.output, np.hstack([zeros((K, C)), eye(K) * W]))
        m.place_and_route()

    @property
    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The learned synapses (copies): cue -> content ``[cue_size, cont_size]`` and
        content -> cue ``[cont_size, cue_size]``, nA. Assign a pair to restore a state."""
        return self.cue_to_cont.weight.copy(), self.cont_to_cue.weight.copy()

    @weights.setter
    def weights(self, pair: tuple[np.ndarray, np.ndarray]) -> None:
        self.cue_to_cont.weight = np.array(pair[0], float)
        self.cont_to_cue.weight = np.array(pair[1], float)

    def reset(self) -> None:
        """Forget everything: zero both plastic projections."""
        self.cue_to_cont.weight[:] = 0.0
        self.cont_to_cue.weight[:] = 0.0

    def schedule(self, ops: list[Op], spacing: int | None = None) -> list[int]:
        """Start tick of each operation: back to back at the fastest rate (:data:`GAP`), or every
        ``spacing`` ticks. The first starts at tick 0."""
        starts, t = [], 0
        for op in ops:
            if op.kind not in GAP:
                raise ValueError(f"operation kind must be one of {tuple(GAP)}, got {op.kind!r}")
            starts.append(t)
            t += spacing if spacing is not None else GAP[op.kind]
        return starts

    def input_spikes(self, ops: list[Op], starts: list[int]) -> list[list[float]]:
        """Spike times (ms) of each input neuron (cue neurons first) for the schedule."""
        times = [[] for _ in range(self.cue_size + self.cont_size)]
        for op, t0 in zip(ops, starts, strict=True):
            active = ([op.cue] if op.cue is not None else []) + [self.cue_size + b
                                                                  for b in op.bits]
            for n in active:
                times[n].extend(float(t0 + h) for h in range(HOLD[op.kind]))
        return times

    def decode(self, output: list[tuple[float, int]], op: Op, t0: int) -> tuple[set, set]:
        """Cues and content bits that ``output`` spiked at ``op``'s read-out ticks (:data:`READ`)
        after ``t0``."""
        ticks = {t0 + dt for dt in READ[op.kind]}
        fired = {n for t, n in output if int(round(t)) in ticks}
        return ({n for n in fired if n < self.cue_size},
                {n - self.cue_size for n in fired if n >= self.cue_size})

    def run(self, ops: list[Op], backend: str = "fixed", spacing: int | None = None) -> Recall:
        """Play ``ops`` (see :meth:`schedule`) and decode each operation's answer."""
        starts = self.schedule(ops, spacing)
        self.input.spike_times = self.input_spikes(ops, starts)
        end = starts[-1] + max(GAP[ops[-1].kind], READ[ops[-1].kind][1] + 1)
        out = self.machine.run(end, backend)
        answers = [self.decode(out["spikes"]["output"], op, t0)
                   for op, t0 in zip(ops, starts, strict=True)]
        return Recall(answers, starts, out["spikes"], out["counters"])

    def learn(self, cue: int, bits, backend: str = "fixed") -> Recall:
        return self.run([learn(cue, bits)], backend)

    def recall_by_cue(self, cue: int, backend: str = "fixed") -> Recall:
        return self.run([recall_cue(cue)], backend)

    def recall_by_content(self, bits, backend: str = "fixed") -> Recall:
        return self.run([recall_content(bits)], backend)


class ReferenceCAM:
    """The ideal content-addressable memory the spiking one implements: learning a cue replaces
    its content; recall by cue returns the cue and its content; recall by content returns the
    given bits and every cue whose content shares at least one of them.

    ``side_effects=True`` adds what the spiking circuit does besides (its plastic synapses never
    stop learning): content -> cue links survive relearning, and a recall by content links every
    given bit to every cue it returned."""

    def __init__(self, side_effects: bool = False):
        self.side_effects = side_effects
        self.memory: dict[int, set] = {}        # cue -> content (what recall by cue answers)
        self.links: dict[int, set] = {}         # cue -> bits that recall it by content

    def __call__(self, op: Op) -> tuple[set, set]:
        bits = set(op.bits)
        if op.kind == "learn":
            self.memory[op.cue] = bits
            kept = self.links.get(op.cue, set()) if self.side_effects else set()
            self.links[op.cue] = kept | bits
            return {op.cue}, bits
        if op.kind == "cue":
            return {op.cue}, set(self.memory.get(op.cue, set()))
        cues = {c for c, linked in self.links.items() if linked & bits}
        if self.side_effects:
            for c in cues:
                self.links[c] |= bits
        return cues, bits

    def run(self, ops: list[Op]) -> list[tuple[set, set]]:
        return [self(op) for op in ops]
