import math

import pytest
import torch
from torch import nn

from snnkit.quant import (
    IELIF,
    QuantConv2d,
    QuantLinear,
    fgd_loss,
    integer_spike,
    linear,
    lsq_init,
    lsq_quantize,
    model_size_bits,
    qrange,
    similarity,
    spike_driven,
    spike_entropy,
    spike_planes,
)


def test_lsq_levels_and_straight_through_gradient():
    torch.manual_seed(0)
    w = torch.randn(6, 5, requires_grad=True)
    alpha = torch.full((6, 1), 0.3, requires_grad=True)
    wq = lsq_quantize(w, alpha, 4)
    codes = wq / alpha
    assert torch.allclose(codes, codes.round(), atol=1e-5)
    assert codes.min() >= -8 and codes.max() <= 7
    wq.sum().backward()
    inside = ((w / 0.3) > -8) & ((w / 0.3) < 7)
    assert torch.equal(w.grad, inside.float())          # STE inside the range, 0 where clamped
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    assert qrange(2) == (-2, 1) and qrange(8) == (-128, 127)
    with pytest.raises(ValueError, match="weight bits"):
        qrange(1)


def test_quant_linear_initialises_step_on_first_call_even_in_eval():
    torch.manual_seed(0)
    layer = QuantLinear(8, 3, bits=4).eval()
    assert not layer.initialised
    x = torch.randn(2, 8)
    y = layer(x)
    expected_alpha = 2 * layer.weight.abs().mean() / math.sqrt(7)
    assert torch.allclose(layer.alpha, expected_alpha.expand(3, 1))
    ints = layer.integer_weight()
    assert ints.min() >= -8 and ints.max() <= 7
    torch.testing.assert_close(y, x @ (ints.float() * layer.alpha).T + layer.bias)
    assert not isinstance(linear(4, 4), QuantLinear)
    assert isinstance(linear(4, 4, bits=4), QuantLinear)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_model_size_shrinks_by_32_over_bits_exactly(bits):
    model = nn.Sequential(QuantLinear(20, 30, bits=bits), nn.ReLU(),
                          QuantConv2d(3, 4, 3, bits=bits), nn.BatchNorm1d(4))
    size = model_size_bits(model)
    n_w = 20 * 30 + 4 * 3 * 9
    assert size["quantised"] == n_w * bits
    assert size["quantised_as_float"] == n_w * 32
    assert size["quantised_as_float"] / size["quantised"] == 32 / bits
    n_other = 30 + 30 + 4 + 4 + 4 + 4     # biases, alphas, conv bias, conv alpha, BN weight+bias
    assert size["float"] == n_other * 32 and size["total"] == size["quantised"] + size["float"]


def test_integer_spike_levels_and_window_gradient():
    u = torch.tensor([-0.5, 0.0, 0.1, 0.125, 0.3, 0.5, 0.9, 1.0, 2.0], requires_grad=True)
    s = integer_spike(u, 4)
    assert s.tolist() == [0, 0, 0, 1, 1, 2, 4, 4, 4]       # floor(4u + 1/2), clamped to [0, 4]
    s.sum().backward()
    assert u.grad.tolist() == [0, 0, 4, 4, 4, 4, 4, 0, 0]  # 4 inside 0 < 4u < 4
    with pytest.raises(ValueError, match="positive int"):
        integer_spike(u, 0)


