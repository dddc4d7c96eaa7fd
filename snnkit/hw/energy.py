"""One energy model for the whole book: count operations, then price them.

Counting (:func:`count_ops`) runs a model once with forward hooks on its synaptic layers
(``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d``) and its spiking neurons. A synaptic layer whose input
is binary (spikes) does one accumulate (AC) for every input spike and every output it reaches:
``nnz(x) x out_features`` for a linear layer, and for a convolution the exact count of (spike,
weight) pairs, borders and strides included. Any other input costs the dense
multiply-accumulates (MACs); ``spike_driven=False`` prices every layer that way (an ANN on
conventional hardware, even when its input happens to be 0/1).
Memory accesses are counted in words: every weight read once per input item (a vector for a linear
layer, an image for a convolution; no reuse across a batch, as in batch-1 inference, so the count
per sample does not depend on the batch size), every input element read (for spike input only the
spikes, as an address-event system reads them), every output element written.

Pricing (:class:`EnergyTable`): per-operation energies in picojoules at 45 nm, from
M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, the table
that spiking-network papers cite (Spikformer, Spike-driven Transformer, SEW-ResNet ...):
32-bit float add 0.9 pJ, multiply 3.7 pJ (so MAC 4.6 pJ); 16-bit float add 0.4, multiply 1.1;
32-bit integer add 0.1, multiply 3.1; 8-bit integer add 0.03, multiply 0.2; an 8 kB SRAM read of
64 bits 10 pJ (so 10 x bits/64 pJ per word). Integer widths between the table's rows scale the
8-bit figures: adds linearly and multiplies quadratically with the bit width. Neuron state updates
are counted (``neuron_updates``) but not priced, as in the papers above.

Multi-bit spikes (``spike_levels=D``): an input whose values are integer multiples ``k`` of one
unit with ``k <= D`` is ``D`` binary planes (:func:`snnkit.quant.spike_planes`) and costs one AC
per (spike, target) pair per unit, ``k`` for a spike of ``k`` units.

Event-driven hardware (:func:`event_energy`): every simulator in :mod:`snnkit.hw` counts its
events in a dict (packets, synaptic events, junction switchings ...) and publishes a table of
joules per event keyed by the same names; the price is the dot product of the two.

Memory-aware pricing (:func:`memory_aware`, after STEP, Shen et al. 2025): a spiking network pays,
per time step, for fetching its weights (unless they stay resident), reading and writing every
membrane potential and moving its spike maps; a quantised ANN pays its (cheap, low-bit) MACs
once, with one weight fetch and its activations. Every term is bits x SRAM energy per bit or an
operation count x Horowitz energy, with the bit widths in :class:`MemoryModel`. The SNN's cost is
linear in its input firing rate, so :func:`break_even_rate` solves ``E_SNN(rate) = E_QNN`` in
closed form.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

_HOROWITZ_45NM = {  # (add pJ, multiply pJ)
    ("float", 32): (0.9, 3.7),
    ("float", 16): (0.4, 1.1),
    ("int", 32): (0.1, 3.1),
    ("int", 8): (0.03, 0.2),
}
SRAM_PJ_PER_64_BITS = 10.0


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation (pJ) for one arithmetic: ``ac`` = add, ``mac`` = multiply + add,
    ``mem`` = one word read from an 8 kB SRAM."""

    kind: str = "float"
    bits: int = 32

    def _add_mul(self) -> tuple[float, float]:
        if (self.kind, self.bits) in _HOROWITZ_45NM:
            return _HOROWITZ_45NM[(self.kind, self.bits)]
        if self.kind != "int" or not 1 <= self.bits <= 64:
            raise ValueError(f"no energy figures for {self.kind}{self.bits}: use float32, "
                             "float16 or int1..int64")
        add8, mul8 = _HOROWITZ_45NM[("int", 8)]
        return add8 * self.bits / 8, mul8 * (self.bits / 8) ** 2

    @property
    def ac(self) -> float:
        return self._add_mul()[0]

    @property
    def mac(self) -> float:
        return sum(self._add_mul())

    @property
    def mem(self) -> float:
        return SRAM_PJ_PER_64_BITS * self.bits / 64


