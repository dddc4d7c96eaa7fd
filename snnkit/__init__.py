"""snnkit: spiking neurons, layers, training and hardware models for the executable course.

Import what you need from its modules: ``snnkit.neurons``, ``snnkit.functional``,
``snnkit.encoding``, ``snnkit.data``, ``snnkit.train``, ``snnkit.hw``, ``snnkit.viz``,
``snnkit.exercises``, ``snnkit.harness``.
"""

from .neurons import IF, LIF, PLIF

__version__ = "0.1.0"
__all__ = ["IF", "LIF", "PLIF"]
