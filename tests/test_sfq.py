import math

import numpy as np
import pytest

from snnkit.hw import sfq

CAL = sfq.Calibration(0.96, 0.0147)          # the switching curve fitted at 4.2 K, 100 uA


def test_junction_units():
    j = sfq.Junction()                      # 100 uA, 4 ohm, 0.1 pF, 4.2 K
    assert j.icr_mv == pytest.approx(0.4)
    assert j.tau_ps == pytest.approx(sfq.PHI0_MV_PS / (2 * math.pi * 0.4), rel=1e-9)
    assert j.beta_c == pytest.approx(0.486, abs=1e-3)
    assert j.gamma == pytest.approx(1.76e-3, abs=1e-5)
    # Josephson relation: 1 mV <-> 483.6 GHz
    assert j.frequency_ghz(1 / j.icr_mv) == pytest.approx(483.6, rel=1e-3)


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


def test_slip_counts_match_the_recorded_trajectory():
    drive = sfq.pulse_drive([5, 40, 75], 6000, amp=0.5)
    rng = np.random.default_rng(3)
    phi, _ = sfq.rcsj([0.5, 0.95, 1.2], drive, gamma=2e-3, n_steps=6000, n_trials=4,
                      rng=np.random.default_rng(3))
    counts = sfq.slip_counts([0.5, 0.95, 1.2], drive, gamma=2e-3, n_steps=6000, n_trials=4,
                             rng=rng)
    detected = np.array([len(t) for t in sfq.detect_pulses(phi)]).reshape(4, 3)
    np.testing.assert_array_equal(counts, detected)
    assert counts[:, 0].max() == 0 and counts[:, 1].min() == 3      # 0.9 + 0.5 > 1: all pass


def test_switching_curve_is_monotone_and_noise_widens_it():
    grid = np.linspace(0.88, 1.0, 13)
    rng = np.random.default_rng(0)
    cold = sfq.switching_curve(grid, gamma=1e-3, n_trials=100, rng=rng)
    hot = sfq.switching_curve(grid, gamma=4e-3, n_trials=100, rng=rng)
    assert cold[0] == 0 and cold[-1] == 1
    assert np.all(np.diff(cold) >= -0.05)
    assert sfq.fit_erfc(grid, hot)[1] > sfq.fit_erfc(grid, cold)[1]


def test_sparse_pulse_trains_pass_with_the_calibrated_probability():
    bias = CAL.bias(np.array([0.5]))
    p = sfq.transmission(bias, spacing=40.0, n_pulses=20, n_trials=60, gamma=1.76e-3,
                         rng=np.random.default_rng(1))
    assert abs(p[0] - 0.5) < 0.06                                    # 1200 trials: 3.5 sd


def test_calibration_inverts_the_erfc_curve():
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(CAL.p(CAL.bias(p)), p, atol=1e-9)
    np.testing.assert_allclose(sfq.bias_for_probability(p, CAL.i_sw, CAL.sigma), CAL.bias(p))


def test_raising_the_neuron_bias_lowers_its_threshold():
    biases = (0.0, 0.3, 0.5, 0.75, 0.95)
    assert [sfq.threshold_from_bias(b, 0.3) for b in biases] == [4, 3, 2, 1, 1]
    assert sfq.threshold_from_bias(np.array(biases), 0.3).tolist() == [4, 3, 2, 1, 1]


def test_merger_and_splitter():
    pulses = np.zeros((6, 2), bool)
    pulses[0] = [1, 1]                      # coincident: leave as one
    pulses[1, 0] = 1                        # while blind: lost
    pulses[4, 1] = 1
    assert sfq.merge(pulses, dead_time=2).nonzero()[0].tolist() == [0, 4]
    assert sfq.split(pulses[:, 0], 3).shape == (6, 3)


@pytest.mark.parametrize("i_bias", [1.2, 2.0])
def test_each_slip_draws_ib_times_phi0_from_the_bias(i_bias):
    j = sfq.Junction()
    dt = 0.02
    phi, v = sfq.rcsj(i_bias, beta_c=j.beta_c, dt=dt, n_steps=8000)
    times = sfq.detect_pulses(phi, dt=1)[0].astype(int)
    assert len(times) > 5
    for a, b in zip(times[1:-1], times[2:], strict=True):
        power_w = i_bias * j.ic * v[a:b, 0, 0] * j.icr_mv * 1e-3          # I_b V, watts
        energy = power_w.sum() * dt * j.tau_ps * 1e-12                     # joules per slip
        assert energy == pytest.approx(j.switching_energy_j(i_bias), rel=0.01)
    assert j.switching_energy_j() == pytest.approx(2.068e-19, rel=1e-3)    # 100 uA x PHI0


