"""A spiking multilayer perceptron and its non-spiking twin (same layers, ReLU for LIF)."""

from __future__ import annotations

import torch
from torch import nn

from .. import encoding
from ..neurons import LIF


class SpikingMLP(nn.Module):
    """``Linear -> LIF -> ... -> Linear``, read out as the time-average of the last layer.

    Args:
        sizes: layer widths, e.g. ``(64, 128, 10)``.
        T: time steps for static input.
        encoder: ``"direct"`` (the analogue input at every step) or ``"rate"`` (Bernoulli spikes).
        beta, threshold, surrogate: passed to every :class:`~snnkit.neurons.LIF`.

    ``forward(x)``: ``x`` ``[B, in]`` static input (encoded over ``T`` steps) or ``[T, B, in]``
    already time-first (spikes or currents). Returns logits ``[B, out]``.
    """

    def __init__(self, sizes, T=8, encoder="direct", beta=0.9, threshold=1.0, surrogate="atan"):
        super().__init__()
        if encoder not in ("direct", "rate"):
            raise ValueError(f"encoder must be 'direct' or 'rate', got {encoder!r}")
        self.T, self.encoder = T, encoder
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                      strict=True))
        self.neurons = nn.ModuleList(LIF(beta, threshold, surrogate=surrogate)
                                     for _ in sizes[1:-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            return x
        return encoding.direct(x, self.T) if self.encoder == "direct" else encoding.rate(x, self.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode(x)
        for layer, neuron in zip(self.layers[:-1], self.neurons, strict=True):
            h, _ = neuron(layer(h))
        return self.layers[-1](h).mean(0)


class MLP(nn.Module):
    """The non-spiking twin of :class:`SpikingMLP`: the same linear layers with ReLU."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                      strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
