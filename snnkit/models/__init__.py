"""Small model builders, one per architecture, sized by arguments."""

from .meta_spikeformer import MetaSpikeFormer
from .mlp import MLP, SpikingMLP
from .spikformer import MaskedReconstruction, Spikformer
from .transformer import (
    CharLM,
    Forecaster,
    PatchClassifier,
    Transformer,
    TransformerBlock,
    sinusoidal_pe,
)

__all__ = ["MLP", "CharLM", "Forecaster", "MaskedReconstruction", "MetaSpikeFormer",
           "PatchClassifier", "SpikingMLP", "Spikformer", "Transformer", "TransformerBlock",
           "sinusoidal_pe"]
