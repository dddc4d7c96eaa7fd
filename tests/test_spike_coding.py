import math

import pytest
import torch
from torch import nn

from snnkit.sequence.spike_coding import (
    SCHEMES,
    adaptive_threshold,
    decode,
    encode,
    firing_stats,
    gaussian_within,
    num_steps,
    quantize_linear_inputs,
    spike_matmul,
    spike_quantize,
    step_weights,
    window_sparsity,
)


def _counts(signed=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randint(-40, 41, (6, 9), generator=g).float()
    return s if signed else s.abs()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trip_and_event_matmul_are_exact(scheme):
    s = _counts(signed=scheme != "binary")
    spikes = encode(s, scheme)
    assert spikes.shape == (num_steps(s, scheme), *s.shape)
    assert torch.equal(decode(spikes, scheme), s)
    allowed = {0.0, 1.0} if scheme in ("binary", "twos") else {-1.0, 0.0, 1.0}
    assert set(spikes.unique().tolist()) <= allowed
    W = torch.randint(-9, 10, (9, 4), generator=torch.Generator().manual_seed(1)).float()
    assert torch.equal(spike_matmul(spikes, W, scheme), s @ W)          # integers: exact
    Wf = torch.randn(9, 4, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(spike_matmul(spikes, Wf, scheme), s @ Wf, atol=1e-4, rtol=1e-5)
    longer = encode(s, scheme, steps=spikes.shape[0] + 2)               # spare steps are fine
    assert torch.equal(decode(longer, scheme), s)


def test_step_counts():
    s = torch.tensor([0.0, 5.0, -12.0, 7.0])
    assert num_steps(s, "ternary") == 12
    assert num_steps(s, "bitwise") == math.ceil(math.log2(12 + 1)) == 4
    assert num_steps(s, "twos") == 5                                   # -16 .. 15
    assert num_steps(torch.tensor([-8.0, 7.0]), "twos") == 4
    assert step_weights(4, "twos").tolist() == [1.0, 2.0, 4.0, -8.0]
    # ternary fires sum |s| spikes, binary on the shifted unsigned code fires more
    ternary = encode(s, "ternary").abs().sum()
    assert ternary == s.abs().sum()
    assert ternary <= encode(s - s.min(), "binary").sum()
    # bitwise fires once per 1-bit: 0 + 2 + 2 + 3
    assert encode(s, "bitwise").abs().sum() == 7


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-negative"):
        encode(torch.tensor([-1.0, 2.0]), "binary")
    with pytest.raises(ValueError, match="needs 4 steps"):
        encode(torch.tensor([9.0]), "bitwise", steps=3)
    with pytest.raises(ValueError, match="scheme"):
        encode(torch.tensor([1.0]), "unary")
    with pytest.raises(ValueError, match="k must"):
        adaptive_threshold(torch.ones(3), k=0)


def test_adaptive_threshold_per_token_and_straight_through():
    x = torch.tensor([[1.0, -2.0, 3.0, 0.1], [10.0, 0.0, -10.0, 4.0]], requires_grad=True)
    s, v_th = adaptive_threshold(x, k=2.0)
    assert torch.allclose(v_th[:, 0], x.detach().abs().mean(1) / 2)   # one threshold per token
    assert torch.equal(s, torch.round(x.detach() / v_th))
    spike_quantize(x, 2.0).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))                     # straight through
    s0, _ = adaptive_threshold(torch.zeros(2, 5))
    assert torch.equal(s0, torch.zeros(2, 5))                          # silent tokens stay silent


def test_gaussian_within_matches_sampling():
    x = torch.randn(2000, 1024, generator=torch.Generator().manual_seed(0))
    for k in (2.0, 3.0, 4.0):
        s, _ = adaptive_threshold(x, k)
        measured = (s.abs() <= 7).float().mean().item()
        assert abs(measured - gaussian_within(7, k)) < 2e-3


def test_window_sparsity_and_stats():
    s = torch.tensor([0.0, 1.0, -3.0, 7.0, 8.0])
    # slots: 3 windows of 3 for the first four values, 2 windows for 8 (4 bits); ones: 0+1+2+3+1
    assert math.isclose(window_sparsity(s, 3), 1 - 7 / 18)
    stats = firing_stats(encode(s, "bitwise"))
    assert stats["steps"] == 4 and stats["spikes"] == 7
    assert math.isclose(stats["rate"], 7 / 20) and math.isclose(stats["sparsity"], 13 / 20)


def test_quantize_linear_inputs_hooks_every_linear_and_removes_them():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(5, 8)
    plain = model(x)
    record = {}
    with quantize_linear_inputs(model, k=3.0, record=record):
        coded = model(x)
    assert set(record) == {"0", "2"} and record["0"][0].shape == (5, 8)
    h = model[1](model[0](spike_quantize(x, 3.0)))
    torch.testing.assert_close(coded, model[2](spike_quantize(h, 3.0)))
    assert not torch.equal(coded, plain)
    torch.testing.assert_close(model(x), plain)                        # hooks removed