def test_pulse_counts_are_priced_per_junction_switching():
    from snnkit.hw import event_energy

    counts = {"input": np.array([10, 0]), "arrived": np.array([20, 0]),
              "passed": np.array([15, 0]), "fired": np.array([5, 0])}
    j = sfq.Junction(ic=50e-6)
    e = event_energy(counts, sfq.energy_table(j, i_bias=0.9))
    np.testing.assert_allclose(e, [30 * 0.9 * 50e-6 * sfq.PHI0, 0.0])


def test_periodic_inputs_and_pulse_counts():
    layer = sfq.Layer(np.array([[1]]), np.array([[2.0]]), np.array([0.9]))   # always passes
    net = sfq.PulseNetwork([layer], CAL)
    net.spontaneous_rate = lambda layer: np.zeros(layer.w.shape)           # no free-running
    act = net.simulate(np.array([[0.1], [0.0]]), 1000, np.random.default_rng(0))
    assert act.counts["input"].tolist() == [100, 0]
    assert act.counts["arrived"].tolist() == [100, 0]
    assert act.counts["passed"].tolist() == [100, 0]
    assert act.counts["fired"].tolist() == [100, 0]                  # threshold 1, 10 ps apart
    np.testing.assert_allclose(act.rates[:, 0], [0.1, 0.0])


def test_synapse_passes_with_its_bias_probability_and_free_runs_above_ic():
    w = np.array([[1, 1]])
    layer = sfq.Layer(w, np.array([[CAL.bias(0.3), 1.05]]), np.array([0.9]), refractory=0)
    net = sfq.PulseNetwork([layer], CAL)
    act = net.simulate(np.array([[0.2, 0.0]]), 4000, np.random.default_rng(0))
    free = sfq.overdamped_voltage(1.05) / (2 * math.pi * net.junction.tau_ps)
    assert act.counts["passed"][0] / 4000 == pytest.approx(0.2 * 0.3 + free, rel=0.1)


@pytest.mark.parametrize("depth", [2, 3])
def test_rate_coded_xor_has_a_wide_margin(depth):
    net = sfq.xor_network(CAL, CAL.bias(0.9), CAL.bias(0.9), depth=depth)
    act = net.simulate(sfq.XOR_PATTERNS * 0.025, 2000, np.random.default_rng(0))
    assert len(act.layer_rates) == depth
    assert act.rates[0, 0] == 0
    assert sfq.classification_margin(act.rates) > 0.2 * act.rates.max()


def test_without_inhibition_the_network_computes_or():
    net = sfq.xor_network(CAL, CAL.bias(0.9), 0.9)                    # p_inh ~ 0
    act = net.simulate(sfq.XOR_PATTERNS * 0.025, 2000, np.random.default_rng(0))
    r = act.rates[:, 0]
    assert r[3] > 0.5 * min(r[1], r[2]) and r[0] == 0
    assert sfq.classification_margin(r) < 0


def test_bias_sweeps_and_bias_errors_batch():
    exc = CAL.bias(np.array([0.5, 0.9]))
    net = sfq.xor_network(CAL, np.repeat(exc, 4), CAL.bias(0.9))
    act = net.simulate(np.tile(sfq.XOR_PATTERNS * 0.025, (2, 1)), 2000,
                       np.random.default_rng(0))
    assert sfq.classification_margin(act.rates).shape == (2,)
    rng = np.random.default_rng(0)
    base = sfq.xor_network(CAL, CAL.bias(0.9), CAL.bias(0.9))
    jittered = base.with_bias_errors(0.05, 3, rng, repeat=4, synapses=False)
    assert jittered.layers[0].syn_bias.shape == (12, 2, 2)
    np.testing.assert_allclose(jittered.layers[0].syn_bias[5], base.layers[0].syn_bias)
    bias = jittered.layers[0].neuron_bias
    assert bias.shape == (12, 2) and np.all(abs(bias / 0.55 - 1) <= 0.05)
    np.testing.assert_array_equal(bias[0], bias[3])                  # one draw per 4 patterns
    with pytest.raises(ValueError):
        sfq.xor_network(CAL, 0.97, 0.97, depth=4)


def test_loop_step_counts_fluxons_to_threshold():
    store, wait = np.zeros(2), np.zeros(2, int)
    fired = []
    for drive in ([1, 1], [1, -1], [1, 1], [0, 1], [0, 0]):
        store, wait, fire = sfq.loop_step(store, wait, np.array(drive), np.array([2, 2]),
                                          floor=1, refractory=1)
        fired.append(fire.tolist())
    assert fired == [[False, False], [True, False], [False, False], [False, True],
                     [False, False]]
    assert store.tolist() == [1, 0]                 # neuron 1: +1 -1 +1 +1 fires at tick 3
