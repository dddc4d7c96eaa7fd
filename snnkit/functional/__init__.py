"""Pure functions: neuron updates (single and fused multi-step) and surrogate gradients."""

from .frequency import highfreq_share, lif_gain, measured_gain
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
    "highfreq_share",
    "lif_gain",
    "lif_sequence",
    "lif_sequence_reference",
    "lif_step",
    "measured_gain",
]
