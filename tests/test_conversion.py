import math

import pytest
import torch
from torch import nn

from snnkit.methods.conversion import (
    ActivationMLP,
    DietLIF,
    DietSNN,
    LinearSurrogate,
    Rectangle,
    SharpenedReLU,
    bridge_snn,
    dense_macs,
    diet_lif_sequence,
    percentile_thresholds,
    pretrain,
    set_sharpness,
    sharpen_schedule,
    sharpened_relu,
    time_to_target,
    transfer,
)
from snnkit.models import MLP, SpikingMLP

SIZES = (6, 5, 4, 3)


def test_transfer_copies_every_parameter_and_checks_names_and_shapes():
    torch.manual_seed(0)
    ann, snn = MLP(SIZES), SpikingMLP(SIZES, T=2)
    names = transfer(ann, snn)
    assert names == [n for n, _ in ann.named_parameters()]
    for (n, p), (m, q) in zip(ann.named_parameters(), snn.named_parameters(), strict=True):
        assert n == m and torch.equal(p, q) and p.data_ptr() != q.data_ptr()
    with pytest.raises(ValueError, match="shape"):
        transfer(MLP((6, 7, 4, 3)), snn)
    with pytest.raises(KeyError, match="has no parameters"):
        transfer(MLP((6, 5, 3)), MLP((6, 3)))


def test_transfer_strict_refuses_extra_parameters_and_copies_shared_buffers():
    src = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    dst = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    src[1].running_mean.fill_(2.5)
    transfer(src, dst)
    assert torch.equal(dst[1].running_mean, src[1].running_mean)
    dst.extra = nn.Parameter(torch.ones(1))
    with pytest.raises(KeyError, match="strict=False"):
        transfer(src, dst)
    transfer(src, dst, strict=False)
    assert dst.extra.item() == 1.0


def test_rectangle_surrogate_has_unit_area_and_the_given_width():
    v = torch.tensor([-0.3, -0.2, 0.0, 0.19, 0.25])
    assert Rectangle(0.2).derivative(v).tolist() == pytest.approx([0, 0, 2.5, 2.5, 0])
    grid = torch.linspace(-2, 2, 40001)
    assert torch.trapezoid(Rectangle(0.5).derivative(grid), grid).item() == pytest.approx(1, 1e-3)


def test_sharpened_relu_forward_and_rectangle_backward():
    x = torch.linspace(-1, 2, 301, requires_grad=True)
    y = sharpened_relu(x, 0.0, 1.0)
    torch.testing.assert_close(y, x.clamp(0, 1))
    (g,) = torch.autograd.grad(y.sum(), x)
    (g_clip,) = torch.autograd.grad(x.clamp(0, 1).sum(), x)
    inside = (x > 0.001) & (x < 0.999)   # the clip's own gradient, away from its corners
    assert torch.equal(g[inside], g_clip[inside]) and g[x < 0].eq(0).all() and g[x > 1].eq(0).all()
    sharp = sharpened_relu(x, 0.49, 0.51)
    far = (x - 0.5).abs() > 0.011
    assert torch.equal(sharp[far], (x[far] > 0.5).float())
    (g_sharp,) = torch.autograd.grad(sharp.sum(), x)
    assert torch.equal(g_sharp, g)        # the backward pass does not sharpen


def test_schedule_runs_from_clip_to_nearly_a_step():
    assert sharpen_schedule(0, 15) == (0.0, 1.0)
    assert sharpen_schedule(14, 15) == pytest.approx((0.49, 0.51))
    a, b = sharpen_schedule(7, 15)
    assert a == pytest.approx(0.25) and b == pytest.approx(0.75)
    model = ActivationMLP(SIZES, SharpenedReLU)
    assert set_sharpness(model, 14, 15) == pytest.approx((0.49, 0.51))
    assert all((m.a, m.b) == pytest.approx((0.49, 0.51)) for m in model.acts)


def test_bridge_snn_multiplicative_reset_by_hand():
    neuron = bridge_snn((1, 1, 1), T=4).neurons[0]
    # u1 = 0.4, u2 = 0.25*0.4 + 0.4 = 0.5 (not > 0.5), u3 = 0.525 spike, u4 = 0 + 0.4 (reset)
    spikes, mem = neuron(torch.full((4, 1, 1), 0.4))
    assert spikes.flatten().tolist() == [0, 0, 1, 0]
    assert mem.flatten().tolist() == pytest.approx([0.4, 0.5, 0.525, 0.4])


