"""Frequency responses: the LIF membrane as a low-pass filter, and spectral energy of images.

The membrane update without reset, ``h[t] = beta * h[t-1] + x[t]`` (snnkit's convention, see
:mod:`snnkit.functional.lif`), is a first-order IIR filter ``H(z) = 1 / (1 - beta z^-1)`` with gain

    |H(e^{i w})| = 1 / sqrt(1 - 2 beta cos w + beta^2),      w in [0, pi] radians per step,

which falls monotonically from ``1 / (1 - beta)`` at ``w = 0`` to ``1 / (1 + beta)`` at the
Nyquist frequency ``w = pi`` (ratio ``(1 - beta) / (1 + beta)``; with ``beta = 1 - 1/tau`` this
is ``1 / (2 tau - 1)``). The IF neuron (``beta = 1``) has infinite DC gain: a pure integrator.
"""

from __future__ import annotations

import math

import torch


def lif_gain(beta: float, omega: torch.Tensor) -> torch.Tensor:
    """Analytic gain of the LIF membrane at angular frequencies ``omega`` (radians per step)."""
    omega = torch.as_tensor(omega, dtype=torch.float64)
    return 1.0 / torch.sqrt(1.0 - 2.0 * beta * torch.cos(omega) + beta ** 2)


def box_gain(k: int, omega: torch.Tensor) -> torch.Tensor:
    """Gain of a ``k``-tap moving average (1-D average pooling, stride 1):
    ``|sin(k w / 2) / (k sin(w / 2))|`` (1 at ``w = 0``)."""
    omega = torch.as_tensor(omega, dtype=torch.float64)
    num, den = torch.sin(k * omega / 2), k * torch.sin(omega / 2)
    return torch.where(den.abs() < 1e-12, torch.ones_like(omega), (num / den).abs())


def measured_gain(system, omegas: torch.Tensor, steps: int = 400, burn_in: int = 100
                  ) -> torch.Tensor:
    """Measure the gain of a time-first ``system`` at each frequency by driving it with
    ``cos(w t)`` for ``steps`` steps and fitting ``a cos(w t) + b sin(w t) + c`` to its output
    after ``burn_in`` steps (least squares): gain ``sqrt(a^2 + b^2)``.

    ``system`` maps ``[T, F]`` (one column per frequency) to ``[T, F]``, or to a tuple whose
    second item is that (a snnkit neuron's ``(spikes, membrane)``: the membrane is measured).
    Returns ``[F]`` gains (float64).
    """
    omegas = torch.as_tensor(omegas, dtype=torch.float64)
    t = torch.arange(steps, dtype=torch.float64)[:, None]
    x = torch.cos(omegas * t)
    with torch.no_grad():
        y = system(x.float())
    y = (y[1] if isinstance(y, tuple) else y).double()[burn_in:]
    t = t[burn_in:]
    gains = []
    for j, w in enumerate(omegas):
        basis = torch.cat([torch.cos(w * t), torch.sin(w * t), torch.ones_like(t)], 1)
        coef = torch.linalg.lstsq(basis, y[:, j:j + 1], driver="gelsd").solution[:, 0]
        gains.append(math.hypot(coef[0].item(), coef[1].item()))
    return torch.tensor(gains, dtype=torch.float64)


def highfreq_share(x: torch.Tensor, cutoff: float = 0.5) -> torch.Tensor:
    """Fraction of the spectral energy of images ``x`` ``[..., H, W]`` (mean removed per image)
    at radial frequencies above ``cutoff`` times Nyquist. Returns ``[...]``."""
    x = x - x.mean((-2, -1), keepdim=True)
    power = torch.fft.fft2(x.double()).abs() ** 2
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(x.shape[-1], dtype=torch.float64)[None, :]
    high = torch.sqrt(fy ** 2 + fx ** 2) > cutoff * 0.5        # Nyquist = 0.5 cycles per pixel
    total = power.sum((-2, -1))
    return (power * high).sum((-2, -1)) / total.clamp_min(1e-30)
