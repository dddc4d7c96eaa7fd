"""Small model builders, one per architecture, sized by arguments."""

from .ca3 import CA3Memory, ReferenceCAM
from .meta_spikeformer import MetaSpikeFormer
from .metaformer import MetaFormer, SpikingMetaFormer
from .mlp import MLP, SpikingMLP
from .place import DiehlCook, ModularSNN
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

__all__ = ["MLP", "CA3Memory", "CharLM", "DiehlCook", "Forecaster", "MaskedReconstruction",
           "MetaFormer", "MetaSpikeFormer", "ModularSNN", "PatchClassifier", "ReferenceCAM",
           "SpikingMLP", "SpikingMetaFormer", "SpikingTransformer", "Spikformer", "Transformer",
           "TransformerBlock", "benchmark", "sinusoidal_pe"]
