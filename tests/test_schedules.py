import pytest
import torch
from torch import nn

from snnkit.methods.schedules import shrink_timesteps, timesteps


class Counter(nn.Module):
    """A model whose 'accuracy' is its weight, and whose training adds T to it."""

    def __init__(self):
        super().__init__()
        self.T = 9
        self.w = nn.Parameter(torch.zeros(()))


def test_shrink_timesteps_runs_stages_in_order_and_starts_each_from_the_last():
    model, seen = Counter(), []

    def train_fn(m, T):
        seen.append((T, m.T))
        with torch.no_grad():
            m.w += T
        return {"T": T}

    def eval_fn(m):
        return m.w.item() * 10 + m.T

    stages = shrink_timesteps(model, [3, 2, 1], train_fn, eval_fn)
    assert seen == [(3, 3), (2, 2), (1, 1)] and model.T == 1
    assert [s["acc_before"] for s in stages] == [3, 32, 51]   # weights carried over, new T
    assert [s["acc_after"] for s in stages] == [33, 52, 61]
    assert [s["state"]["w"].item() for s in stages] == [3, 5, 6]   # copies, not references
    assert stages[0]["history"] == {"T": 3}


def test_shrink_timesteps_without_eval_and_without_states():
    stages = shrink_timesteps(Counter(), [2], lambda m, T: {}, keep_states=False)
    assert stages == [{"T": 2, "acc_before": None, "acc_after": None, "history": {}}]
    with pytest.raises(ValueError):
        shrink_timesteps(Counter(), [], lambda m, T: {})


def test_timesteps_context_restores_T():
    model = Counter()
    with timesteps(model, 1) as m:
        assert m.T == 1
    assert model.T == 9
    with pytest.raises(RuntimeError), timesteps(model, 2):
        raise RuntimeError
    assert model.T == 9
