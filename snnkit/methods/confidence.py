"""Dynamic confidence (Li, Jones & Furber, ICCV 2023): stop each input once the network is
sure, and the oracle that shows how early it could have stopped.

The method runs on a low-latency converted SNN, built here in two steps:

- :class:`QCFS`, the quantisation-clip-floor-shift activation of Bu et al. (ICLR 2022), trains the
  ANN: ``lam / L * clamp(floor(x * L / lam + 1/2), 0, L)`` with a trainable clip ``lam`` per layer
  and a straight-through gradient for the floor;
- :func:`to_if_snn` copies its weights into integrate-and-fire neurons with threshold ``lam``,
  initial membrane ``lam / 2`` and reset by subtraction, whose firing rate times ``lam``
  approximates the QCFS output.

Decoding over time works on the cumulative output ``O(t) = sum_{k<=t} z(k)`` (``[T, B, C]``, steps
counted from 1): the prediction at step t is ``argmax O(t)`` and the confidence is
``c(t) = max softmax(O(t) / kappa)``. :func:`dynamic_exit` stops each input at the first step
with ``c(t) > c_th`` (or at ``T``); :func:`oracle_exit` stops it at the first step whose prediction
is correct, which needs the label and so shows what a stopping rule could at best achieve.
Inputs are independent, so exiting per input after a batched run gives the same steps and
predictions as masking inputs out of a batch as they finish (checked in the chapter).
"""

from __future__ import annotations

import torch
from torch import nn

from ..neurons import IF


class _FloorSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class QCFS(nn.Module):
    """Quantisation-clip-floor-shift activation with ``L`` levels and a trainable clip ``lam``.

    ``forward(x)`` (any shape) ``= lam / L * clamp(floor(x * L / lam + 0.5), 0, L)``: a staircase
    from 0 to ``lam`` in ``L`` steps, which an IF neuron with threshold ``lam`` reproduces in rate
    after enough time steps. Gradients reach ``x`` and ``lam`` through a straight-through floor.
    """

    def __init__(self, L: int = 16, lam: float = 4.0):
        super().__init__()
        if L < 1:
            raise ValueError(f"L must be a positive number of levels, got {L}")
        self.L = L
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = _FloorSTE.apply(x * self.L / self.lam + 0.5).clamp(0, self.L)
        return levels * self.lam / self.L

    def extra_repr(self) -> str:
        return f"L={self.L}, lam={self.lam.item():.3f}"


class QCFSMLP(nn.Module):
    """``Linear -> QCFS -> ... -> Linear``: the ANN to convert. ``forward(x)``: ``[B, in]`` ->
    logits ``[B, out]``."""

    def __init__(self, sizes, L: int = 16, lam: float = 4.0):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                      strict=True))
        self.acts = nn.ModuleList(QCFS(L, lam) for _ in sizes[1:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, act in zip(self.layers[:-1], self.acts, strict=True):
            x = act(layer(x))
        return self.layers[-1](x)


class IFNet(nn.Module):
    """The converted SNN: the ANN's linear layers, each QCFS replaced by IF neurons (threshold
    ``lam``, initial membrane ``lam / 2``, reset by subtraction) that pass on ``lam x spike``.

    ``forward(x, T)``: static input ``[B, in]`` presented at every step (direct coding) ->
    per-step outputs ``z`` ``[T, B, out]``.
    """

    def __init__(self, layers: nn.ModuleList, thresholds: list[float]):
        super().__init__()
        self.layers = layers
        self.neurons = nn.ModuleList(IF(threshold=th, reset="subtract") for th in thresholds)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        h = x.unsqueeze(0).expand(T, *x.shape)
        for layer, neuron in zip(self.layers[:-1], self.neurons, strict=True):
            current = layer(h)
            spikes, _ = neuron(current, torch.full_like(current[0], neuron.threshold / 2))
            h = spikes * neuron.threshold
        return self.layers[-1](h)


def to_if_snn(ann: QCFSMLP) -> IFNet:
    """Convert a trained :class:`QCFSMLP` (its layers are copied, not shared)."""
    import copy

    return IFNet(copy.deepcopy(ann.layers), [act.lam.item() for act in ann.acts])


def cumulative_outputs(z: torch.Tensor) -> torch.Tensor:
    """``O(t) = sum_{k<=t} z(k)``: ``[T, B, C]`` -> ``[T, B, C]``."""
    return z.cumsum(0)


def confidence(cum: torch.Tensor, kappa: float) -> torch.Tensor:
    """``c(t) = max_j softmax(O(t) / kappa)_j``: ``[T, B, C]`` -> ``[T, B]``."""
    return torch.softmax(cum / kappa, dim=-1).amax(-1)


def fixed_accuracy(cum: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Accuracy of ``argmax O(t)`` at every fixed step: ``[T]`` (index t-1 for step t)."""
    return (cum.argmax(-1) == y).float().mean(-1)


def _first(hit: torch.Tensor) -> torch.Tensor:
    """First step (1-based) where ``hit`` ``[T, B]`` is true, ``T`` where it never is."""
    T = hit.shape[0]
    steps = torch.arange(1, T + 1, device=hit.device).unsqueeze(1).expand_as(hit)
    return torch.where(hit, steps, T).amin(0)


def dynamic_exit(cum: torch.Tensor, kappa: float, c_th: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Stop each input at the first step with ``c(t) > c_th`` (at ``T`` if none).

    Returns ``(steps, pred)``: steps used ``[B]`` (1..T) and ``argmax O(step)`` ``[B]``.
    """
    steps = _first(confidence(cum, kappa) > c_th)
    return steps, _pred_at(cum, steps)


def oracle_exit(cum: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stop each input at the first step whose prediction is correct; an input that is never
    correct stops at step 1 (its answer is wrong whenever it stops). Per input this is the best
    possible stopping time, right if any step is right and as early as that allows: the
    potential a confidence rule, which cannot see the label, tries to reach.
    Returns ``(steps, pred)`` as :func:`dynamic_exit`."""
    correct = cum.argmax(-1) == y
    steps = torch.where(correct.any(0), _first(correct), 1)
    return steps, _pred_at(cum, steps)


def _pred_at(cum: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    idx = (steps - 1).view(1, -1, 1).expand(1, -1, cum.shape[-1])
    return cum.gather(0, idx)[0].argmax(-1)


def sweep(cum: torch.Tensor, y: torch.Tensor, kappas, thresholds) -> list[dict]:
    """Mean steps and accuracy of :func:`dynamic_exit` for every ``(kappa, c_th)`` pair:
    a list of ``{"kappa", "c_th", "steps", "acc"}``."""
    rows = []
    for kappa in kappas:
        for c_th in thresholds:
            steps, pred = dynamic_exit(cum, kappa, c_th)
            rows.append(dict(kappa=float(kappa), c_th=float(c_th),
                             steps=steps.float().mean().item(),
                             acc=(pred == y).float().mean().item()))
    return rows


def choose(rows: list[dict], min_acc: float) -> dict:
    """The fastest setting of a :func:`sweep` whose accuracy is at least ``min_acc`` (ties: the
    more accurate). Choose on validation data, never on the test set."""
    ok = [r for r in rows if r["acc"] >= min_acc]
    if not ok:
        raise ValueError(f"no setting reaches accuracy {min_acc:.4f}; "
                         f"best is {max(r['acc'] for r in rows):.4f}")
    return min(ok, key=lambda r: (r["steps"], -r["acc"]))
