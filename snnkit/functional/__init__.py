"""Pure functions: neuron updates (single and fused multi-step) and surrogate gradients."""

from .lif import RESETS, lif_sequence, lif_sequence_reference, lif_step
from .surrogate import ATan, FastSigmoid, Heaviside, StraightThrough, Surrogate, Triangle

__all__ = [
    "RESETS",
    "ATan",
    "FastSigmoid",
    "Heaviside",
    "StraightThrough",
    "Surrogate",
    "Triangle",
    "lif_sequence",
    "lif_sequence_reference",
    "lif_step",
]
