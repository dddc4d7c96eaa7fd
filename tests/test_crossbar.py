import pytest
import torch

from snnkit.hw.crossbar import Crossbar


def test_ideal_array_stores_and_multiplies_exactly():
    torch.manual_seed(0)
    W = torch.randn(6, 4)
    xbar = Crossbar(6, 4).program(W)
    torch.testing.assert_close(xbar.weights(), W, atol=1e-6, rtol=1e-6)
    x = torch.rand(3, 6)
    torch.testing.assert_close(xbar.matvec(x), x @ W, atol=1e-5, rtol=1e-5)


def test_currents_are_ohm_and_kirchhoff():
    xbar = Crossbar(2, 1).program(torch.tensor([[1.0], [-0.5]]))
    g_pos, g_neg = xbar.g[0], xbar.g[1]
    v = torch.tensor([0.2, 0.1])
    want = 0.2 * (g_pos[0, 0] - g_neg[0, 0]) + 0.1 * (g_pos[1, 0] - g_neg[1, 0])
    assert xbar.currents(v).item() == pytest.approx(want.item())
    assert xbar.g.min() >= 1e-6 and xbar.g.max() <= 1e-4


def test_levels_bound_the_quantisation_error():
    W = torch.linspace(-1, 1, 101).view(101, 1)
    for levels in (4, 16):
        err = (Crossbar(101, 1, levels=levels).program(W).weights() - W).abs().max()
        assert err <= 0.5 / (levels - 1) + 1e-6
        assert err > 0.1 / (levels - 1)


def test_variability_and_programming_noise_perturb_weights_by_their_sigma():
    W = torch.zeros(200, 200)
    W[::2] = 0.5
    xbar = Crossbar(200, 200, c2c=0.02, seed=1).program(W, scale=1.0)
    mid = xbar.g[0, ::2] - (xbar.g_min + 0.5 * xbar.g_range)     # G+ cells programmed mid-range
    assert abs(mid.std().item() / xbar.g_range - 0.02) < 0.002
    again = Crossbar(200, 200, c2c=0.02, seed=1).program(W, scale=1.0)
    assert torch.equal(xbar.weights(), again.weights())          # seeded
    d2d = Crossbar(200, 200, d2d=0.1, seed=2).program(W, scale=1.0).weights()
    assert 0.03 < (d2d[::2] / 0.5 - 1).std().item() < 0.2


def test_read_noise_is_unbiased_and_counts_reads():
    W = torch.ones(50, 1)
    xbar = Crossbar(50, 1, read_noise=0.05, seed=3).program(W)
    outs = torch.stack([xbar.matvec(torch.ones(50)) for _ in range(400)])
    assert xbar.reads == 400
    assert abs(outs.mean().item() - 50) < 0.2 and outs.std().item() > 0.1


def test_stochastic_switching_gives_sparse_zero_mean_random_weights():
    xbar = Crossbar(100, 100, seed=4).program_random(p_set=0.3)
    setted = (xbar.g > 2e-6).double().mean().item()
    assert abs(setted - 0.3) < 0.02
    W = xbar.weights()
    assert abs(W.mean().item()) < 0.02 and (W == 0).double().mean() > 0.4


def test_read_noise_has_the_per_cell_distribution_and_each_vector_its_own_draw():
    xbar = Crossbar(20, 3, read_noise=0.1, seed=5).program(torch.randn(20, 3,
                                                                    generator=torch.Generator()
                                                                    .manual_seed(0)))
    v = torch.rand(20, dtype=torch.float64)
    draws = xbar.currents(v.expand(4000, 20))                  # 4,000 reads of one vector
    assert xbar.reads == 4000
    gen = torch.Generator().manual_seed(6)                     # the explicit per-cell model
    g = xbar.g * (1 + 0.1 * torch.randn(4000, *xbar.g.shape, generator=gen,
                                        dtype=torch.float64))
    cells = torch.einsum("r,nrc->nc", v, g[:, 0] - g[:, 1])
    assert torch.allclose(draws.mean(0), cells.mean(0), rtol=0.02, atol=0)
    assert torch.allclose(draws.std(0), cells.std(0), rtol=0.08, atol=0)
    assert draws[0].ne(draws[1]).all()                          # fresh noise for every vector


def test_energy_is_the_joule_heat_of_the_cells():
    xbar = Crossbar(3, 2, t_read=1e-8).program(torch.tensor([[1.0, 0.0], [0.0, -1.0],
                                                             [0.5, 0.5]]))
    v = torch.tensor([[0.2, 0.0, 0.1], [0.0, 0.2, 0.0]], dtype=torch.float64)
    xbar.currents(v)
    want = sum(float((vi ** 2) @ (xbar.g[0] + xbar.g[1]).sum(1)) for vi in v) * 1e-8
    assert xbar.energy_j == pytest.approx(want)
    assert xbar.reads == 2 and xbar.macs == 2 * 3 * 2
