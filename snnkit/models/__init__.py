"""Small model builders, one per architecture, sized by arguments."""

from .meta_spikeformer import MetaSpikeFormer
from .metaformer import MetaFormer, SpikingMetaFormer
from .mlp import MLP, SpikingMLP
from .spikformer import MaskedReconstruction, Spikformer
from .step import SpikingTransformer, benchmark
from .transformer import (
    CharLM,
    Forecaster,
    PatchClassifier,
    Transformer,
    TransformerBlock,
    sinusoidal_pe,
)

__all__ = ["MLP", "CharLM", "Forecaster", "MaskedReconstruction", "MetaFormer",
           "MetaSpikeFormer", "PatchClassifier", "SpikingMLP", "SpikingMetaFormer",
           "SpikingTransformer", "Spikformer", "Transformer", "TransformerBlock", "benchmark",
           "sinusoidal_pe"]
