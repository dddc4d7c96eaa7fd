"""A liquid state machine (LSM): a fixed, random, recurrent layer of LIF neurons whose spike counts
are the features for a trained readout (Maass et al. 2002; here after Lin et al. 2025, whose
random weights are the conductances of resistive memory cells after stochastic switching).

Dynamics, time-first, for input spikes ``x[t]`` ``[B, n_in]`` (hard reset by the spike)::

    u[t] = decay * u[t-1] * (1 - s[t-1]) + gain * (x[t] @ W_in + s[t-1] @ W_rec)
    s[t] = H(u[t] - v_th)          with H(0) = 1 (spike when u >= v_th)

The synapses are either dense tensors (software, "ideal") or :class:`~snnkit.hw.crossbar.Crossbar`
arrays, which multiply in the analogue domain with their quantised conductances and read noise.
:meth:`LSM.encode` turns the reservoir's spikes into features: spike counts per neuron in
``windows`` equal time windows.

Also here: :func:`cochleagram`, a software cochlea that turns a waveform into spikes (the paper's
audio came from a silicon cochlea, N-TIDIGITS; we record FSDD as spikes ourselves).
"""

from __future__ import annotations

import math

import torch

from .audio import log_mel, pad_clips
from .encoding import delta
from .hw.crossbar import Crossbar

Synapses = torch.Tensor | Crossbar


def rram_synapses(rows: int, cols: int, p_set: float, *, levels: int | None = 16,
                  read_noise: float = 0.02, d2d: float = 0.0, mu: float = -9.9,
                  sigma: float = 0.5, seed: int = 0) -> Crossbar:
    """A ``rows x cols`` crossbar whose cells were SET at random (:meth:`Crossbar.program_random`):
    each weight is ``(G+ - G-) / g_range``, zero when neither cell switched, about +-0.5 (median
    50 uS of a 99 uS range) when one did."""
    xbar = Crossbar(rows, cols, levels=levels, read_noise=read_noise, d2d=d2d, seed=seed)
    return xbar.program_random(p_set, mu, sigma)