def test_one_step_snn_is_the_step_ann():
    class Step(nn.Module):
        def forward(self, x):
            return (x > 0.5).float()

    torch.manual_seed(1)
    ann, snn = ActivationMLP(SIZES, Step), bridge_snn(SIZES, T=1)
    transfer(ann, snn)
    x = torch.rand(50, SIZES[0]) * 2
    assert torch.equal(ann(x), snn(x))


def test_pretrain_sharpens_and_calls_back_every_epoch():
    torch.manual_seed(0)
    X, y = torch.rand(40, SIZES[0]), torch.randint(0, 3, (40,))
    ann, seen = ActivationMLP(SIZES, SharpenedReLU), []
    history = pretrain(ann, (X, y), (X, y), epochs=3, batch_size=20, progress=False,
                       on_epoch=lambda e, m: seen.append((e, m.acts[0].a)))
    assert len(history["train_loss"]) == len(history["val_acc"]) == 3
    assert seen == [(0, 0.0), (1, 0.25), (2, 0.49)]


def test_dense_macs_of_a_snn_is_T_times_its_ann():
    x = torch.rand(8, SIZES[0])
    ann_macs = dense_macs(MLP(SIZES), x)
    assert ann_macs == 6 * 5 + 5 * 4 + 4 * 3
    assert dense_macs(bridge_snn(SIZES, T=6), x) == 6 * ann_macs


def test_time_to_target():
    assert time_to_target([1, 2, 3], [0.5, 0.9, 0.95], 0.9) == 2
    assert time_to_target([1, 2], [0.5, 0.6], 0.9) == math.inf


def test_linear_surrogate_derivative():
    z = torch.tensor([-1.5, -0.5, 0.0, 0.25, 1.0])
    assert LinearSurrogate(0.3).derivative(z).tolist() == pytest.approx([0, 0.15, 0.3, 0.225, 0])


def test_diet_lif_soft_reset_by_hand_and_gradients_reach_leak_and_threshold():
    leak = torch.tensor(0.5, requires_grad=True)
    v = torch.tensor(1.0, requires_grad=True)
    x = torch.tensor([0.8, 0.8, 0.8, 0.0]).view(4, 1, 1).requires_grad_()
    spikes, mem = diet_lif_sequence(x, leak, v)
    # u1 = 0.8; u2 = 0.4 + 0.8 = 1.2 (spike); u3 = 0.6 + 0.8 - 1 = 0.4; u4 = 0.2
    assert mem.flatten().tolist() == pytest.approx([0.8, 1.2, 0.4, 0.2])
    assert spikes.flatten().tolist() == [0, 1, 0, 0]
    g_leak, g_v = torch.autograd.grad(spikes.sum(), (leak, v))
    assert g_leak.item() != 0 and g_v.item() != 0


def test_diet_neuron_projects_leak_and_threshold_in_training():
    neuron = DietLIF(leak=1.0, threshold=1.0)
    with torch.no_grad():
        neuron.leak.fill_(1.7)
        neuron.threshold.fill_(-2.0)
    neuron(torch.ones(2, 1, 3))
    assert neuron.leak.item() == 1.0 and neuron.threshold.item() == pytest.approx(1e-3)


def test_diet_snn_one_step_is_a_binary_network_and_transfers_from_mlp():
    torch.manual_seed(2)
    ann, snn = MLP(SIZES), DietSNN(SIZES, T=1)
    with pytest.raises(KeyError):
        transfer(ann, snn)
    transfer(ann, snn, strict=False)
    x = torch.rand(30, SIZES[0])
    h = x
    for layer in ann.layers[:-1]:
        h = (layer(h) / 1.0 - 1 > 0).float()
    assert torch.equal(snn(x), ann.layers[-1](h))
    snn.T = 3
    assert snn(x).shape == (30, 3) and snn.encode(x).shape == (3, 30, SIZES[0])


def test_percentile_thresholds_layer_by_layer():
    torch.manual_seed(3)
    snn = DietSNN(SIZES, T=2)
    x = torch.rand(64, SIZES[0])
    found = percentile_thresholds(snn, x, q=0.9)
    current = snn.layers[0](snn.encode(x)).flatten().sort().values
    assert found[0] == current[math.ceil(0.9 * current.numel()) - 1].item()
    assert [n.threshold.item() for n in snn.neurons] == pytest.approx(found)
    spikes, _ = snn.neurons[0](snn.layers[0](snn.encode(x)))   # with the new first threshold
    current2 = snn.layers[1](spikes).flatten()
    assert found[1] == pytest.approx(torch.quantile(current2, 0.9, interpolation="higher").item())
    lif = SpikingMLP(SIZES, T=2)
    assert percentile_thresholds(lif, x)[0] == lif.neurons[0].threshold
