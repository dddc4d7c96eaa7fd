import numpy as np
import pytest
import torch
from scipy.signal import cont2discrete

from snnkit import LIF
from snnkit.hw import count_ops
from snnkit.sequence.lmu import (
    LMUCell,
    LMUFormer,
    Unit,
    legendre_matrices,
    lmu_impulse,
    lmu_matrices,
    lmu_memory,
    lmu_memory_fft,
)


def test_continuous_matrices_by_hand():
    A, B = legendre_matrices(3)
    assert torch.equal(A, torch.tensor([[-1.0, -1, -1], [3, -3, -3], [-5, 5, -5]],
                                       dtype=torch.float64))
    assert torch.equal(B, torch.tensor([1.0, -3, 5], dtype=torch.float64))


@pytest.mark.parametrize("order,theta", [(4, 10.0), (32, 100.0), (64, 40.0)])
def test_zoh_equals_scipy(order, theta):
    A, B = legendre_matrices(order)
    Ad_ref, Bd_ref, *_ = cont2discrete((A.numpy() / theta, B.numpy()[:, None] / theta,
                                        np.ones((1, order)), np.zeros(1)), dt=1.0, method="zoh")
    Ad, Bd = lmu_matrices(order, theta)
    np.testing.assert_allclose(Ad.numpy(), Ad_ref, atol=1e-10)
    np.testing.assert_allclose(Bd.numpy(), Bd_ref[:, 0], atol=1e-10)
    with pytest.raises(ValueError, match="theta"):
        lmu_matrices(order, 0.0)


def test_impulse_is_powers_of_A_times_B():
    Ad, Bd = lmu_matrices(6, 12.0)
    H = lmu_impulse(Ad, Bd, 5)
    assert H.shape == (5, 6)
    torch.testing.assert_close(H[3], torch.linalg.matrix_power(Ad, 3) @ Bd)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_fft_memory_equals_recurrence(dtype, atol):
    Ad, Bd = lmu_matrices(64, 100.0)
    u = torch.randn(100, 3, 2, generator=torch.Generator().manual_seed(0)).to(dtype)
    streamed = lmu_memory(u, Ad.to(dtype), Bd.to(dtype))
    parallel = lmu_memory_fft(u, lmu_impulse(Ad, Bd, 100).to(dtype))
    assert parallel.shape == (100, 3, 2, 64)
    assert (streamed - parallel).abs().max() < atol
    with pytest.raises(ValueError, match="steps"):
        lmu_memory_fft(u, lmu_impulse(Ad, Bd, 50))


def test_memory_recalls_delayed_input():
    Ad, Bd = lmu_matrices(12, 50.0)
    t = torch.arange(300, dtype=torch.float64)
    f = lambda s: torch.sin(2 * np.pi * s / 90)  # noqa: E731
    m = lmu_memory(f(t)[:, None], Ad, Bd)[:, 0]
    weights = torch.tensor([np.polynomial.legendre.Legendre.basis(i)(0.0) for i in range(12)])
    recalled = m @ weights                        # u(t - theta/2), half a step late (hold)
    assert (recalled[100:] - f(t[100:] - 24.5)).abs().max() < 1e-2


def test_causal_conv_unit_step_matches_forward():
    torch.manual_seed(0)
    unit = Unit(5, 7, kernel=3, neuron="lif").eval()
    unit.neurons.norm.running_mean.uniform_(-0.5, 0.5)
    x = torch.randn(9, 2, 5)
    y = unit(x)
    state, out = None, []
    for x_t in x:
        y_t, state = unit.step(x_t, state)
        out.append(y_t)
    torch.testing.assert_close(torch.stack(out), y)
    # causality: changing the last frame leaves earlier outputs alone
    x2 = x.clone()
    x2[-1] += 10
    torch.testing.assert_close(unit(x2)[:-1], y[:-1])


@pytest.mark.parametrize("spiking", [False, True])
def test_lmu_cell_step_matches_parallel(spiking):
    torch.manual_seed(1)
    cell = LMUCell(6, 8, order=10, theta=20.0, memory_dim=2, spiking=spiking).double()
    cell.train()
    x = torch.randn(20, 4, 6, dtype=torch.float64)
    cell(x)                                      # BatchNorm statistics
    cell.eval()
    h = cell(x)
    state, out = None, []
    for x_t in x:
        h_t, state = cell.step(x_t, state)
        out.append(h_t)
    torch.testing.assert_close(torch.stack(out), h, atol=1e-10, rtol=0)
    assert state[1].shape == (4, 2, 10)          # memory [B, memory_dim, order]
    if spiking:
        assert set(h.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("spiking", [False, True])
def test_lmuformer_stream_equals_parallel(spiking):
    torch.manual_seed(2)
    net = LMUFormer(12, 16, 5, theta=30.0, depth=2, order=8, spiking=spiking)
    x = torch.randn(30, 4, 12)
    net(x)
    net.eval()
    with pytest.raises(RuntimeError, match="eval"):
        net.train().stream(x)
    net.eval()
    with torch.no_grad():
        prefix = net.prefix_logits(x)
        torch.testing.assert_close(prefix[-1], net(x))
        torch.testing.assert_close(net.stream(x), prefix, atol=1e-5, rtol=0)
        net64 = net.double()
        gap = (net64.stream(x.double()) - net64.prefix_logits(x.double())).abs().max()
    assert gap < 1e-10


def test_lmuformer_gradients_and_causality():
    torch.manual_seed(3)
    net = LMUFormer(8, 16, 4, theta=20.0, spiking=True)
    x = torch.randn(20, 3, 8)
    torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 2])).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    assert net.embed.convs[0].synapse.weight.grad.abs().sum() > 0
    net.eval()
    x2 = x.clone()
    x2[10:] = 0
    with torch.no_grad():
        torch.testing.assert_close(net.prefix_logits(x2)[:10], net.prefix_logits(x)[:10])


def test_neuron_settings_reach_every_population():
    net = LMUFormer(8, 16, 4, theta=20.0, spiking=True, beta=0.7, threshold=0.6)
    lifs = [m for m in net.modules() if isinstance(m, LIF)]
    assert len(lifs) == 11                      # 5 embedding, 3 in the LMU cell, proj, 2 FFN
    assert all(m.beta.item() == pytest.approx(0.7) and m.threshold == 0.6 for m in lifs)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 11
    assert not any(isinstance(m, LIF) for m in LMUFormer(8, 16, 4, theta=20.0).modules())


def test_spiking_lmuformer_pays_accumulates():
    torch.manual_seed(4)
    net = LMUFormer(8, 16, 4, theta=20.0, spiking=True)
    x = torch.randn(20, 6, 8)
    net(x)
    net.eval()
    report = count_ops(net, x, samples=6, spike_levels=8)
    first = report.layers[0]
    assert first.name == "embed.convs.0.synapse" and first.macs > 0 and first.acs == 0
    later = [c for c in report.layers[1:] if c.kind != "neuron"]
    assert later and all(c.macs == 0 for c in later)
    ann = count_ops(LMUFormer(8, 16, 4, theta=20.0).eval(), x, samples=6)
    assert ann.total("acs") == 0 and ann.total("macs") > report.total("macs")
