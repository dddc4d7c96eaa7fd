"""Small model builders, one per architecture, sized by arguments."""

from .mlp import MLP, SpikingMLP
from .transformer import (
    CharLM,
    Forecaster,
    PatchClassifier,
    Transformer,
    TransformerBlock,
    sinusoidal_pe,
)

__all__ = ["MLP", "CharLM", "Forecaster", "PatchClassifier", "SpikingMLP", "Transformer",
           "TransformerBlock", "sinusoidal_pe"]
