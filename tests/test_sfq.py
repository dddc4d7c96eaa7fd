import math

import numpy as np
import pytest

from snnkit.hw import sfq


def test_junction_units():
    j = sfq.Junction()                      # 100 uA, 4 ohm, 0.1 pF, 4.2 K
    assert j.icr_mv == pytest.approx(0.4)
    assert j.tau_ps == pytest.approx(sfq.PHI0_MV_PS / (2 * math.pi * 0.4), rel=1e-9)
    assert j.beta_c == pytest.approx(0.486, abs=1e-3)
    assert j.gamma == pytest.approx(1.76e-3, abs=1e-5)


def test_overdamped_pulse_rate_follows_the_rcsj_relation():
    i_b = np.array([1.1, 1.3, 1.6, 2.0])
    phi, _ = sfq.rcsj(i_b, dt=0.02, n_steps=15000)
    for i, times in zip(i_b, sfq.detect_pulses(phi, dt=0.02), strict=True):
        times = times[times > 50]
        rate = (len(times) - 1) / (times[-1] - times[0])
        assert 2 * math.pi * rate == pytest.approx(sfq.overdamped_voltage(i), rel=0.01)


def test_below_the_critical_current_there_are_no_pulses():
    phi, v = sfq.rcsj([0.5, 0.95], dt=0.02, n_steps=5000)
    assert all(len(t) == 0 for t in sfq.detect_pulses(phi))
    assert abs(v[100:]).max() < 1e-6


@pytest.mark.parametrize("beta_c", [0.0, 1.0])
def test_each_pulse_carries_one_flux_quantum(beta_c):
    j = sfq.Junction()
    dt = 0.02
    phi, v = sfq.rcsj(1.5, beta_c=beta_c, dt=dt, n_steps=8000)
    times = sfq.detect_pulses(phi, dt=1)[0].astype(int)
    assert len(times) > 5
    for a, b in zip(times[1:-1], times[2:], strict=True):
        flux = (v[a:b, 0, 0] * j.icr_mv).sum() * dt * j.tau_ps       # integral of V dt, mV ps
        assert flux == pytest.approx(sfq.PHI0_MV_PS, rel=0.01)


def test_switching_curve_is_monotone_and_noise_widens_it():
    grid = np.linspace(0.85, 1.0, 16)
    rng = np.random.default_rng(0)
    cold = sfq.switching_curve(grid, gamma=1e-3, n_trials=100, rng=rng)
    hot = sfq.switching_curve(grid, gamma=4e-3, n_trials=100, rng=rng)
    assert cold[0] == 0 and cold[-1] == 1
    assert np.all(np.diff(cold) >= -0.05)
    assert sfq.fit_erfc(grid, hot)[1] > sfq.fit_erfc(grid, cold)[1]


def test_bias_for_probability_inverts_the_erfc_curve():
    p = np.array([0.1, 0.5, 0.9])
    i_b = sfq.bias_for_probability(p, 0.92, 0.01)
    np.testing.assert_allclose(sfq.erfc_curve(i_b, 0.92, 0.01), p, atol=1e-9)


def test_raising_the_neuron_bias_lowers_its_threshold():
    thresholds = [sfq.threshold_from_bias(b, 0.3) for b in (0.0, 0.3, 0.5, 0.75, 0.95)]
    assert thresholds == [4, 3, 2, 1, 1]


def test_merger_and_splitter():
    pulses = np.zeros((6, 2), bool)
    pulses[0] = [1, 1]                      # coincident: leave as one
    pulses[1, 0] = 1                        # while blind: lost
    pulses[4, 1] = 1
    assert sfq.merge(pulses, dead_time=2).nonzero()[0].tolist() == [0, 4]
    assert sfq.split(pulses[:, 0], 3).shape == (6, 3)


@pytest.mark.parametrize("depth", [2, 3])
def test_rate_coded_xor_has_a_wide_margin(depth):
    net = sfq.xor_network(depth=depth)
    rates, per_layer = net.simulate(sfq.XOR_PATTERNS * 0.1, 5000, np.random.default_rng(0))
    assert len(per_layer) == depth
    assert rates[0, 0] == 0
    assert sfq.classification_margin(rates) > 0.2 * rates.max()