@dataclass
class LayerCost:
    """Counts for one layer, summed over all its calls in one forward pass, divided by
    ``samples``. ``rate`` is the fraction of non-zero inputs for a synaptic layer (1.0 for
    dense input) and the firing rate for neurons. ``dense_macs`` is what the layer would cost as
    dense MACs (whatever its input), ``inputs``/``outputs`` count its input and output elements,
    ``spike_input`` says whether its input was priced as spikes."""

    name: str
    kind: str
    params: int = 0
    macs: float = 0.0
    acs: float = 0.0
    mem_accesses: float = 0.0
    spikes: float = 0.0
    neuron_updates: float = 0.0
    rate: float = 1.0
    dense_macs: float = 0.0
    inputs: float = 0.0
    outputs: float = 0.0
    spike_input: bool = False
    _nonzero: float = field(default=0.0, repr=False)
    _inputs: float = field(default=0.0, repr=False)

    def energy_pj(self, table: EnergyTable) -> float:
        return self.macs * table.mac + self.acs * table.ac + self.mem_accesses * table.mem


@dataclass
class CostReport:
    """Per-layer counts of one forward pass, per sample, priced with ``table``."""

    layers: list[LayerCost]
    table: EnergyTable

    def total(self, key: str) -> float:
        return sum(getattr(layer, key) for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        """Total energy per sample (pJ): operations and memory accesses."""
        return sum(layer.energy_pj(self.table) for layer in self.layers)

    @property
    def compute_pj(self) -> float:
        """Energy of the arithmetic alone (pJ per sample): MACs and ACs, no memory."""
        return self.total("macs") * self.table.mac + self.total("acs") * self.table.ac

    def to_dict(self) -> dict:
        keys = ("params", "macs", "acs", "mem_accesses", "spikes", "neuron_updates")
        return {"table": asdict(self.table), "energy_pj": self.energy_pj,
                "compute_pj": self.compute_pj,
                **{k: self.total(k) for k in keys},
                "layers": [{k: v for k, v in asdict(layer).items() if not k.startswith("_")}
                           for layer in self.layers]}

    def __str__(self) -> str:
        head = (f"{'layer':<18}{'kind':<8}{'params':>9}{'MACs':>12}{'ACs':>12}{'rate':>9}"
                f"{'spikes':>10}{'mem':>11}{'energy nJ':>11}")
        rows = [head, "-" * len(head)]
        for c in self.layers:
            rows.append(f"{c.name[:17]:<18}{c.kind:<8}{c.params:>9,}{c.macs:>12,.0f}"
                        f"{c.acs:>12,.0f}{c.rate:>9.3f}{c.spikes:>10,.0f}"
                        f"{c.mem_accesses:>11,.0f}{c.energy_pj(self.table) / 1e3:>11.3f}")
        rows.append(f"total: {self.energy_pj / 1e3:.3f} nJ per sample "
                    f"({self.table.kind}{self.table.bits}, 45 nm, Horowitz 2014)")
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        return f"<pre>{self}</pre>"


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def _spike_counts(x: torch.Tensor, levels: int) -> torch.Tensor | None:
    """Spike counts per element if ``x`` is (multi-bit) spikes: ``x`` itself when binary, else
    ``x / unit`` when every value is a whole multiple ``k <= levels`` of its smallest non-zero
    value ``unit``. ``None`` for any other input."""
    if _is_binary(x):
        return x
    if levels <= 1 or bool((x < 0).any()) or not bool((x > 0).any()):
        return None
    counts = x / x[x > 0].min()
    if bool((counts.max() <= levels) & (counts - counts.round()).abs().lt(1e-4).all()):
        return counts.round()
    return None


def _synapse_counts(module: nn.Module, x: torch.Tensor, y: torch.Tensor, counts: torch.Tensor):
    """(items, dense MACs, ACs for spike ``counts``) for one call of a synaptic layer."""
    if isinstance(module, nn.Linear):
        items = x.numel() // module.in_features
        return items, items * module.in_features * module.out_features, \
            float(counts.sum()) * module.out_features
    dims = module.weight.dim() - 2                       # 1 or 2 spatial dimensions
    items = x.numel() // x.shape[-dims - 1:].numel()
    fan_in = module.in_channels // module.groups * math.prod(module.kernel_size)
    ones = torch.ones(module.groups, module.in_channels // module.groups, *module.kernel_size,
                      dtype=x.dtype, device=x.device)
    conv = nn.functional.conv1d if dims == 1 else nn.functional.conv2d
    reached = conv(counts.to(x.dtype), ones, None, module.stride, module.padding,
                   module.dilation, module.groups)      # spikes in each receptive field
    return items, y.numel() * fan_in, float(reached.sum()) * module.out_channels / module.groups


def count_ops(model: nn.Module, *inputs, samples: int, table: EnergyTable | None = None,
              spike_driven: bool = True, spike_levels: int = 1) -> CostReport:
    """Run ``model(*inputs)`` once without gradients and count its operations per sample.

    ``samples``: how many samples the inputs hold (the batch size; time steps are summed).
    ``spike_driven``: price binary inputs as ACs (True) or every layer as MACs (False).
    ``spike_levels``: also price inputs of up to this many spikes per element (multi-bit spikes,
    e.g. ``D`` of :class:`~snnkit.quant.IELIF`) as ACs, one per spike.
    Layers are reported in call order; neurons are snnkit's :class:`~snnkit.neurons.LIF` family
    and modules with the class attribute ``emits_spikes = True``, whose first output is taken as
    spikes. Inputs are moved to the model's device.
    """
    from ..neurons import LIF

    table = table or EnergyTable()
    costs: dict[str, LayerCost] = {}
    hooks = []

    def synapse_hook(name):
        def hook(module, args, y):
            x = args[0]
            c = costs.setdefault(name, LayerCost(name, type(module).__name__.lower(),
                                                 sum(p.numel() for p in module.parameters())))
            counts = _spike_counts(x, spike_levels) if spike_driven else None
            items, dense, spike_acs = _synapse_counts(module, x, y,
                                                      x != 0 if counts is None else counts)
            nonzero = float((x != 0).sum())
            c._nonzero += nonzero
            c._inputs += x.numel()
            c.dense_macs += dense
            c.inputs += x.numel()
            c.outputs += y.numel()
            if counts is not None:
                c.acs += spike_acs
                c.mem_accesses += c.params * items + float(counts.sum()) + y.numel()
                c.spike_input = True
            else:
                c.macs += dense
                c.mem_accesses += c.params * items + x.numel() + y.numel()
        return hook

    def neuron_hook(name):
        def hook(module, args, out):
            spikes = out[0] if isinstance(out, tuple) else out
            c = costs.setdefault(name, LayerCost(name, "neuron"))
            c.spikes += float(spikes.sum())
            c.neuron_updates += spikes.numel()
            c._nonzero += float(spikes.sum())
            c._inputs += spikes.numel()
        return hook

    device = next((p.device for p in model.parameters()), None)
    if device is not None:
        inputs = tuple(x.to(device) if torch.is_tensor(x) else x for x in inputs)
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            hooks.append(module.register_forward_hook(synapse_hook(name)))
        elif isinstance(module, LIF) or getattr(module, "emits_spikes", False):
            hooks.append(module.register_forward_hook(neuron_hook(name)))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    layers = list(costs.values())
    for c in layers:
        for key in ("macs", "acs", "mem_accesses", "spikes", "neuron_updates", "dense_macs",
                    "inputs", "outputs"):
            setattr(c, key, getattr(c, key) / samples)
        c.rate = c._nonzero / c._inputs if c._inputs else 0.0
    return CostReport(layers, table)


# ---------------------------------------------------------------- memory-aware model (STEP)

@dataclass(frozen=True)
class MemoryModel:
    """Bit widths and storage for :func:`memory_aware`.

    ``w_bits``: stored weight width (both networks); ``a_bits``: the quantised ANN's activation
    width (and any non-spike input of the SNN); ``u_bits``: the SNN's membrane potential, also
    its accumulator width; ``weights_resident``: the SNN keeps its weights on chip across time
    steps (fetched once per sample) instead of re-fetching them every step; ``sram_pj_per_bit``:
    energy to read or write one bit (default Horowitz's 8 kB SRAM, 10 pJ per 64 bits).
    """

    w_bits: int = 8
    a_bits: int = 8
    u_bits: int = 16
    weights_resident: bool = False
    sram_pj_per_bit: float = SRAM_PJ_PER_64_BITS / 64

    @property
    def e_add(self) -> float:
        """pJ per accumulate into a ``u_bits`` membrane."""
        return EnergyTable("int", self.u_bits).ac

    @property
    def e_mac(self) -> float:
        """pJ per ``max(w_bits, a_bits)``-bit integer multiply-accumulate."""
        return EnergyTable("int", max(self.w_bits, self.a_bits)).mac


def memory_aware(report: CostReport, steps: int, memory: MemoryModel | None = None, *,
                 kind: str = "snn", T: int | None = None, rate: float | None = None,
                 sparsity: float = 0.0) -> dict[str, float]:
    """Energy per sample (pJ) by part: ``compute``, ``weights``, ``activations``, ``membrane`` and
    ``total``, from the counts of a spiking network run for ``steps`` time steps.

    ``kind="snn"``, per time step: ACs (or MACs for non-spike input) x ``e_add`` (``e_mac``);
    weights x ``w_bits`` fetched every step (once with ``weights_resident``); one bit read per
    spike-input slot (``a_bits`` per non-spike input); per neuron update, the membrane read and
    written (``2 u_bits``) and one spike bit written. ``T`` and ``rate`` re-price the network as
    if it ran ``T`` steps with input firing rate ``rate`` on every spike-input layer (default: as
    measured).

    ``kind="qnn"``: the same layers as a quantised ANN in one pass: dense MACs x ``e_mac`` x
    ``(1 - sparsity)``, weights fetched once, activations read and written at ``a_bits``.
    """
    m = memory or MemoryModel()
    if kind not in ("snn", "qnn"):
        raise ValueError(f"kind must be 'snn' or 'qnn', got {kind!r}")
    T = steps if T is None else T
    bit = m.sram_pj_per_bit
    parts = dict.fromkeys(("compute", "weights", "activations", "membrane"), 0.0)
    for c in report.layers:
        if c.kind == "neuron":
            if kind == "snn":
                updates = c.neuron_updates / steps * T
                parts["membrane"] += updates * 2 * m.u_bits * bit
                parts["activations"] += updates * bit
            continue
        dense, n_in, n_out = c.dense_macs / steps, c.inputs / steps, c.outputs / steps
        if kind == "qnn":
            parts["compute"] += dense * m.e_mac * (1 - sparsity)
            parts["weights"] += c.params * m.w_bits * bit
            parts["activations"] += (n_in + n_out) * m.a_bits * bit
            continue
        fetches = 1 if m.weights_resident else T
        parts["weights"] += fetches * c.params * m.w_bits * bit
        if c.spike_input:
            acs = c.acs / steps * T if rate is None else rate * dense * T
            parts["compute"] += acs * m.e_add
            parts["activations"] += T * n_in * bit
        else:
            parts["compute"] += T * dense * m.e_mac
            parts["activations"] += T * n_in * m.a_bits * bit
    parts["total"] = sum(parts.values())
    return parts


def input_rate(report: CostReport) -> float:
    """The measured firing rate seen by the spike-input layers, weighted by their fan-out:
    ``sum(ACs) / sum(dense MACs)`` (the ``rate`` at which :func:`memory_aware` reproduces the
    measured ACs)."""
    layers = [c for c in report.layers if c.kind != "neuron" and c.spike_input]
    dense = sum(c.dense_macs for c in layers)
    return sum(c.acs for c in layers) / dense if dense else 0.0


def break_even_rate(report: CostReport, steps: int, memory: MemoryModel | None = None, *,
                    T: int | None = None, sparsity: float = 0.0) -> float:
    """The input firing rate at which the SNN (``T`` steps) costs as much as its quantised-ANN
    twin under :func:`memory_aware`: ``(E_QNN - E_SNN(0)) / (E_SNN(1) - E_SNN(0))``. Below it the
    SNN is cheaper; a negative value means the SNN loses even with no spikes at all."""
    e0 = memory_aware(report, steps, memory, T=T, rate=0.0)["total"]
    e1 = memory_aware(report, steps, memory, T=T, rate=1.0)["total"]
    qnn = memory_aware(report, steps, memory, kind="qnn", sparsity=sparsity)["total"]
    return (qnn - e0) / (e1 - e0)


def compute_only(report: CostReport, steps: int, kind: str = "snn",
                 table: EnergyTable | None = None) -> float:
    """Arithmetic energy alone (pJ per sample), the convention of most SNN papers: the SNN's
    measured MACs and ACs, or (``kind="ann"``) the same layers' dense MACs for one pass, priced
    with ``table`` (default float32: MAC 4.6 pJ, AC 0.9 pJ)."""
    table = table or EnergyTable()
    if kind == "snn":
        return report.total("macs") * table.mac + report.total("acs") * table.ac
    if kind == "ann":
        return sum(c.dense_macs for c in report.layers) / steps * table.mac
    raise ValueError(f"kind must be 'snn' or 'ann', got {kind!r}")


# ---------------------------------------------------------------- event-driven hardware

def event_energy(counters: dict, table: dict):
    """Joules spent on a simulator's counted events: ``sum_k counters[k] * table[k]``.

    ``table``: joules per event, keyed by counter name (e.g.
    :data:`snnkit.hw.spinnaker.ENERGY_J`, :func:`snnkit.hw.sfq.energy_table`); counters it does
    not price are ignored. Counts may be numbers or arrays (e.g. one per input pattern); the
    result has their shape.
    """
    missing = sorted(set(table) - set(counters))
    if missing:
        raise KeyError(f"counters lack {missing} priced by the table (have {sorted(counters)})")
    return sum(counters[k] * e for k, e in table.items())
