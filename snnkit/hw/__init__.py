"""Hardware models: the energy model (and, in later parts, device simulators)."""

from .energy import CostReport, EnergyTable, LayerCost, count_ops

__all__ = ["CostReport", "EnergyTable", "LayerCost", "count_ops"]
