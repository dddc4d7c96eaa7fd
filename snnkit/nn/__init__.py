"""Layers shared by the transformer chapters: attention and patch embeddings.

Pure functions (``scaled_dot_product``) sit beside thin modules that hold the weights.
"""

from .attention import MultiHeadAttention, causal_mask, scaled_dot_product
from .patch import ConvStem, PatchEmbed

__all__ = ["ConvStem", "MultiHeadAttention", "PatchEmbed", "causal_mask", "scaled_dot_product"]
