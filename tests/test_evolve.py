import numpy as np
import pytest
import torch

from snnkit import control as C
from snnkit import evolve as E
from snnkit.hw import count_ops


def test_layout_round_trip():
    lay = E.Layout(5, n_inputs=2)
    g = np.arange(lay.size, dtype=float)
    p = lay.unpack(g[None].repeat(3, 0))
    assert p["W"].shape == (3, 5, 2) and p["b"].shape == (3, 5) and p["lam"].shape == (3,)
    np.testing.assert_allclose(p["W"][0].ravel(), lay.input_scale * g[:10])
    assert lay.size == 5 * 5 + 2


def test_rollout_matches_a_plain_loop_and_snnkit_lif():
    lay = E.Layout(6, n_inputs=2)
    rng = np.random.default_rng(0)
    g = lay.init(rng, spread=1.5)
    x = rng.standard_normal((80, 2, 2))
    u, spikes = E.rollout(g, lay, x, return_spikes=True)
    p = lay.unpack(g)
    h, s, y = np.zeros((2, 6)), np.zeros((2, 6)), np.zeros(2)
    for t in range(80):                                    # the equations, written out
        h = p["beta"] * h + x[t] @ p["W"].T + p["b"] - s
        s = (h > 1).astype(float)
        y = p["lam"] * y + s @ p["w"]
        np.testing.assert_allclose(u[0, t], np.clip(y + p["c"], -1, 1))
    twin = E.to_torch(g, lay)
    with torch.no_grad():
        _, spk = twin(torch.as_tensor(x))
    np.testing.assert_array_equal(spk.numpy() > 0, spikes[0])
    assert spikes.any() and not spikes.all()


def test_controller_in_closed_loop_equals_rollout_on_the_same_errors():
    lay = E.Layout(4, n_inputs=2)
    g = lay.init(np.random.default_rng(1))
    e = np.random.default_rng(2).standard_normal((40, 3)) * 0.3
    ctrl = E.SpikingController(g, lay, "ed")
    ctrl.reset(3)
    u = np.stack([ctrl(row) for row in e])
    np.testing.assert_allclose(u, E.rollout(g, lay, E.features_for(e, "ed"))[0])
    with pytest.raises(ValueError):
        E.SpikingController(g, lay, "e")


def test_es_minimises_a_quadratic():
    es = E.ES(np.full(10, 3.0), sigma0=1.0, lam=20, sigma_decay=0.95,
              rng=np.random.default_rng(0))
    for _ in range(60):
        x = es.ask()
        es.tell((x**2).sum(1))
    assert es.best_fitness < 0.05 * 90 and abs(es.mean).max() < 0.5


def test_evolution_improves_imitation():
    rng = np.random.default_rng(0)
    e = np.cumsum(rng.standard_normal((300, 2)) * 0.02, 0)
    x = E.features_for(e, "ed")
    target = np.clip(3 * x[..., 0] + 2 * x[..., 1], -1, 1)
    _, hist = E.evolve(E.Layout(8), x, target, generations=15, pop=16,
                       rng=np.random.default_rng(0))
    assert hist["best"][-1] < 0.7 * hist["gen_best"][0]
    assert all(a >= b for a, b in zip(hist["best"], hist["best"][1:], strict=False))


def test_op_count_matches_count_ops():
    lay = E.Layout(7, n_inputs=2)
    g = lay.init(np.random.default_rng(3), spread=1.5)
    x = np.random.default_rng(4).standard_normal((50, 1, 2))
    _, spikes = E.rollout(g, lay, x, return_spikes=True)
    report = count_ops(E.to_torch(g, lay), torch.as_tensor(x), samples=1)
    ours = E.ops_per_step(lay, spikes.sum() / 50)
    assert report.total("macs") / 50 == pytest.approx(7 * 2)                  # input currents
    assert report.total("acs") / 50 == pytest.approx(spikes.sum() / 50)       # output synapses
    assert report.total("neuron_updates") / 50 == pytest.approx(ours["neuron_updates"])
    assert ours["macs"] == 7 * 2 + 1 + 2 and ours["acs"] == 7 + spikes.sum() / 50 + 1


def test_closed_loop_accepts_spiking_controllers_in_parallel():
    pd = E.SpikingController(np.zeros(E.Layout(3).size), E.Layout(3))
    i = E.SpikingController(np.zeros(E.Layout(2, 1).size), E.Layout(2, 1), "e")
    run = C.closed_loop(C.Parallel(pd, i), C.Blimp(), C.step_reference([1.0, 1.5], 2.0),
                        batch=2)
    assert run["u"].shape == (120, 2) and np.all(run["u"] == 0)     # zero genome: silent
