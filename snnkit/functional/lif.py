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
  keeps only the membrane; the backward pass runs the time loop in reverse by hand. Its loops run
  eagerly in place, or (``compiled=True``) out of place through ``torch.compile``.
"""

from __future__ import annotations

import warnings

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
    h = _update(x, h, (h > threshold).to(h.dtype).detach(), beta, threshold, reset)
    return surrogate(h - threshold), h


def _update(x, h, r, beta, threshold: float, reset: str):
    """The membrane update of one step, given the previous step's spike ``r``."""
    if reset == "subtract":
        return (beta * h + x) - r * threshold
    if reset == "zero":
        return beta * ((1 - r) * h) + x
    return beta * h + x


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
    ``h0=None`` is a neuron at rest: its first step is ``h[0] = x[0]`` (one copy).
    """
    mem, spikes = torch.empty_like(x), torch.empty_like(x)
    h = h0
    for t in range(x.shape[0]):
        out = mem[t]
        if h is None:
            out.copy_(x[t])
            h = out
            continue
        r = torch.gt(h, threshold, out=spikes[t - 1]) if t > 0 else (h > threshold).to(x.dtype)
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


def _backward_loop(grad_s, grad_h, mem, h0, beta, threshold, reset, surrogate, need_beta,
                   need_h0=True):
    """Reverse-time pass. Returns gradients for ``x`` ``[T, ...]``, ``h0`` (``None`` unless
    ``need_h0``) and (if ``need_beta``) the unreduced ``beta`` term
    ``sum_t dL/dh[t] * dh[t]/dbeta``. ``h0=None`` is a neuron at rest.

    Everything that does not depend on the carried gradient is computed for all steps at once;
    the loop itself is two kernels a step: ``dh[t] = g[t] + carry``, ``carry = dh[t] * m[t]``.
    With one step and neither ``h0`` nor ``beta`` needed, only the first line is left.
    """
    if grad_s is None:  # only the membrane was used
        grad_x = grad_h.clone()
    else:
        grad_x = surrogate.derivative_(mem - threshold).mul_(grad_s)
        if grad_h is not None:
            grad_x.add_(grad_h)
    T = mem.shape[0]
    if T == 1 and not (need_h0 or need_beta):
        return grad_x, None, None
    if (reset == "zero" or need_beta) and h0 is None:
        h0 = torch.zeros_like(mem[0])
    h_prev = torch.cat([h0.unsqueeze(0), mem[:-1]]) if reset == "zero" or need_beta else None
    keep = (h_prev <= threshold).to(mem.dtype) if reset == "zero" else None  # not reset at t
    decay = (beta * keep if reset == "zero" else beta).expand_as(mem)
    carry, buffer = None, torch.empty_like(mem[0])
    for t in range(T - 1, -1, -1):
        dh = grad_x[t] if carry is None else grad_x[t].add_(carry)
        carry = torch.mul(dh, decay[t], out=buffer) if t > 0 or need_h0 else None
    if not need_beta:
        return grad_x, carry, None
    return grad_x, carry, grad_x * (h_prev * keep if reset == "zero" else h_prev)


def _forward_graph(x, h0, beta, threshold: float, reset: str):
    """:func:`_forward_loop` written out of place, the form ``torch.compile`` fuses well."""
    h, mems = h0, []
    for t in range(x.shape[0]):
        h = _update(x[t], h, (h > threshold).to(x.dtype), beta, threshold, reset)
        mems.append(h)
    mem = torch.stack(mems)
    return (mem > threshold).to(x.dtype), mem


def _backward_graph(grad_s, grad_h, mem, h0, beta, threshold, reset, surrogate, need_beta,
                    need_h0=True):
    """:func:`_backward_loop` written out of place, the form ``torch.compile`` fuses well
    (``h0`` is a tensor here; its gradient is always returned)."""
    if grad_s is None:
        g = grad_h
    else:
        g = surrogate.derivative(mem - threshold) * grad_s
        g = g if grad_h is None else g + grad_h
    h_prev = torch.cat([h0.unsqueeze(0), mem[:-1]])
    keep = (h_prev <= threshold).to(mem.dtype)
    decay = (beta * keep if reset == "zero" else beta).expand_as(mem)
    carry, grads = torch.zeros_like(mem[0]), [None] * mem.shape[0]
    for t in range(mem.shape[0] - 1, -1, -1):
        grads[t] = g[t] + carry
        carry = grads[t] * decay[t]
    grad_x = torch.stack(grads)
    if not need_beta:
        return grad_x, carry, None
    return grad_x, carry, grad_x * (h_prev * keep if reset == "zero" else h_prev)


_compiled: dict[str, object] = {}


def _loops(compiled: bool):
    """The (forward, backward) loops: in-place eager ones, or the out-of-place ones compiled by
    ``torch.compile`` (once per process; each new shape compiles again, 5-50 s)."""
    if not compiled or _compiled.get("broken"):
        return _forward_loop, _backward_loop
    if "forward" not in _compiled:
        _compiled["forward"] = torch.compile(_forward_graph, dynamic=False)
        _compiled["backward"] = torch.compile(_backward_graph, dynamic=False)
    return _compiled["forward"], _compiled["backward"]


def _run(which: int, compiled: bool, *args):
    """Run the forward (0) or backward (1) loop; if compiling fails (no C compiler, an
    unsupported platform), warn once and use the eager loops from then on."""
    try:
        return _loops(compiled)[which](*args)
    except Exception as err:
        if not compiled or _compiled.get("broken"):
            raise
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); "
                      "using the eager LIF loops", stacklevel=3)
        _compiled["broken"] = True
        return _loops(False)[which](*args)


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, beta, threshold, reset, surrogate, compiled):
        spikes, mem = _run(0, compiled, x, h0, beta, threshold, reset)
        ctx.save_for_backward(mem, h0, beta)
        ctx.settings = (threshold, reset, surrogate, compiled)
        ctx.set_materialize_grads(False)
        return spikes, mem

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_s, grad_h):
        if grad_s is None and grad_h is None:
            return (None,) * 7
        mem, h0, beta = ctx.saved_tensors
        threshold, reset, surrogate, compiled = ctx.settings
        grad_x, grad_h0, grad_beta = _run(
            1, compiled, grad_s, grad_h, mem, h0, beta, threshold, reset, surrogate,
            ctx.needs_input_grad[2], ctx.needs_input_grad[1])
        if grad_beta is not None:
            grad_beta = grad_beta.sum_to_size(beta.shape)
        return grad_x, grad_h0, grad_beta, None, None, None, None


def lif_sequence(
    x: torch.Tensor,
    beta: float | torch.Tensor,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate = ARCTAN,
    h0: torch.Tensor | None = None,
    compiled: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-step LIF with a hand-written backward pass over the whole time loop.

    ``x``: ``[T, B, ...]``; ``beta``: float or tensor broadcastable to ``x[0]`` (gradients flow to
    a tensor ``beta`` that requires them); ``h0``: initial membrane ``[B, ...]`` (zeros if None).
    Returns ``(spikes, membrane)``, both ``[T, B, ...]``; equal to
    :func:`lif_sequence_reference` in value and gradient.

    ``compiled=True`` runs both loops compiled by ``torch.compile`` into fused kernels (several
    times faster again, same numbers), at a one-off cost of 5-50 s per new shape: worth it for
    long training runs, not for a one-minute chapter. Where compiling fails it warns and runs the
    eager loops.
    """
    _check_reset(reset)
    if h0 is None and compiled:
        h0 = torch.zeros_like(x[0])
    if not torch.is_tensor(beta):
        beta = torch.tensor(float(beta), dtype=x.dtype, device=x.device)
    return _LIFSequence.apply(x, h0, beta, float(threshold), reset, surrogate, compiled)