def gaussian_synapses(rows: int, cols: int, density: float, std: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Software random weights ``[rows, cols]``: each present with probability ``density``, drawn
    from ``N(0, std^2)``, else 0 (the ideal LSM the crossbar's weights are compared with)."""
    mask = torch.rand(rows, cols, generator=generator) < density
    return mask * std * torch.randn(rows, cols, generator=generator)


def synapse_weights(w: Synapses) -> torch.Tensor:
    """The weight matrix ``[rows, cols]`` of dense or crossbar synapses (no read noise)."""
    return w.weights() if isinstance(w, Crossbar) else w


def _apply(w: Synapses, x: torch.Tensor) -> torch.Tensor:
    return w.matvec(x) if isinstance(w, Crossbar) else x @ w


def lsm_run(x: torch.Tensor, w_in: Synapses, w_rec: Synapses, decay: float, v_th: float,
            gain: float = 1.0) -> torch.Tensor:
    """Run the reservoir on input spikes ``x`` ``[T, B, n_in]``; returns its spikes
    ``[T, B, n_res]``. ``w_in`` ``[n_in, n_res]`` and ``w_rec`` ``[n_res, n_res]`` are tensors or
    crossbars (each vector through a crossbar is one read). ``v_th`` and the membrane are in the
    weights' units times ``gain``."""
    T, B = x.shape[:2]
    drive = gain * _apply(w_in, x.reshape(T * B, -1)).view(T, B, -1)   # all steps at once
    u = torch.zeros_like(drive[0])
    s = torch.zeros_like(u)
    out = []
    for t in range(T):
        u = decay * u * (1 - s) + drive[t] + gain * _apply(w_rec, s)
        s = (u >= v_th).to(u.dtype)
        out.append(s)
    return torch.stack(out)


def window_counts(spikes: torch.Tensor, windows: int) -> torch.Tensor:
    """Spike counts per neuron in ``windows`` equal time windows: ``[T, B, N]`` ->
    ``[B, windows * N]`` (window-major). ``T`` must be a multiple of ``windows``."""
    T, B, N = spikes.shape
    if T % windows:
        raise ValueError(f"T={T} is not a multiple of windows={windows}")
    return spikes.view(windows, T // windows, B, N).sum(1).permute(1, 0, 2).reshape(B, -1)


class LSM:
    """A liquid state machine with fixed synapses ``w_in`` ``[n_in, n_res]`` and ``w_rec``
    ``[n_res, n_res]`` (tensors or crossbars; see :func:`rram_synapses`,
    :func:`gaussian_synapses`). ``decay`` (per step), ``v_th`` and ``gain`` as in
    :func:`lsm_run`; ``windows``: time windows of :meth:`encode`."""

    def __init__(self, w_in: Synapses, w_rec: Synapses, decay: float = 0.9, v_th: float = 5.0,
                 gain: float = 1.0, windows: int = 1):
        n_in, n_res = synapse_weights(w_in).shape
        if synapse_weights(w_rec).shape != (n_res, n_res):
            raise ValueError(f"w_rec must be {(n_res, n_res)}, got "
                             f"{tuple(synapse_weights(w_rec).shape)}")
        self.w_in, self.w_rec = w_in, w_rec
        self.n_in, self.n_res = n_in, n_res
        self.decay, self.v_th, self.gain, self.windows = decay, v_th, gain, windows

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Reservoir spikes ``[T, B, n_res]`` for input spikes ``x`` ``[T, B, n_in]``."""
        return lsm_run(x, self.w_in, self.w_rec, self.decay, self.v_th, self.gain)

    def encode(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Features ``[B, windows * n_res]``: the reservoir's spike counts per window, for input
        spikes ``x`` ``[T, B, n_in]`` (run in batches of ``batch_size``)."""
        return torch.cat([window_counts(self.run(x[:, i:i + batch_size]), self.windows)
                          for i in range(0, x.shape[1], batch_size)])

    @property
    def crossbars(self) -> list[Crossbar]:
        return [w for w in (self.w_in, self.w_rec) if isinstance(w, Crossbar)]


def ridge_readout(X: torch.Tensor, y: torch.Tensor, lam=1.0, classes: int | None = None
                  ) -> torch.Tensor:
    """The classic reservoir readout: least squares onto one-hot targets with an L2 penalty
    ``lam``, ``W = (X^T X + lam I)^-1 X^T Y``, or the equal ``X^T (X X^T + lam I)^-1 Y`` when
    there are fewer samples than features. ``X`` ``[N, D]`` (append a column of ones for a
    bias), ``y`` ``[N]``; ``lam`` a number or a sequence (one Gram matrix serves them all).
    Returns ``W`` ``[D, classes]`` (``[len(lam), D, classes]`` for a sequence); predict with
    ``(X @ W).argmax(-1)``."""
    X = X.float()
    Y = torch.nn.functional.one_hot(y, classes or int(y.max()) + 1).float()
    lams = torch.as_tensor(lam, dtype=X.dtype)
    primal = X.shape[0] >= X.shape[1]
    G = X.T @ X if primal else X @ X.T
    eye = torch.eye(len(G), dtype=X.dtype)
    A = G + lams.reshape(-1, 1, 1) * eye                                   # [L, n, n]
    W = torch.linalg.solve(A, X.T @ Y) if primal else X.T @ torch.linalg.solve(A, Y)
    return W if lams.dim() else W[0]


def readout_accuracy(F: torch.Tensor, y: torch.Tensor, folds: int = 4,
                     lams=(1.0, 10.0, 100.0, 1e3, 1e4), seed: int = 0) -> float:
    """Test accuracy of a :func:`ridge_readout` on features ``F`` ``[N, D]`` (spike counts)
    with labels ``y`` ``[N]``, by ``folds``-fold cross-validation. Features are ``log1p``-ed and
    standardised with the training part's statistics, plus a bias column; within each training
    part, the last fifth picks ``lam`` from ``lams`` (the test fold never does)."""
    F = torch.log1p(F.float())
    classes = int(y.max()) + 1
    parts = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).chunk(folds)
    correct = 0
    for k, test in enumerate(parts):
        train = torch.cat([p for j, p in enumerate(parts) if j != k])
        mean, std = F[train].mean(0), F[train].std(0).clamp_min(1e-3)

        def design(idx, mean=mean, std=std):
            return torch.cat([(F[idx] - mean) / std, torch.ones(len(idx), 1)], 1)

        fit, val = train[: len(train) * 4 // 5], train[len(train) * 4 // 5:]
        W = ridge_readout(design(fit), y[fit], lams, classes)               # [L, D, C]
        val_acc = ((design(val) @ W).argmax(-1) == y[val]).float().mean(-1)
        lam = lams[int(val_acc.argmax())]
        W = ridge_readout(design(train), y[train], lam, classes)
        correct += int(((design(test) @ W).argmax(-1) == y[test]).sum())
    return correct / len(y)


def cochleagram(waves: list[torch.Tensor], T: int = 40, channels: int = 32,
                sample_rate: int = 8000, hop_s: float = 0.02, f_lo: float = 100.0
                ) -> torch.Tensor:
    """Log energy in ``channels`` mel-spaced bands (from ``f_lo`` Hz up), ``[T, N, channels]``,
    scaled to [0, 1] per recording over a 40 dB range below its loudest value: each of the ``N``
    1-D waveforms (``sample_rate`` Hz) cut or zero-padded to ``T hop_s`` seconds, with frames of
    ``2 hop_s`` every ``hop_s`` seconds (:func:`snnkit.audio.log_mel`)."""
    hop = int(hop_s * sample_rate)
    batch, _ = pad_clips(waves, T * hop)
    logs = log_mel(batch, sample_rate, channels, n_fft=2 * hop, hop=hop, f_min=f_lo, eps=1e-8)
    top = logs.amax((1, 2), keepdim=True)
    floor = top - math.log(1e4)                                             # 40 dB
    return ((logs - floor).clamp_min(0) / (top - floor)).transpose(0, 1)


def audio_spikes(waves: list[torch.Tensor], T: int = 40, channels: int = 32,
                 threshold: float = 0.1, **kw) -> torch.Tensor:
    """Spikes of ``N`` waveforms, ``[T, N, 2 channels]``: the delta code (ON, OFF) of their
    :func:`cochleagram`, as an event-based cochlea emits them (one event per ``threshold``
    change of a band's normalised log energy, at most one per step)."""
    return delta(cochleagram(waves, T, channels, **kw), threshold).transpose(1, 2).flatten(2)
