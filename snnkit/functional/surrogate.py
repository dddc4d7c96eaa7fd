"""Surrogate gradients for the spike's Heaviside step.

The forward pass of every surrogate is the same step, ``s = (v > 0)`` with ``v = h - threshold``
(strictly greater, as snnTorch). Only the backward pass differs: it replaces the step's
derivative (zero almost everywhere) by a smooth bump ``derivative(v)`` of a given width.

Each surrogate is a small object with a ``name``, a width parameter and ``derivative_(v)``, which
overwrites ``v`` with the derivative (in place, so the fused multi-step neurons in
:mod:`snnkit.functional.lif` allocate nothing for it); ``derivative(v)`` is the same on a copy.
Calling a surrogate on ``v`` returns spikes whose gradient is that derivative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.surrogate = surrogate
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (v,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(v), None


class Surrogate:
    """Base class: a Heaviside forward pass with ``derivative(v)`` as its backward pass."""

    name = "surrogate"

    def derivative_(self, v: torch.Tensor) -> torch.Tensor:
        """Overwrite ``v`` (any shape) with ``dS/dv`` and return it."""
        raise NotImplementedError

    def derivative(self, v: torch.Tensor) -> torch.Tensor:
        """``dS/dv`` at ``v`` (any shape), leaving ``v`` unchanged."""
        return self.derivative_(v.clone())

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """Spikes ``(v > 0)`` as float, same shape as ``v``, with the surrogate gradient."""
        return _SpikeFn.apply(v, self)


@dataclass(frozen=True)
class ATan(Surrogate):
    """Arctangent surrogate (Fang et al. 2021; snnTorch's default ``atan``).

    ``dS/dv = (alpha/2) / (1 + (pi/2 * alpha * v)^2)``; a larger ``alpha`` is a narrower bump.
    """

    alpha: float = 2.0
    name = "atan"

    def derivative_(self, v):
        return v.mul_(math.pi / 2 * self.alpha).square_().add_(1).reciprocal_().mul_(self.alpha / 2)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """Fast sigmoid (SuperSpike, Zenke & Ganguli 2018; snnTorch's ``fast_sigmoid``).

    ``dS/dv = 1 / (slope * |v| + 1)^2``.
    """

    slope: float = 25.0
    name = "fast_sigmoid"

    def derivative_(self, v):
        return v.abs_().mul_(self.slope).add_(1.0).square_().reciprocal_()


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangle (Esser et al. 2016; Bellec et al. 2018): ``max(0, 1 - |v|/width) / width``.

    Its area is 1, like the step it stands in for. (snnTorch's ``triangular`` is a different,
    sign-flipping function and is not matched here.)
    """

    width: float = 1.0
    name = "triangle"

    def derivative_(self, v):
        return v.abs_().div_(-self.width).add_(1).clamp_(min=0).div_(self.width)


@dataclass(frozen=True)
class StraightThrough(Surrogate):
    """Straight-through estimator: gradient 1 where ``|v| < width/2`` (everywhere by default,
    as snnTorch's ``straight_through_estimator``)."""

    width: float = math.inf
    name = "straight_through"

    def derivative_(self, v):
        return torch.lt(v.abs_(), self.width / 2, out=v)


@dataclass(frozen=True)
class Heaviside(Surrogate):
    """No surrogate: the step's true derivative, zero wherever it is defined. Training with it
    gets no gradient at all; it is here to show why surrogates exist."""

    name = "heaviside"

    def derivative_(self, v):
        return v.zero_()


SURROGATES = {cls.name: cls for cls in (ATan, FastSigmoid, Triangle, StraightThrough, Heaviside)}


def get(name_or_obj: str | Surrogate | None) -> Surrogate:
    """A surrogate from its name (``"atan"``, ``"fast_sigmoid"``, ``"triangle"``,
    ``"straight_through"``, ``"heaviside"``) with its default width, or the object itself."""
    if name_or_obj is None:
        return ATan()
    if isinstance(name_or_obj, Surrogate):
        return name_or_obj
    if name_or_obj not in SURROGATES:
        raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, got {name_or_obj!r}")
    return SURROGATES[name_or_obj]()
