"""A fast audio front end in plain torch: short-time spectra, a mel filterbank, log-mel frames.

Written for short speech clips such as the 8 kHz Free Spoken Digits (:func:`snnkit.data.load_fsdd`)
and vectorised over a whole dataset at once (one ``torch.stft`` call), so a few thousand clips
take well under a second. Mel scale after O'Shaughnessy / HTK: ``mel(f) = 2595 log10(1 + f/700)``.

Shapes: a batch of clips is ``[N, samples]``; log-mel features are ``[N, frames, n_mels]``
(time before features, so ``features[:, t]`` is what a streaming model receives at frame ``t``).
Units: sample rate ``sr`` in Hz, ``win``/``hop``/``n_fft`` in samples.
"""

from __future__ import annotations

import math

import torch


def hz_to_mel(f):
    """Hz -> mel (HTK formula). Works on floats and tensors."""
    if torch.is_tensor(f):
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    """mel -> Hz, the inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sr: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular filters ``[n_mels, n_fft // 2 + 1]`` on the FFT bins (peak 1 each).

    Filter ``k`` rises linearly from the mel-spaced edge ``k`` to its centre ``k + 1`` and falls to
    edge ``k + 2``; the ``n_mels + 2`` edges are equally spaced in mel between ``f_min`` and
    ``f_max`` (default: Nyquist, ``sr / 2``).
    """
    f_max = sr / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sr / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sr/2, got {f_min}, {f_max}, sr={sr}")
    edges = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2,
                                     dtype=torch.float64))
    bins = torch.linspace(0, sr / 2, n_fft // 2 + 1, dtype=torch.float64)   # bin centres (Hz)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (bins - lo) / (mid - lo)
    fall = (hi - bins) / (hi - mid)
    return rise.minimum(fall).clamp(min=0).float()


def power_spectrogram(waves: torch.Tensor, n_fft: int = 256, hop: int = 80,
                      win: int | None = None) -> torch.Tensor:
    """Power ``|STFT|^2`` with a Hann window: ``[..., samples]`` -> ``[..., frames, n_fft//2+1]``.

    Frames are causal and not centred: frame ``t`` covers samples ``[t*hop, t*hop + win)`` (the
    clip is zero-padded at the end to fill the last frame), so the number of frames is
    ``ceil(samples / hop)`` and frame ``t`` needs no future audio beyond its own window.
    """
    win = n_fft if win is None else win
    if win > n_fft:
        raise ValueError(f"window {win} longer than n_fft {n_fft}")
    shape, samples = waves.shape[:-1], waves.shape[-1]
    frames = -(-samples // hop)
    pad = (frames - 1) * hop + n_fft - samples
    x = torch.nn.functional.pad(waves.reshape(-1, samples), (0, pad))
    spec = torch.stft(x, n_fft, hop, win, torch.hann_window(win, periodic=True, dtype=x.dtype),
                      center=False, return_complex=True)                   # [B, bins, frames]
    return spec.abs().square().transpose(1, 2).reshape(*shape, frames, -1)


def log_mel(waves: torch.Tensor, sr: int, n_mels: int = 40, n_fft: int = 256, hop: int = 80,
            win: int | None = None, f_min: float = 0.0, f_max: float | None = None,
            eps: float = 1e-6) -> torch.Tensor:
    """Log-mel energies ``[..., frames, n_mels]`` of clips ``[..., samples]`` (natural log of the
    mel-filtered power spectrum, ``eps`` added). Defaults for 8 kHz speech: 32 ms FFT, 10 ms hop."""
    fb = mel_filterbank(n_mels, n_fft, sr, f_min, f_max).to(waves.device, waves.dtype)
    return torch.log(power_spectrogram(waves, n_fft, hop, win) @ fb.T + eps)


def pad_clips(waves: list[torch.Tensor], samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length clips into ``[N, samples]``: longer clips are cut at the end, shorter
    ones zero-padded at the end (onsets stay at sample 0). Also returns each clip's kept length
    ``[N]`` (samples), so a model can tell speech frames from padding."""
    out = torch.zeros(len(waves), samples)
    lengths = torch.empty(len(waves), dtype=torch.long)
    for i, w in enumerate(waves):
        n = min(len(w), samples)
        out[i, :n] = w[:n]
        lengths[i] = n
    return out, lengths