def test_planes_sum_to_counts_and_are_binary():
    counts = torch.randint(0, 5, (3, 7)).float()
    planes = spike_planes(counts, 4)
    assert planes.shape == (4, 3, 7)
    assert set(planes.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(planes.sum(0), counts)
    assert torch.equal(planes[0], (counts >= 1).float())    # a thermometer code
    with pytest.raises(ValueError, match="integers"):
        spike_planes(counts + 0.5, 4)


@pytest.mark.parametrize("make", [lambda: QuantLinear(12, 5, bits=4),
                                  lambda: QuantConv2d(2, 3, 3, padding=1, bits=4),
                                  lambda: nn.Linear(12, 5)])
def test_spike_driven_planes_reproduce_the_layer(make):
    torch.manual_seed(1)
    layer = make()
    shape = (4, 12) if isinstance(layer, nn.Linear) else (4, 2, 5, 5)
    spikes = torch.randint(0, 5, shape).float() / 4
    torch.testing.assert_close(spike_driven(layer, spikes, 4), layer(spikes), atol=1e-6, rtol=1e-6)
    scaled = spikes * 2                                      # attention-output spikes (scale 2/D)
    torch.testing.assert_close(spike_driven(layer, scaled, 4, scale=0.5), layer(scaled),
                               atol=1e-5, rtol=1e-6)


def test_integer_arithmetic_is_exact():
    torch.manual_seed(2)
    layer = QuantLinear(16, 4, bits=4)
    layer(torch.zeros(1, 16))
    w_int = layer.integer_weight()
    counts = torch.randint(0, 5, (8, 16))
    planes = spike_planes(counts.float(), 4).long()
    assert torch.equal(counts @ w_int.T, sum(p @ w_int.T for p in planes))


def test_ielif_single_step_and_soft_reset():
    x = torch.tensor([[0.3, 0.9, -1.0]])
    s, h = IELIF(D=4)(x.unsqueeze(0))
    assert s.shape == (1, 1, 3)
    torch.testing.assert_close(s[0], integer_spike(x, 4) / 4)
    # two steps by hand: h1 = 0.3 -> s1 = 0.25; h2 = 0.5 * (0.3 - 0.25) + 0.3 = 0.325 -> 0.25
    s, h = IELIF(D=4, beta=0.5)(torch.tensor([[0.3], [0.3]]))
    torch.testing.assert_close(h.flatten(), torch.tensor([0.3, 0.325]))
    torch.testing.assert_close(s.flatten(), torch.tensor([0.25, 0.25]))
    with pytest.raises(ValueError, match="num_features"):
        IELIF(rectify=True)


def test_ielif_rectify_standardises_channels_and_trains():
    torch.manual_seed(0)
    neuron = IELIF(D=4, rectify=True, num_features=3, channel_dim=1)   # [B, C, H, W] steps
    x = (torch.randn(2, 16, 3, 4, 4) * torch.tensor([0.01, 5.0, 100.0]).view(3, 1, 1)
         ).requires_grad_()
    s, _ = neuron(x)
    assert s.shape == x.shape
    per_channel = [s[:, :, c].unique().numel() for c in range(3)]
    assert min(per_channel) >= 4          # every channel uses the levels despite its scale
    s.sum().backward()
    assert x.grad.abs().sum() > 0 and neuron.norm.weight.grad is not None


def test_entropy_of_spikes():
    assert spike_entropy(torch.tensor([0.0, 1.0, 0.0, 1.0])) == pytest.approx(1.0)
    assert spike_entropy(torch.zeros(10)) == pytest.approx(0.0)
    assert spike_entropy(torch.arange(5.0).repeat(3)) == pytest.approx(math.log2(5))


def test_fgd_loss_is_scale_invariant_and_reaches_only_the_student():
    torch.manual_seed(0)
    t = {k: torch.randn(2, 6, 8, requires_grad=True) for k in "qkv"}
    s = {k: v.detach().clone().mul(3.0).requires_grad_() for k, v in t.items()}
    assert fgd_loss(s, t).item() == pytest.approx(0.0, abs=1e-10)
    s = {k: torch.randn(2, 6, 8, requires_grad=True) for k in "qkv"}
    loss = fgd_loss(s, t)
    assert loss > 0
    loss.backward()
    assert all(v.grad is not None for v in s.values())
    assert all(v.grad is None for v in t.values())
    assert similarity(torch.randn(3, 5, 4)).shape == (3, 5, 5)
    with pytest.raises(ValueError, match="share no"):
        fgd_loss({"q": t["q"]}, {"k": t["k"]})


def test_lsq_init_value():
    w = torch.tensor([[1.0, -3.0]])
    assert lsq_init(w, 4).item() == pytest.approx(2 * 2.0 / math.sqrt(7))


def test_fgd_gradient_stays_finite_for_silent_tokens_and_samples():
    s = torch.zeros(2, 4, 3)
    s[0, 0, 1] = 1.0                       # sample 0: one active token; sample 1: silent
    s.requires_grad_()
    t = torch.randn(2, 4, 3)
    fgd_loss({"q": s}, {"q": t}).backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().max() < 100
    assert s.grad[1].abs().sum() == 0
