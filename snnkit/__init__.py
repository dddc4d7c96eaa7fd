"""snnkit: spiking neurons, layers, training and hardware models for the executable course.

Import what you need from its modules:

- neurons and layers: ``neurons``, ``functional``, ``encoding``, ``nn``, ``quant``,
  ``reservoir``, ``sequence``, ``models``;
- data: ``data`` (checksummed loaders), ``audio`` (filterbank front end);
- training: ``train``, ``methods``, ``memory``, ``metrics``, ``contrastive``, ``evolve``,
  ``control``;
- hardware: ``hw`` (energy model and device simulators);
- the course: ``chapters``, ``harness``, ``sweep``, ``exercises``, ``viz``, ``cli``.
"""

from .neurons import IF, LIF, PLIF

__version__ = "0.1.0"
__all__ = ["IF", "LIF", "PLIF"]
