"""Hardware models: the energy model here, and device simulators in submodules: ``sfq``
(superconducting single-flux-quantum pulses), ``crossbar`` (memristor arrays), ``spinnaker``
(an event-driven fixed-point chip) and ``egru_deploy`` (an EGRU on that chip)."""

from .energy import (
    CostReport,
    EnergyTable,
    LayerCost,
    MemoryModel,
    break_even_rate,
    compute_only,
    count_ops,
    event_energy,
    input_rate,
    memory_aware,
)

__all__ = ["CostReport", "EnergyTable", "LayerCost", "MemoryModel", "break_even_rate",
           "compute_only", "count_ops", "event_energy", "input_rate", "memory_aware"]
