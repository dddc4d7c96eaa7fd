"""Turning values into spike trains, and event streams into frames.

All encoders return time-first float tensors ``[T, ...]`` of 0/1 spikes (``delta`` returns
signed events split into ON and OFF channels).
"""

from __future__ import annotations

import torch


def rate(x: torch.Tensor, T: int, gain: float = 1.0, generator=None) -> torch.Tensor:
    """Bernoulli rate code: at each of ``T`` steps, spike with probability ``clamp(gain*x, 0, 1)``.

    ``x``: any shape, intensities in [0, 1]. Returns ``[T, *x.shape]``.
    """
    p = (gain * x).clamp(0, 1).expand(T, *x.shape)
    return torch.bernoulli(p, generator=generator)


def latency(x: torch.Tensor, T: int, threshold: float = 0.01) -> torch.Tensor:
    """Time-to-first-spike code: one spike per input, brighter inputs earlier.

    An input ``x`` in [0, 1] spikes once, at step ``round((1 - x) * (T - 1))``; inputs at or below
    ``threshold`` never spike. Returns ``[T, *x.shape]``.
    """
    t_spike = ((1 - x.clamp(0, 1)) * (T - 1)).round().long()
    steps = torch.arange(T, device=x.device).view(T, *([1] * x.dim()))
    return ((steps == t_spike) & (x > threshold)).to(x.dtype)


def direct(x: torch.Tensor, T: int) -> torch.Tensor:
    """Direct (repeat) code: the analogue input itself at every step. Returns ``[T, *x.shape]``."""
    return x.unsqueeze(0).expand(T, *x.shape).contiguous()


def delta(frames: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Events from frame differences, as a dynamic vision sensor would emit them.

    ``frames``: ``[T, ...]``. An ON (OFF) event fires where a frame rose (fell) by more than
    ``threshold`` since the last event at that pixel; the reference then moves by one threshold
    per event (at most one event per step and polarity). Returns ``[T, 2, ...]``: channel 0 ON,
    channel 1 OFF.
    """
    ref = frames[0].clone()
    out = torch.zeros(frames.shape[0], 2, *frames.shape[1:], dtype=frames.dtype,
                      device=frames.device)
    for t in range(1, frames.shape[0]):
        diff = frames[t] - ref
        on, off = diff > threshold, diff < -threshold
        out[t, 0], out[t, 1] = on.to(frames.dtype), off.to(frames.dtype)
        ref = ref + threshold * (on.to(frames.dtype) - off.to(frames.dtype))
    return out


SACCADE_PATH = ((0.0, 0.0), (1.5, 3.0), (3.0, 0.0), (0.0, 0.0))  # pixels (x, y), a triangle


def saccades(image: torch.Tensor, steps: int = 30, path=SACCADE_PATH, pad: int = 3
             ) -> torch.Tensor:
    """A video of a static image seen by a camera that moves along ``path``, as N-MNIST was
    recorded (three saccades along a triangle, Orchard et al. 2015; the amplitude here is an
    approximation). Each leg takes ``steps`` frames; shifts are sub-pixel (bilinear).

    ``image``: ``[H, W]``. Returns ``[(len(path) - 1) * steps, H + 2 pad, W + 2 pad]``; feed it
    to :func:`delta` for events.
    """
    canvas = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    h, w = canvas.shape
    shifts = [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps)
              for (x0, y0), (x1, y1) in zip(path[:-1], path[1:], strict=True)
              for k in range(steps)]
    theta = torch.tensor([[[1.0, 0.0, -2 * dx / w], [0.0, 1.0, -2 * dy / h]]
                          for dx, dy in shifts], dtype=canvas.dtype)
    grid = torch.nn.functional.affine_grid(theta, (len(shifts), 1, h, w), align_corners=False)
    batch = canvas.expand(len(shifts), 1, h, w)
    return torch.nn.functional.grid_sample(batch, grid, align_corners=False)[:, 0]


def events_to_frames(events: torch.Tensor, T: int, size: tuple[int, int],
                     duration: float | None = None) -> torch.Tensor:
    """Bin an event stream into ``T`` frames of event counts.

    ``events``: ``[E, 4]`` rows ``(x, y, polarity, t)`` with polarity 1 = ON (brighter), 0 = OFF
    and ``t`` in microseconds (as the N-MNIST loader returns). ``size``: ``(width, height)``.
    ``duration``: the stream length in microseconds (default: last timestamp + 1).
    Returns ``[T, 2, height, width]``: channel 0 ON, channel 1 OFF, as :func:`delta`.
    """
    width, height = size
    frames = torch.zeros(T, 2, height, width)
    if len(events) == 0:
        return frames
    x, y, p, t = (events[:, i].long() for i in range(4))
    duration = float(t.max() + 1) if duration is None else duration
    b = (t.double() * T / duration).long().clamp(max=T - 1)
    index = ((b * 2 + (1 - p)) * height + y) * width + x
    frames.view(-1).index_add_(0, index, torch.ones(len(index)))
    return frames
