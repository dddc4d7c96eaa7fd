"""Time-step schedules: train at many steps, then shrink ``T`` stage by stage.

IIR-SNN (Chowdhury, Rathi & Roy, arXiv:2110.05929) trains at ``T=5``, then initialises a
``T=4`` network from it and retrains, and so on down to ``T=1``: each stage starts where the last
one ended. :func:`shrink_timesteps` runs any such schedule on a model with a settable ``T``
attribute (:class:`~snnkit.methods.conversion.DietSNN`, :class:`~snnkit.models.SpikingMLP`) and
records how good each stage's starting point is before it retrains.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from torch import nn


@contextmanager
def timesteps(model: nn.Module, T: int) -> Iterator[nn.Module]:
    """Run ``model`` with ``model.T = T`` inside the block; the old ``T`` comes back after."""
    old = model.T
    model.T = T
    try:
        yield model
    finally:
        model.T = old


def shrink_timesteps(model: nn.Module, Ts: Sequence[int],
                     train_fn: Callable[[nn.Module, int], dict],
                     eval_fn: Callable[[nn.Module], float] | None = None,
                     keep_states: bool = True) -> list[dict]:
    """Train ``model`` at each ``T`` in ``Ts`` in turn, each stage starting from the last.

    ``train_fn(model, T)`` trains in place and returns its history (e.g.
    :func:`~snnkit.train.fit`'s); ``eval_fn(model)`` returns an accuracy at the model's current
    ``T``. Leaves ``model.T = Ts[-1]``. Returns one dict per stage: ``T``, ``acc_before`` (the
    starting point at this ``T``, before retraining; ``None`` without ``eval_fn``),
    ``acc_after``, ``history`` and (``keep_states``) ``state``, a copy of the trained weights.
    """
    if not Ts:
        raise ValueError("shrink_timesteps needs at least one T")
    stages = []
    for T in Ts:
        model.T = T
        before = eval_fn(model) if eval_fn is not None else None
        history = train_fn(model, T)
        stage = {"T": T, "acc_before": before,
                 "acc_after": eval_fn(model) if eval_fn is not None else None,
                 "history": history}
        if keep_states:
            stage["state"] = copy.deepcopy(model.state_dict())
        stages.append(stage)
    return stages
