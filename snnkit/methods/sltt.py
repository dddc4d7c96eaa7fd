"""Spatial learning through time (SLTT; Meng et al., ICCV 2023): backpropagation through space
at every step, without the temporal route.

For a LIF layer (snnkit's convention, :mod:`snnkit.functional.lif`; ``r[t]`` is the previous
spike, already detached)::

    h[t] = beta * h[t-1] + x[t] - threshold * r[t],     s[t] = H(h[t] - threshold)

BPTT's gradient of the loss for the membrane has a spatial and a temporal term,
``dL/dh[t] = dL/ds[t] * sg'(h[t] - threshold) + beta * dL/dh[t+1]``. SLTT drops the temporal
term: the previous membrane enters each step detached (``beta * sg(h[t-1])``), and each step's
*instantaneous* loss is back-propagated as soon as that step is computed. Autograd then holds one
step's graph at a time, so training memory no longer grows with ``T``. SLTT-K back-propagates
only ``K`` randomly chosen steps and runs the others without a graph, so the backward work is
proportional to ``K``.

:class:`stepwise` runs an unchanged model (LIF modules between stateless layers, fed time-first
``[T, B, ...]`` one step at a time) with or without the temporal route; :func:`train_step` does
one minibatch with ``"bptt"``, ``"sltt"`` or ``"sltt-k"``, all three with the same loss, so the
only difference between them is which gradient routes they keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..functional import lif_step
from ..neurons import LIF

METHODS = ("bptt", "sltt", "sltt-k")


def instantaneous_loss(out: torch.Tensor, y: torch.Tensor, lam: float = 0.05) -> torch.Tensor:
    """The loss of one step: ``(1 - lam) * CE(out, y) + lam * MSE(out, onehot(y))``.

    ``out``: logits ``[B, C]`` of one time step; ``y``: labels ``[B]``. ``lam = 0.05`` as in the
    paper; ``lam = 0`` is plain cross-entropy.
    """
    ce = nn.functional.cross_entropy(out, y)
    if lam == 0:
        return ce
    onehot = nn.functional.one_hot(y, out.shape[-1]).to(out.dtype)
    return (1 - lam) * ce + lam * nn.functional.mse_loss(out, onehot)


class stepwise:
    """Context manager: the model's :class:`~snnkit.neurons.LIF` modules run one step per call,
    keeping their membrane between calls.

    Inside it, call the model on ``x[t:t+1]`` (``[1, B, ...]``) for ``t = 0 .. T-1``; each call
    returns that step's output. ``detach=True`` cuts the temporal route (SLTT): the stored membrane
    enters the next step detached. ``detach=False`` keeps it, and back-propagating the sum of the
    steps' losses is then exactly BPTT. Leaving the context restores the modules (their next
    ``forward`` is the usual multi-step one) and forgets the state.
    """

    def __init__(self, model: nn.Module, detach: bool = True):
        self.neurons = [m for m in model.modules() if isinstance(m, LIF)]
        if not self.neurons:
            raise ValueError("stepwise needs a model with snnkit LIF neurons")
        self.detach = detach

    def __enter__(self) -> stepwise:
        for neuron in self.neurons:
            neuron.forward = self._one_step(neuron)
        return self

    def __exit__(self, *exc) -> None:
        for neuron in self.neurons:
            del neuron.forward                     # back to the class's multi-step forward

    def _one_step(self, neuron: LIF):
        state: list[torch.Tensor | None] = [None]

        def forward(x: torch.Tensor, h0: torch.Tensor | None = None):
            if x.shape[0] != 1:
                raise ValueError(f"inside stepwise, feed one step [1, B, ...], got {x.shape}")
            h = state[0]
            if h is None:
                h = torch.zeros_like(x[0]) if h0 is None else h0
            elif self.detach:
                h = h.detach()
            s, h = lif_step(x[0], h, neuron.beta, neuron.threshold, neuron.reset,
                            neuron.surrogate)
            state[0] = h
            return s.unsqueeze(0), h.unsqueeze(0)

        return forward


@dataclass
class StepStats:
    """What one :func:`train_step` did: ``loss`` (the mean instantaneous loss over the
    back-propagated steps, a float), ``output`` (the time-averaged output ``[B, C]``, detached),
    ``backward_calls`` and ``graph_nodes`` (autograd nodes the backward passes traversed, summed
    over calls: a count of backward operations)."""

    loss: float
    output: torch.Tensor
    backward_calls: int
    graph_nodes: int


def graph_nodes(t: torch.Tensor) -> int:
    """Number of autograd nodes reachable from ``t`` (its backward graph), leaf accumulators
    included."""
    seen, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo.extend(fn for fn, _ in node.next_functions)
    return len(seen)


def grad_steps(T: int, method: str, K: int | None = None,
               generator: torch.Generator | None = None) -> list[int]:
    """The steps whose loss is back-propagated: all ``T`` for BPTT and SLTT, ``K`` sampled
    without replacement (sorted) for SLTT-K."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method != "sltt-k":
        return list(range(T))
    if K is None or not 1 <= K <= T:
        raise ValueError(f"sltt-k needs 1 <= K <= T={T}, got K={K}")
    return sorted(torch.randperm(T, generator=generator)[:K].tolist())


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, method: str = "sltt",
               K: int | None = None, loss_fn=instantaneous_loss,
               generator: torch.Generator | None = None) -> StepStats:
    """Run ``x`` (time-first ``[T, B, ...]``) through ``model`` step by step and accumulate the
    gradients of the mean instantaneous loss into the parameters' ``.grad``.

    ``model`` maps one step ``[1, B, ...]`` to logits ``[B, C]`` inside :class:`stepwise` (e.g.
    :class:`~snnkit.models.SpikingMLP`). ``method``:

    - ``"bptt"``: keep every route, one backward of ``mean_t loss_fn(o[t], y)`` at the end;
    - ``"sltt"``: detach the membrane, back-propagate ``loss_fn(o[t], y) / T`` at each step;
    - ``"sltt-k"``: like SLTT at ``K`` random steps (``loss / K`` each); the other steps run
      under ``no_grad``.

    Zero the gradients before and step the optimiser after, as with ``loss.backward()``.
    """
    T = x.shape[0]
    chosen = set(grad_steps(T, method, K, generator))
    outputs, total, calls, nodes = [], 0.0, 0, 0
    bptt_loss = 0.0
    with stepwise(model, detach=method != "bptt"):
        for t in range(T):
            with torch.set_grad_enabled(t in chosen):
                out = model(x[t:t + 1])
            outputs.append(out.detach())
            if t not in chosen:
                continue
            loss = loss_fn(out, y) / len(chosen)
            total += loss.item()
            if method == "bptt":
                bptt_loss = bptt_loss + loss
                continue
            nodes += graph_nodes(loss)
            loss.backward()
            calls += 1
    if method == "bptt":
        nodes += graph_nodes(bptt_loss)
        bptt_loss.backward()
        calls = 1
    return StepStats(total, torch.stack(outputs).mean(0), calls, nodes)
