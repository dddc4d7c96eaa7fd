"""Hardware models: the energy model, and device simulators in submodules (``sfq``,
``crossbar``, ``spinnaker``)."""

from .energy import (
    CostReport,
    EnergyTable,
    LayerCost,
    MemoryModel,
    break_even_rate,
    compute_only,
    count_ops,
    input_rate,
    memory_aware,
)

__all__ = ["CostReport", "EnergyTable", "LayerCost", "MemoryModel", "break_even_rate",
           "compute_only", "count_ops", "input_rate", "memory_aware"]
