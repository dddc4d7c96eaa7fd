import pytest
import torch
from torch import nn

from snnkit.memory import SavedBytes
from snnkit.methods.sltt import grad_steps, graph_nodes, instantaneous_loss, stepwise, train_step
from snnkit.models import SpikingMLP
from snnkit.train import fit


def make(beta=0.9, T=5, seed=0):
    torch.manual_seed(seed)
    net = SpikingMLP((6, 16, 16, 3), T=T, beta=beta, threshold=0.5, surrogate="triangle")
    x = net.encode(torch.rand(8, 6, generator=torch.Generator().manual_seed(1)) * 2)
    return net, x, torch.arange(8) % 3


def grads(net):
    return torch.cat([p.grad.flatten() for p in net.parameters()])


def fused_per_step_loss(net, x, y):
    """BPTT reference through the fused multi-step neurons: mean over steps of the loss."""
    h = x
    for layer, neuron in zip(net.layers[:-1], net.neurons, strict=True):
        h, _ = neuron(layer(h))
    out = net.layers[-1](h)                                     # [T, B, C]
    return sum(instantaneous_loss(o, y) for o in out) / len(out)


def test_stepwise_matches_the_multistep_forward_and_restores_it():
    net, x, _ = make()
    with torch.no_grad():
        ref = net(x)
        with stepwise(net, detach=True):
            steps = torch.stack([net(x[t:t + 1]) for t in range(len(x))])
        assert torch.equal(steps.mean(0), ref)
        assert torch.equal(net(x), ref)                         # forward restored on exit
    with pytest.raises(ValueError, match="one step"), stepwise(net):
        net(x)
    with pytest.raises(ValueError, match="LIF"):
        stepwise(nn.Linear(2, 2))


def test_bptt_step_equals_autograd_through_the_fused_neurons():
    net, x, y = make()
    stats = train_step(net, x, y, "bptt")
    got = grads(net)
    net.zero_grad()
    loss = fused_per_step_loss(net, x, y)
    loss.backward()
    torch.testing.assert_close(got, grads(net))
    assert stats.loss == pytest.approx(loss.item(), rel=1e-5) and stats.backward_calls == 1


def test_sltt_drops_only_the_temporal_route():
    # with (almost) no leak the temporal route carries nothing: SLTT == BPTT
    net, x, y = make(beta=1e-12)
    train_step(net, x, y, "bptt")
    bptt = grads(net)
    net.zero_grad()
    train_step(net, x, y, "sltt")
    torch.testing.assert_close(grads(net), bptt)
    # with a slow leak it carries a lot: the two differ
    net, x, y = make(beta=0.9)
    train_step(net, x, y, "bptt")
    bptt = grads(net)
    net.zero_grad()
    stats = train_step(net, x, y, "sltt")
    assert (grads(net) - bptt).norm() > 0.05 * bptt.norm()
    assert stats.backward_calls == len(x)


def test_sltt_by_hand():
    net, x, y = make(beta=0.7, T=3)
    train_step(net, x, y, "sltt")
    got = grads(net)
    net.zero_grad()
    h1 = h2 = torch.zeros(8, 16)
    n1, n2 = net.neurons
    for t in range(3):
        v1 = 0.7 * h1.detach() + net.layers[0](x[t]) - 0.5 * (h1 > 0.5).float()
        s1 = n1.surrogate(v1 - 0.5)
        v2 = 0.7 * h2.detach() + net.layers[1](s1) - 0.5 * (h2 > 0.5).float()
        s2 = n2.surrogate(v2 - 0.5)
        (instantaneous_loss(net.layers[2](s2), y) / 3).backward()
        h1, h2 = v1, v2
    torch.testing.assert_close(got, grads(net))


def test_sltt_k_counts_and_edge_cases():
    net, x, y = make(T=6)
    full = train_step(net, x, y, "sltt")
    g_full = grads(net)
    net.zero_grad()
    k6 = train_step(net, x, y, "sltt-k", K=6)
    torch.testing.assert_close(grads(net), g_full)               # K = T is SLTT
    k2 = train_step(net, x, y, "sltt-k", K=2, generator=torch.Generator().manual_seed(0))
    assert k2.backward_calls == 2 and k6.backward_calls == 6
    assert k2.graph_nodes * 6 == full.graph_nodes * 2
    a = grad_steps(6, "sltt-k", 3, torch.Generator().manual_seed(4))
    assert a == grad_steps(6, "sltt-k", 3, torch.Generator().manual_seed(4))
    assert len(set(a)) == 3 and a == sorted(a)
    for bad in (dict(method="bptt-k"), dict(method="sltt-k", K=0), dict(method="sltt-k", K=7)):
        with pytest.raises(ValueError):
            train_step(net, x, y, **bad)


def test_memory_flat_for_sltt_linear_for_bptt():
    peaks = {}
    for T in (2, 8):
        net, x, y = make(T=T)
        for method in ("bptt", "sltt"):
            with SavedBytes(exclude=net.parameters()) as mem:
                train_step(net, x, y, method)
            peaks[method, T] = mem.peak
            assert mem.live == 0
    assert peaks["sltt", 8] == peaks["sltt", 2]
    assert peaks["bptt", 8] / peaks["bptt", 2] == pytest.approx(4, rel=0.02)


def test_graph_nodes_counts_a_chain():
    a = torch.randn(3, requires_grad=True)
    assert graph_nodes(a.exp().sin().sum()) == 4      # sum, sin, exp, AccumulateGrad


def test_fit_trains_with_every_method():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 4, generator=g)
    y = (X[:, 0] > 0).long()
    for method in ("bptt", "sltt", "sltt-k"):
        torch.manual_seed(0)
        net = SpikingMLP((4, 16, 2), T=4)
        history = fit(net, (X, y), (X, y), epochs=5, lr=0.05, batch_size=50, progress=False,
                      method=method, K=2)
        assert history["train_loss"][-1] < history["train_loss"][0]
        assert history["val_acc"][-1] > 0.85, method
