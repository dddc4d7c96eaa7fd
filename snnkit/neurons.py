"""Spiking neuron modules: thin ``nn.Module`` wrappers around :mod:`snnkit.functional`.

Every module takes time-first input ``[T, B, ...]`` in ``forward`` and returns
``(spikes, membrane)`` of the same shape; ``step`` advances one time step on ``[B, ...]`` for
streaming use. Conventions and numbers match ``snntorch.Leaky`` (decay ``beta``, ``threshold``,
reset by subtraction with a one-step delay, spike when ``membrane > threshold``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .functional import lif_sequence, lif_sequence_reference, lif_step
from .functional import surrogate as sg
from .functional.lif import _check_reset


class LIF(nn.Module):
    """Leaky integrate-and-fire neurons.

    Args:
        beta: membrane decay per time step, in (0, 1]; ``exp(-dt/tau)`` for a time constant tau.
            A float, or a tensor broadcastable to one step (one decay per neuron).
        threshold: firing threshold (same units as the input current).
        reset: ``"subtract"`` (default), ``"zero"`` or ``"none"``.
        surrogate: a :class:`~snnkit.functional.Surrogate` or its name (default arctan, alpha 2).
        fused: use the single autograd function over the time loop (fast); ``False`` uses the
            readable per-step reference loop. Both give the same numbers.
        compiled: run the fused loops through ``torch.compile`` (faster again after a one-off
            compile of 5-50 s per input shape; for long runs, not quick chapters).
    """

    def __init__(self, beta=0.9, threshold=1.0, reset="subtract", surrogate="atan", fused=True,
                 compiled=False):
        super().__init__()
        beta = torch.as_tensor(beta, dtype=torch.float32)
        if not ((beta > 0) & (beta <= 1)).all():
            raise ValueError(f"beta must be in (0, 1], got {beta}")
        _check_reset(reset)
        self.register_buffer("_beta", beta.clone())
        self.threshold = float(threshold)
        self.reset = reset
        self.surrogate = sg.get(surrogate)
        self.fused, self.compiled = fused, compiled

    @property
    def beta(self) -> torch.Tensor:
        """The decay actually used (a tensor; learnable in :class:`PLIF`)."""
        return self._beta

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        """``x``: ``[T, B, ...]`` input current. Returns ``(spikes, membrane)``, ``[T, B, ...]``."""
        if not self.fused:
            return lif_sequence_reference(x, self.beta, self.threshold, self.reset,
                                          self.surrogate, h0)
        return lif_sequence(x, self.beta, self.threshold, self.reset, self.surrogate, h0,
                            self.compiled)

    def step(self, x: torch.Tensor, h: torch.Tensor | None = None):
        """One step: ``x``, ``h``: ``[B, ...]``. Returns ``(spikes, membrane)``."""
        h = torch.zeros_like(x) if h is None else h
        return lif_step(x, h, self.beta, self.threshold, self.reset, self.surrogate)

    def extra_repr(self) -> str:
        beta = self.beta.detach()
        beta = f"{beta.item():.4g}" if beta.numel() == 1 else f"tensor{tuple(beta.shape)}"
        return (f"beta={beta}, threshold={self.threshold}, reset={self.reset!r}, "
                f"surrogate={self.surrogate}")


class IF(LIF):
    """Integrate-and-fire neurons: :class:`LIF` without leak (``beta = 1``)."""

    def __init__(self, threshold=1.0, reset="subtract", surrogate="atan", fused=True,
                 compiled=False):
        super().__init__(1.0, threshold, reset, surrogate, fused, compiled)


class PLIF(LIF):
    """Parametric LIF (Fang et al., ICCV 2021): the decay is learned, ``beta = sigmoid(w)``.

    ``shape=()`` learns one decay for the layer (as in the paper); a shape such as ``(N,)``
    learns one per neuron. ``beta`` is the initial decay.
    """

    def __init__(self, beta=0.5, threshold=1.0, reset="subtract", surrogate="atan", fused=True,
                 compiled=False, shape=()):
        super().__init__(beta, threshold, reset, surrogate, fused, compiled)
        if not 0 < float(beta) < 1:
            raise ValueError(f"PLIF's initial beta must be a number in (0, 1), got {beta}")
        w0 = math.log(beta / (1 - beta))
        self.w = nn.Parameter(torch.full(shape, w0))

    @property
    def beta(self) -> torch.Tensor:
        return torch.sigmoid(self.w)
