"""Small model builders, one per architecture, sized by arguments."""

from .mlp import MLP, SpikingMLP

__all__ = ["MLP", "SpikingMLP"]
