"""Adaptive-threshold spike coding of activations (SpikingBrain, Pan et al., 2025, Sec. 4).

Training view (their Eq. 19-21): each token's activation vector ``x`` gets its own threshold,
``V_th = mean(|x|) / k`` over the feature axis, and becomes an integer spike count
``s = round(x / V_th)`` (straight-through gradient), standing for ``x^ = s V_th``. This is a
multi-step integrate-and-fire neuron with soft reset collapsed into one step: fed ``x`` and
firing whenever the membrane passes ``V_th``, it emits ``s`` spikes (up to rounding).

Inference view (Eq. 22-23): the count is spread over virtual time steps, so a linear layer only
adds weight rows, once per spike: ``W x^ = V_th sum_t c_t W s_t`` with step weights ``c_t``.

- ``"binary"``:  s >= 0 as ``s`` unit spikes in ``{0, 1}``; T = max s steps, ``c_t = 1``.
- ``"ternary"``: signed ``s`` as ``|s|`` spikes of ``sign(s)`` in ``{-1, 0, 1}``; T = max |s|.
- ``"bitwise"``: ``sign(s)`` times the binary digits of ``|s|``, least significant first;
  T = ceil(log2(max|s| + 1)), ``c_t = 2^t``; spikes in ``{-1, 0, 1}`` ("bidirectional").
- ``"twos"``: the two's-complement digits of ``s`` in ``{0, 1}``; ``c_t = 2^t`` except the
  top step, ``-2^(T-1)``.

Every scheme decodes exactly (:func:`decode`), and :func:`spike_matmul` computes ``s @ W`` by
accumulating rows of ``W`` per spike. :func:`window_sparsity` is the report's sparsity figure:
the fraction of bit slots that do not fire when each value is sent bitwise in windows of
``window`` steps. :func:`quantize_linear_inputs` applies the coding to every linear layer of a
trained model, to measure what it costs and how sparse real activations are.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from ..quant import round_ste

SCHEMES = ("binary", "ternary", "bitwise", "twos")


def adaptive_threshold(x: torch.Tensor, k: float = 3.0, dim: int = -1, eps: float = 1e-12):
    """``(s, v_th)``: integer spike counts ``s`` (float tensor) and the threshold ``v_th =
    mean(|x|) / k`` over ``dim`` (kept as a size-1 axis). Backward: the rounding is straight
    through and the threshold a constant, so ``s * v_th`` passes the gradient unchanged."""
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    v_th = (x.detach().abs().mean(dim=dim, keepdim=True) / k).clamp_min(eps)
    return round_ste(x / v_th), v_th


def spike_quantize(x: torch.Tensor, k: float = 3.0, dim: int = -1) -> torch.Tensor:
    """``x^ = s V_th``, what the spikes stand for (straight-through gradient)."""
    s, v_th = adaptive_threshold(x, k, dim)
    return s * v_th


def _check(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


def num_steps(s: torch.Tensor, scheme: str) -> int:
    """The fewest time steps in which ``scheme`` can send every value of ``s``."""
    _check(scheme)
    top = int(s.abs().max()) if s.numel() else 0
    if scheme in ("binary", "ternary"):
        return top
    if scheme == "bitwise":
        return top.bit_length()
    lo, hi = (int(s.min()), int(s.max())) if s.numel() else (0, 0)
    return max((-lo - 1).bit_length(), hi.bit_length()) + 1 if lo < 0 or hi > 0 else 1


def step_weights(T: int, scheme: str) -> torch.Tensor:
    """The weight ``c_t`` of each of the ``T`` steps: ``[T]``."""
    _check(scheme)
    if scheme in ("binary", "ternary"):
        return torch.ones(T)
    c = 2.0 ** torch.arange(T, dtype=torch.float32)
    if scheme == "twos" and T:
        c[-1] = -c[-1]
    return c


def encode(s: torch.Tensor, scheme: str, steps: int | None = None) -> torch.Tensor:
    """Spike trains ``[T, *s.shape]`` (float) of the integer counts ``s``; ``T`` is ``steps``
    or :func:`num_steps`. Raises ``ValueError`` if ``s`` needs more steps or is negative under
    ``"binary"``."""
    need = num_steps(s, scheme)
    T = need if steps is None else steps
    if T < need:
        raise ValueError(f"{scheme} coding of these values needs {need} steps, got {T}")
    if scheme == "binary" and bool((s < 0).any()):
        raise ValueError("binary coding needs non-negative counts; use 'ternary' or 'bitwise'")
    s = s.round().long()
    t = torch.arange(T, device=s.device).view(-1, *([1] * s.dim()))
    if scheme in ("binary", "ternary"):
        spikes = s.sign().to(torch.int8) * (s.abs() > t)      # int8: T can be large
    elif scheme == "bitwise":
        spikes = s.sign() * ((s.abs() >> t) & 1)
    else:
        spikes = (torch.remainder(s, 2 ** T) >> t) & 1
    return spikes.float()


def decode(spikes: torch.Tensor, scheme: str) -> torch.Tensor:
    """The counts ``sum_t c_t spikes_t``: ``[T, ...]`` -> ``[...]``."""
    c = step_weights(spikes.shape[0], scheme).to(spikes.device)
    return torch.tensordot(c, spikes, dims=1)


def spike_matmul(spikes: torch.Tensor, W: torch.Tensor, scheme: str) -> torch.Tensor:
    """``decode(spikes) @ W`` computed event by event: for every step and every spike, add
    (or subtract) the spiking input's row of ``W``, then weight the step by ``c_t``.
    ``spikes``: ``[T, ..., in]``, ``W``: ``[in, out]``. Returns ``[..., out]``."""
    c = step_weights(spikes.shape[0], scheme)
    out = torch.zeros(*spikes.shape[1:-1], W.shape[1], dtype=W.dtype, device=W.device)
    for c_t, s_t in zip(c.tolist(), spikes, strict=True):
        pos, neg = (s_t > 0).to(W.dtype), (s_t < 0).to(W.dtype)
        out += c_t * (pos @ W - neg @ W)          # a sum of selected rows: additions only
    return out


def firing_stats(spikes: torch.Tensor) -> dict[str, float]:
    """``steps``, ``spikes`` (count), ``rate`` (spikes per slot) and ``sparsity`` (1 - rate) of
    spike trains ``[T, ...]``."""
    n = int(spikes.count_nonzero())
    slots = spikes.numel()
    return {"steps": spikes.shape[0], "spikes": n, "rate": n / slots if slots else 0.0,
            "sparsity": 1 - n / slots if slots else 1.0}


def window_sparsity(s: torch.Tensor, window: int = 3) -> float:
    """Fraction of silent bit slots when each value of ``s`` is sent bitwise (signed spikes) in
    windows of ``window`` steps: a value of ``b`` bits takes ``ceil(b / window)`` windows (at
    least one), and fires once per 1-bit of ``|s|``."""
    mag = s.round().abs().long().flatten()
    bits = torch.zeros_like(mag)
    ones = torch.zeros_like(mag)
    rest = mag.clone()
    while bool((rest > 0).any()):
        bits += (rest > 0).long()
        ones += rest & 1
        rest >>= 1
    windows = torch.clamp((bits + window - 1) // window, min=1)
    return 1 - ones.sum().item() / (window * windows.sum().item())


@contextlib.contextmanager
def quantize_linear_inputs(model: nn.Module, k: float = 3.0, record: dict | None = None):
    """Within the ``with`` block, every ``nn.Linear`` of ``model`` sees its input replaced by
    the adaptive-threshold spike value ``s V_th`` (per token, threshold ``mean|x| / k``).
    ``record``, if given, collects each layer's counts ``s`` (by module name, a list of tensors
    per call)."""
    hooks = []

    def hook(name):
        def pre(_module, args):
            s, v_th = adaptive_threshold(args[0], k)
            if record is not None:
                record.setdefault(name, []).append(s.detach())
            return (s * v_th, *args[1:])
        return pre

    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            hooks.append(module.register_forward_pre_hook(hook(name)))
    try:
        yield model
    finally:
        for h in hooks:
            h.remove()


def gaussian_within(limit: int, k: float) -> float:
    """``P(|round(x / V_th)| <= limit)`` for Gaussian ``x`` with ``V_th = E|x| / k`` (the
    population limit of :func:`adaptive_threshold` on wide Gaussian vectors):
    ``erf((limit + 1/2) V_th / (sigma sqrt 2))`` with ``E|x| = sigma sqrt(2/pi)``."""
    return math.erf((limit + 0.5) * math.sqrt(2 / math.pi) / k / math.sqrt(2))
