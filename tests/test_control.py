import numpy as np
import pytest

from snnkit import control as C


def test_free_fall_and_terminal_velocity():
    p = C.Blimp(buoyancy=-0.01, noise=0.0, ceiling=1e5)
    z, w, f = np.array([1e4]), np.zeros(1), np.zeros(1)
    for _ in range(3000):                             # 100 s: long past the transient
        z, w, f = C.blimp_step(z, w, f, np.zeros(1), p)
    # terminal velocity: buoyancy = k w^2 + c w  (sinking, so w < 0)
    k, c, b = p.drag, p.damping, -p.buoyancy
    w_term = -(-c + np.sqrt(c * c + 4 * k * b)) / (2 * k)
    assert w[0] == pytest.approx(w_term, rel=1e-3)
    z, w, f = C.blimp_step(np.array([0.001]), np.array([-1.0]), np.zeros(1), np.zeros(1), p)
    assert z[0] == 0 and w[0] == 0                   # the floor stops it
    z, w, f = C.blimp_step(np.array([p.ceiling]), np.array([1.0]), np.zeros(1), np.zeros(1), p)
    assert z[0] == p.ceiling and w[0] == 0           # and the ceiling


def test_thrust_saturates_and_lags():
    p = C.Blimp()
    f = np.zeros(1)
    z, w = np.zeros(1), np.zeros(1)
    z, w, f = C.blimp_step(z, w, f, np.array([5.0]), p)
    assert f[0] == pytest.approx(p.thrust_max * p.dt / p.motor_tau)
    for _ in range(300):
        z, w, f = C.blimp_step(z, w, f, np.array([5.0]), p)
    assert f[0] == pytest.approx(p.thrust_max, rel=1e-6)


def test_pid_terms_by_hand():
    pid = C.PID(2.0, 0.5, 1.0, dt=0.1, windup=10.0, band=np.inf, alpha=0.0)
    e = np.array([[1.0], [0.5], [0.25]])
    terms = pid.terms(e)
    np.testing.assert_allclose(terms["p"][:, 0], [2.0, 1.0, 0.5])
    np.testing.assert_allclose(terms["i"][:, 0], 0.5 * np.array([0.1, 0.15, 0.175]))
    np.testing.assert_allclose(terms["d"][:, 0], [0.0, -5.0, -2.5])
    pid.reset(1)
    u = [pid(row)[0] for row in e]
    np.testing.assert_allclose(u, np.clip(terms["p"] + terms["i"] + terms["d"], -1, 1)[:, 0])


def test_anti_windup_band_and_clamp():
    pid = C.PID(0.0, 1.0, 0.0, dt=1.0, windup=0.5, band=0.3, parts="i")
    pid.reset(2)
    for _ in range(10):
        u = pid(np.array([1.0, 0.2]))                 # outside / inside the band
    np.testing.assert_allclose(u, [0.0, 0.5])         # not integrated / clamped at windup


def test_error_features_match_the_pid_derivative():
    e = np.random.default_rng(0).standard_normal((50, 3))
    x = C.error_features(e, dt=0.05, alpha=0.7)
    pid = C.PID(0.0, 0.0, 1.0, dt=0.05, alpha=0.7, u_lim=np.inf)
    np.testing.assert_allclose(x[..., 1], pid.terms(e)["d"])
    np.testing.assert_array_equal(x[..., 0], e)


def test_step_metrics():
    ref = C.step_reference([0.0, 1.0], 2.0, dt=0.5)   # 4 steps at 0, 4 at 1
    z = np.array([0, 0, 0, 0, 0.5, 1.2, 1.05, 1.0])[:, None]
    m = C.step_metrics(z, ref, dt=0.5, settle_s=1.0)
    assert m["overshoot"][0] == pytest.approx(0.2)
    assert m["sse"][0] == pytest.approx(0.025)
    assert m["rmse"][0] == pytest.approx(np.sqrt((0.25 + 0.04 + 0.0025) / 8))


def test_pid_tracks_with_small_steady_state_error_and_i_removes_the_offset():
    plant = C.Blimp(buoyancy=-0.006)
    ref = C.step_reference([1.0, 2.0], 20.0)
    rng = np.random.default_rng(0)
    runs = {parts: C.closed_loop(C.PID(3.0, 0.25, 6.0, parts=parts), plant, ref, rng=rng)
            for parts in ("pid", "pd")}
    m = {k: C.step_metrics(r["z"], ref) for k, r in runs.items()}
    assert m["pid"]["sse"][0] < 0.02 and m["pid"]["overshoot"][0] < 0.2
    assert m["pd"]["sse"][0] > 2 * m["pid"]["sse"][0]
    off = C.closed_loop(C.Parallel(), plant, ref, rng=rng)             # motors off: sinks
    assert off["z"][-1, 0] == 0.0


def test_tune_pid_picks_the_lowest_cost():
    plant = C.Blimp(buoyancy=-0.006)
    ref = C.step_reference([1.0, 1.8], 15.0)
    best, info = C.tune_pid(plant, ref, [1.0, 3.0], [0.0, 0.25], [2.0, 6.0],
                            rng=np.random.default_rng(0))
    assert info["cost"].shape == (8,)
    assert best == tuple(info["grid"][:, np.argmin(info["cost"])])


def test_random_levels_step_apart():
    levels = C.random_levels(20, np.random.default_rng(0), 0.5, 2.5, 0.3)
    assert np.all(abs(np.diff(levels)) >= 0.3) and levels.min() >= 0.5 and levels.max() <= 2.5
