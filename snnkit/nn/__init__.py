"""Layers shared by the transformer chapters: attention and patch embeddings.

Pure functions (``scaled_dot_product``) sit beside thin modules that hold the weights.
"""

from .attention import MultiHeadAttention, causal_mask, scaled_dot_product
from .patch import ConvStem, PatchEmbed
from .spiking_attention import (
    SDSA,
    SSA,
    OpCount,
    SoftmaxAttention,
    attention_ops,
    sdsa,
    sdsa_linear,
    ssa,
    ssa_integer,
)

__all__ = ["SDSA", "SSA", "ConvStem", "MultiHeadAttention", "OpCount", "PatchEmbed",
           "SoftmaxAttention", "attention_ops", "causal_mask", "scaled_dot_product", "sdsa",
           "sdsa_linear", "ssa", "ssa_integer"]
