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
from .window_attention import (
    PatchMerging,
    SwinBlock,
    SwinClassifier,
    WindowAttention,
    cyclic_shift,
    shifted_window_mask,
    window_partition,
    window_reverse,
)

__all__ = ["ConvStem", "MultiHeadAttention", "OpCount", "PatchEmbed", "PatchMerging", "SDSA",
           "SSA", "SoftmaxAttention", "SwinBlock", "SwinClassifier", "WindowAttention",
           "attention_ops", "causal_mask", "cyclic_shift", "scaled_dot_product", "sdsa",
           "sdsa_linear", "shifted_window_mask", "ssa", "ssa_integer", "window_partition",
           "window_reverse"]
