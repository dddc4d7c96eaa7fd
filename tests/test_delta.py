import pytest
import torch
from torch import nn

from snnkit.sequence.delta import (
    DeltaActivation,
    FrameNet,
    L1Activation,
    delta_inference,
    frame_cnn,
    nonzero_delta_rate,
    quantise,
    sparsity_loss,
    spatial_sparsity,
    temporal_delta,
    temporal_sparsity,
)


def test_quantiser_grid_error_and_zero_step():
    a = torch.randn(1000)
    q = quantise(a, torch.tensor(0.1))
    assert torch.allclose(q / 0.1, (q / 0.1).round(), atol=1e-4)
    assert (q - a).abs().max() <= 0.05 + 1e-6
    assert torch.equal(quantise(a, torch.tensor(0.0)), a)
    mixed = quantise(a.view(2, 500), torch.tensor([[0.0], [0.1]]))     # one row unquantised
    assert torch.equal(mixed[0], a[:500]) and torch.equal(mixed[1], q[500:])


def test_quantiser_gradients_straight_through_and_negated_step():
    a = torch.tensor([[0.37, -0.12], [0.05, 0.26]], requires_grad=True)
    theta = torch.tensor([[0.1], [0.2]], requires_grad=True)      # one step per row
    quantise(a, theta).sum().backward()
    assert torch.equal(a.grad, torch.ones_like(a))                  # straight through
    k = torch.round(a.detach() / theta.detach())
    torch.testing.assert_close(theta.grad, -k.sum(1, keepdim=True))  # minus the level counts
    theta0 = torch.tensor([[0.0], [0.2]], requires_grad=True)           # no quantiser: no grad
    quantise(a.detach(), theta0).sum().backward()
    assert theta0.grad[0, 0] == 0 and theta0.grad[1, 0] == -k[1].sum()


def test_temporal_delta_sums_back_and_sparsity():
    q = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 1.0], [2.0, 1.0]])
    d = temporal_delta(q)
    assert torch.equal(d.cumsum(0), q)
    assert torch.equal(d, torch.tensor([[0.0, 1.0], [0.0, 0.0], [2.0, 0.0], [0.0, 0.0]]))
    assert temporal_sparsity(q) == pytest.approx(6 / 8)
    assert spatial_sparsity(q) == pytest.approx(2 / 8)


def test_delta_layer_loss_counts_and_granularity():
    layer = DeltaActivation((3, 4, 4), "channel", thr_init=0.25, lam=0.5, fan_out=2.0)
    assert layer.theta.shape == (3, 1, 1)
    assert DeltaActivation((3, 4, 4), "neuron").theta.shape == (3, 4, 4)
    assert DeltaActivation((5,), "layer").theta.shape == (1,)
    a = torch.rand(6, 2, 3, 4, 4)
    q = layer.eval()(a)
    d = temporal_delta(q)
    torch.testing.assert_close(layer.loss, 0.5 * 2.0 * d.abs().mean())
    assert (layer.nnz, layer.numel) == (int((d != 0).sum()), d.numel())
    assert torch.allclose(sparsity_loss(nn.Sequential(layer, L1Activation())), layer.loss)
    with pytest.raises(ValueError, match="granularity"):
        DeltaActivation((3,), "pixel")


def test_sigma_integrates_events():
    layer = DeltaActivation((2,), "layer", thr_init=0.0, learn_thr=False, sigma=True).eval()
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]], [[1.0, 0.0]]])
    torch.testing.assert_close(layer(x), x.cumsum(0))
    assert torch.equal(temporal_delta(layer(x)), x)            # the deltas are the events


def _net(thr):
    torch.manual_seed(0)
    net = FrameNet(
        DeltaActivation((2, 9, 9), "layer", thr_init=0.0, learn_thr=False, sigma=True),
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
        DeltaActivation((4, 5, 5), thr_init=thr),
        nn.Flatten(), nn.Linear(100, 12), nn.ReLU(), DeltaActivation((12,), thr_init=thr),
        nn.Linear(12, 3))
    return net.double().eval()


@pytest.mark.parametrize("thr", [0.0, 0.05])
def test_delta_inference_equals_dense_frame_by_frame(thr):
    net = _net(thr)
    x = torch.poisson(torch.full((7, 5, 2, 9, 9), 0.3, dtype=torch.float64))
    dense = net.frames(x)
    out, counts = delta_inference(net, x)
    torch.testing.assert_close(out, dense, atol=1e-10, rtol=0)
    # dense counts: every frame, every layer
    assert counts["total"]["dense"] == 7 * 5 * (4 * 25 * 18 + 100 * 12 + 12 * 3)
    assert counts["total"]["executed"] < counts["total"]["dense"]


def test_executed_macs_count_nonzero_pairs():
    net = _net(0.05)
    x = torch.poisson(torch.full((4, 3, 2, 9, 9), 0.3, dtype=torch.float64))
    _, counts = delta_inference(net, x)
    # the head: nnz(delta of the last delta layer) x out_features
    q = _layer_output(net, x, 7)
    assert counts["8"]["executed"] == int((temporal_delta(q) != 0).sum()) * 3
    # the conv on events: brute-force count of (event, reached output) pairs
    ev = x != 0
    pairs = 0
    for _t, _b, _c, i, j in ev.nonzero().tolist():
        for oi in range(5):
            for oj in range(5):
                di, dj = i - (2 * oi - 1), j - (2 * oj - 1)
                pairs += 0 <= di < 3 and 0 <= dj < 3
    assert counts["1"]["executed"] == pairs * 4


def _layer_output(net, x, upto):
    T, B = x.shape[:2]
    h = x.flatten(0, 1)
    for i, m in enumerate(net.layers):
        h = m(h.unflatten(0, (T, B))).flatten(0, 1) if isinstance(m, DeltaActivation) else m(h)
        if i == upto:
            return h.unflatten(0, (T, B))


def test_nonlinear_layer_on_a_delta_stream_is_refused():
    net = FrameNet(DeltaActivation((4,), thr_init=0.1), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="not linear"):
        delta_inference(net, torch.rand(3, 2, 4))


def test_frame_cnn_fan_out_and_rate():
    net = frame_cnn(in_shape=(2, 34, 34), channels=(8, 16), hidden=64).eval()
    fan = [m.fan_out for m in net.modules() if isinstance(m, DeltaActivation)]
    assert fan[1] == pytest.approx(16 * 49 * 72 / (8 * 15 * 15))   # conv2 MACs / its inputs
    assert fan[2:] == [64.0, 10.0]
    x = torch.poisson(torch.full((3, 2, 2, 34, 34), 0.05))
    assert net(x).shape == (2, 10)
    assert 0.0 < nonzero_delta_rate(net) <= 1.0


def test_training_with_the_delta_loss_has_gradients():
    net = frame_cnn(lam=0.1)
    x = torch.poisson(torch.full((3, 4, 2, 34, 34), 0.05))
    loss = net(x).sum() + sparsity_loss(net)
    loss.backward()
    thetas = [m.theta.grad for m in net.modules() if isinstance(m, DeltaActivation)][1:]
    assert all(g is not None and g.abs().sum() > 0 for g in thetas)


def test_copies_carry_no_graph():
    import copy

    net = frame_cnn(lam=0.1, l1=0.1)
    net(torch.poisson(torch.full((3, 2, 2, 34, 34), 0.05)))
    twin = copy.deepcopy(net)                     # would fail on a non-leaf tensor attribute
    assert all(not m.loss.requires_grad for m in twin.modules() if hasattr(m, "loss"))
    assert any(m.loss.requires_grad for m in net.modules() if hasattr(m, "loss"))
