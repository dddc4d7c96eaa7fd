"""Leaky integrate-and-fire dynamics as pure functions.

One step, with ``r[t] = (h[t-1] > threshold)`` the previous step's spike (detached) and
``beta`` the decay per step (``beta = 1`` is the non-leaky IF neuron)::

    subtract:  h[t] = beta * h[t-1] + x[t] - threshold * r[t]
    zero:      h[t] = beta * (1 - r[t]) * h[t-1] + x[t]
    none:      h[t] = beta * h[t-1] + x[t]
    spike:     s[t] = (h[t] > threshold)        backward: surrogate'(h[t] - threshold)

This is snnTorch's ``Leaky`` with its default delayed reset: the membrane returned at step t is
not yet reset; the reset is applied at the next step. Shapes: ``x`` is time-first ``[T, B, ...]``
for the multi-step functions and ``[B, ...]`` for :func:`lif_step`; ``beta`` is a float or a
tensor broadcastable to one step (per-neuron decay); units are arbitrary (threshold-relative).

Two multi-step paths give the same numbers:

- :func:`lif_sequence_reference`: a readable loop over :func:`lif_step`; autograd records every op.
- :func:`lif_sequence`: one ``torch.autograd.Function`` over the whole time loop. The forward pass
  keeps only the membrane; the backward pass runs the time loop in reverse by hand.
"""

from __future__ import annotations

import torch

from .surrogate import ATan, Surrogate

RESETS = ("subtract", "zero", "none")
ARCTAN = ATan()  # the default surrogate (immutable), as snnTorch's


def _check_reset(reset: str) -> None:
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")


def lif_step(
    x: torch.Tensor,
    h: torch.Tensor,
    beta: float | torch.Tensor,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate = ARCTAN,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step. ``x``, ``h``: ``[B, ...]``. Returns ``(spikes, new membrane)``."""
    _check_reset(reset)
    r = (h > threshold).to(h.dtype).detach()
    if reset == "subtract":
        h = (beta * h + x) - r * threshold
    elif reset == "zero":
        h = beta * ((1 - r) * h) + x
    else:
        h = beta * h + x
    return surrogate(h - threshold), h


def lif_sequence_reference(
    x: torch.Tensor,
    beta: float | torch.Tensor,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate = ARCTAN,
    h0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-step LIF as a plain loop. ``x``: ``[T, B, ...]``. Returns ``(spikes, membrane)``,
    both ``[T, B, ...]``."""
    h = torch.zeros_like(x[0]) if h0 is None else h0
    spikes, mems = [], []
    for x_t in x:
        s, h = lif_step(x_t, h, beta, threshold, reset, surrogate)
        spikes.append(s)
        mems.append(h)
    return torch.stack(spikes), torch.stack(mems)


def _forward_loop(x, h0, beta, threshold: float, reset: str):
    """Spikes and membrane ``[T, ...]`` of the whole sequence, computed in place, no autograd.

    Four elementwise kernels a step and no allocation: the same arithmetic, in the same order,
    as :func:`lif_step` (``(beta*h + x) - threshold*r``), so results are bit-identical. The reset
    ``r`` of step t is the spike of step t-1, so it is written straight into the spike tensor.
    """
    mem, spikes = torch.empty_like(x), torch.empty_like(x)
    r = torch.gt(h0, threshold).to(x.dtype)
    h = h0
    for t in range(x.shape[0]):
        if t > 0:
            r = torch.gt(h, threshold, out=spikes[t - 1])
        out = mem[t]
        if reset == "zero":
            torch.mul(h, 1 - r, out=out)
            out.mul_(beta).add_(x[t])
        else:
            torch.mul(h, beta, out=out)
            out.add_(x[t])
            if reset == "subtract":
                out.sub_(r, alpha=threshold)
        h = out
    torch.gt(h, threshold, out=spikes[-1])
    return spikes, mem


def _backward_loop(grad_s, grad_h, mem, h0, beta, threshold, reset, surrogate, need_beta):
    """Reverse-time pass. Returns gradients for ``x`` ``[T, ...]``, ``h0`` and (if ``need_beta``)
    the unreduced ``beta`` term ``sum_t dL/dh[t] * dh[t]/dbeta``.

    Everything that does not depend on the carried gradient is computed for all steps at once;
    the loop itself is two kernels a step: ``dh[t] = g[t] + carry``, ``carry = dh[t] * m[t]``.
    """
    if grad_s is None:  # only the membrane was used
        grad_x = grad_h.clone()
    else:
        grad_x = surrogate.derivative_(mem - threshold).mul_(grad_s)
        if grad_h is not None:
            grad_x.add_(grad_h)
    h_prev = torch.cat([h0.unsqueeze(0), mem[:-1]]) if reset == "zero" or need_beta else None
    decay = beta * (h_prev <= threshold).to(mem.dtype) if reset == "zero" else beta
    decay = torch.as_tensor(decay).expand_as(mem)
    carry = torch.zeros_like(mem[0])
    for t in range(mem.shape[0] - 1, -1, -1):
        dh = grad_x[t].add_(carry)
        torch.mul(dh, decay[t], out=carry)
    if not need_beta:
        return grad_x, carry, None
    if reset == "zero":
        h_prev = h_prev * (h_prev <= threshold).to(mem.dtype)
    return grad_x, carry, grad_x * h_prev


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, beta, threshold, reset, surrogate):
        spikes, mem = _forward_loop(x, h0, beta, threshold, reset)
        ctx.save_for_backward(mem, h0, beta)
        ctx.settings = (threshold, reset, surrogate)
        ctx.set_materialize_grads(False)
        return spikes, mem

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_s, grad_h):
        if grad_s is None and grad_h is None:
            return (None,) * 6
        mem, h0, beta = ctx.saved_tensors
        threshold, reset, surrogate = ctx.settings
        grad_x, grad_h0, grad_beta = _backward_loop(
            grad_s, grad_h, mem, h0, beta, threshold, reset, surrogate, ctx.needs_input_grad[2]
        )
        if grad_beta is not None:
            grad_beta = grad_beta.sum_to_size(beta.shape)
        return grad_x, grad_h0, grad_beta, None, None, None


def lif_sequence(
    x: torch.Tensor,
    beta: float | torch.Tensor,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate = ARCTAN,
    h0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-step LIF with a hand-written backward pass over the whole time loop.

    ``x``: ``[T, B, ...]``; ``beta``: float or tensor broadcastable to ``x[0]`` (gradients flow to
    a tensor ``beta`` that requires them); ``h0``: initial membrane ``[B, ...]`` (zeros if None).
    Returns ``(spikes, membrane)``, both ``[T, B, ...]``; equal to
    :func:`lif_sequence_reference` in value and gradient.
    """
    _check_reset(reset)
    if h0 is None:
        h0 = torch.zeros_like(x[0])
    if not torch.is_tensor(beta):
        beta = torch.tensor(float(beta), dtype=x.dtype, device=x.device)
    return _LIFSequence.apply(x, h0, beta, float(threshold), reset, surrogate)
