"""Altitude control of an indoor blimp: a physical plant, a PID controller, closed-loop runs.

**Plant** (vertical axis, SI units). Altitude ``z`` (m), climb rate ``w`` (m/s) and the thrust
``f`` (N) the propellers actually deliver:

    m dw/dt = f + b - k |w| w - c w,        tau_m df/dt = f_max clip(u, -1, 1) - f,

with ``m`` the mass including the air the hull drags along (added mass), ``b`` the net lift
(buoyancy minus weight: a blimp is never exactly neutral, and ``b < 0`` makes it sink), ``k`` the
quadratic drag ``rho C_d A / 2``, ``c`` a small linear damping, and the propellers' command ``u``
saturating at ``+-1`` (``f_max`` newtons) and lagging by ``tau_m``. A time-of-flight sensor reads
``z`` with Gaussian noise. Everything advances in steps of ``dt`` (30 Hz), semi-implicit Euler.

**PID** (discrete, on the error ``e = r - y``): ``u = K_p e + K_i I + K_d d`` with the integral
``I <- clip(I + e dt, +-windup)`` accumulating only while ``|e|`` is inside a band (conditional
integration and clamping: two standard anti-windup measures) and ``d`` the error's rate of change
through a first-order low-pass filter (``d <- a d + (1 - a)(e_k - e_{k-1})/dt``), which keeps
sensor noise from reaching the motors.

Controllers are callables ``u = ctrl(e)`` on a batch ``[B]`` of errors with a ``reset(batch)``
method, so one closed-loop run can fly many blimps (or many controllers) at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Blimp:
    """Physical parameters of the blimp's vertical axis (SI units).

    ``mass`` kg (with added mass), ``drag`` kg/m (``rho C_d A / 2``), ``damping`` N s/m,
    ``thrust_max`` N at ``|u| = 1``, ``motor_tau`` s, ``buoyancy`` N of net lift (negative:
    heavier than air), ``noise`` m (sensor standard deviation), ``dt`` s (control period),
    ``ceiling`` m (the hall's height; the floor is at 0).
    Defaults: a 1.5 m indoor blimp with two small propellers and a time-of-flight sensor.
    """

    mass: float = 0.35
    drag: float = 0.08
    damping: float = 0.02
    thrust_max: float = 0.06
    motor_tau: float = 0.3
    buoyancy: float = 0.0
    noise: float = 0.005
    dt: float = 1 / 30
    ceiling: float = 4.0


def blimp_step(z, w, f, u, p: Blimp):
    """One step of the plant: state ``(z, w, f)`` and command ``u`` (arrays of one shape) ->
    the next state. The thrust moves toward ``thrust_max * clip(u, -1, 1)`` with time constant
    ``motor_tau``; then velocity, then altitude (semi-implicit Euler). The floor (``z = 0``)
    and the ceiling stop the blimp."""
    f = f + p.dt / p.motor_tau * (p.thrust_max * np.clip(u, -1.0, 1.0) - f)
    accel = (f + p.buoyancy - p.drag * np.abs(w) * w - p.damping * w) / p.mass
    w = w + p.dt * accel
    z = z + p.dt * w
    w = np.where(z < 0, np.maximum(w, 0.0), np.where(z > p.ceiling, np.minimum(w, 0.0), w))
    return np.clip(z, 0.0, p.ceiling), w, f


def pid_step(e, state, kp: float, ki: float, kd: float, dt: float, windup: float,
             alpha: float, band: float = np.inf):
    """One PID step on errors ``e`` ``[B]``. ``state = (integral, d, e_prev)``.
    Returns ``(p, i, d)`` terms (already multiplied by their gains) and the new state.
    The integral only accumulates while ``|e| < band`` (conditional integration) and is clamped
    to ``+-windup``. The first step (``e_prev`` is NaN) has a zero derivative."""
    integral, d, e_prev = state
    integral = np.clip(integral + np.where(abs(e) < band, e, 0.0) * dt, -windup, windup)
    raw = np.where(np.isnan(e_prev), 0.0, (e - e_prev) / dt)
    d = alpha * d + (1 - alpha) * raw
    return (kp * e, ki * integral, kd * d), (integral, d, e)


class PID:
    """A discrete PID with clamping anti-windup and a filtered derivative (see module doc).

    ``windup``: the largest ``|integral of e dt|`` (m s); ``band``: the integral only
    accumulates while ``|e| < band`` (m); ``alpha``: derivative filter pole (0: raw
    difference). ``parts="pid"`` uses every term; ``"pd"`` or ``"i"`` only those (the targets of
    the two spiking controllers). ``u_lim`` clips the command. Gains may be arrays ``[B]``
    (one PID per batch row)."""

    def __init__(self, kp: float, ki: float, kd: float, dt: float = 1 / 30,
                 windup: float = 1.0, band: float = 0.2, alpha: float = 0.9,
                 parts: str = "pid", u_lim: float = 1.0):
        if parts not in ("pid", "pd", "i"):
            raise ValueError(f"parts must be 'pid', 'pd' or 'i', got {parts!r}")
        self.kp, self.ki, self.kd, self.dt = kp, ki, kd, dt
        self.windup, self.band, self.alpha = windup, band, alpha
        self.parts, self.u_lim = parts, u_lim
        self.reset(1)

    def reset(self, batch: int) -> None:
        self.state = (np.zeros(batch), np.zeros(batch), np.full(batch, np.nan))

    def __call__(self, e):
        (p, i, d), self.state = pid_step(np.asarray(e, float), self.state, self.kp, self.ki,
                                         self.kd, self.dt, self.windup, self.alpha, self.band)
        u = {"pid": p + i + d, "pd": p + d, "i": i}[self.parts]
        return np.clip(u, -self.u_lim, self.u_lim)

    def terms(self, e) -> dict[str, np.ndarray]:
        """The P, I and D terms (``"p"``, ``"i"``, ``"d"``, each ``[T, ...]``) this PID produces,
        from reset, along error sequences ``e`` ``[T, ...]`` (e.g. logged in closed loop)."""
        e = np.asarray(e, float)
        state = (np.zeros(e.shape[1:]), np.zeros(e.shape[1:]), np.full(e.shape[1:], np.nan))
        out = {k: np.empty(e.shape) for k in "pid"}
        for t in range(len(e)):
            (out["p"][t], out["i"][t], out["d"][t]), state = pid_step(
                e[t], state, self.kp, self.ki, self.kd, self.dt, self.windup, self.alpha,
                self.band)
        return out


class Parallel:
    """Controllers acting together: ``u = clip(sum of their commands, -u_lim, u_lim)`` (e.g. a
    PD-like and an I-like spiking controller). No controllers: ``u = 0`` (the motors off)."""

    def __init__(self, *controllers, u_lim: float = 1.0):
        self.controllers, self.u_lim = controllers, u_lim

    def reset(self, batch: int) -> None:
        for c in self.controllers:
            c.reset(batch)

    def __call__(self, e):
        u = sum((c(e) for c in self.controllers), np.zeros(np.shape(e)))
        return np.clip(u, -self.u_lim, self.u_lim)


def error_features(e, dt: float = 1 / 30, alpha: float = 0.9):
    """The inputs a controller sees at each step of error sequences ``e`` ``[T, ...]``: the error
    and its filtered rate of change (the same filter as :class:`PID`), ``[T, ..., 2]``."""
    e = np.asarray(e, float)
    d, out = np.zeros(e.shape[1:]), np.empty((*e.shape, 2))
    for t in range(len(e)):
        raw = (e[t] - e[t - 1]) / dt if t > 0 else np.zeros(e.shape[1:])
        d = alpha * d + (1 - alpha) * raw
        out[t, ..., 0], out[t, ..., 1] = e[t], d
    return out


def step_reference(levels, hold_s: float, dt: float = 1 / 30) -> np.ndarray:
    """A set-point sequence ``[len(levels) * hold_s / dt]`` (m): each level held ``hold_s``."""
    n = int(round(hold_s / dt))
    return np.repeat(np.asarray(levels, float), n)


def random_levels(n: int, rng: np.random.Generator, low: float = 0.5, high: float = 2.5,
                  min_step: float = 0.3) -> np.ndarray:
    """``n`` random altitudes in ``[low, high]`` (m), consecutive ones at least ``min_step``
    apart (so every hold starts with a real step)."""
    levels = [rng.uniform(low, high)]
    while len(levels) < n:
        x = rng.uniform(low, high)
        if abs(x - levels[-1]) >= min_step:
            levels.append(x)
    return np.array(levels)


def closed_loop(controller, plant: Blimp, ref, batch: int = 1, z0=None,
                rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Fly ``batch`` blimps with ``controller`` along the set-points ``ref`` ``[T]`` (m).

    Each step: measure ``y = z + noise``, ``u = controller(ref - y)``, advance the plant. The
    blimps start at rest at ``z0`` (default ``ref[0]``) with thrust balancing nothing.
    Returns ``t`` ``[T]`` (s), ``ref`` ``[T]``, and ``z``, ``y``, ``u``, ``e`` ``[T, batch]``
    (true altitude, measurement, command, measured error).
    """
    rng = rng or np.random.default_rng(0)
    ref = np.asarray(ref, float)
    z = np.full(batch, ref[0] if z0 is None else z0, float)
    w, f = np.zeros(batch), np.zeros(batch)
    controller.reset(batch)
    out = {k: np.empty((len(ref), batch)) for k in ("z", "y", "u", "e")}
    for t, r in enumerate(ref):
        y = z + plant.noise * rng.standard_normal(batch)
        e = r - y
        u = controller(e)
        out["z"][t], out["y"][t], out["u"][t], out["e"][t] = z, y, u, e
        z, w, f = blimp_step(z, w, f, u, plant)
    out["t"], out["ref"] = np.arange(len(ref)) * plant.dt, ref
    return out


def step_metrics(z, ref, dt: float = 1 / 30, settle_s: float = 3.0) -> dict[str, np.ndarray]:
    """Tracking quality of altitude traces ``z`` ``[T, ...]`` against a step reference ``[T]``.

    For every hold after a set-point change (from ``r0`` to ``r1``): ``overshoot``, the largest
    excursion beyond ``r1`` in the direction of the step, as a fraction of ``|r1 - r0|`` (0 if
    none); ``sse``, the steady-state error, the mean ``|r1 - z|`` over the hold's last
    ``settle_s`` seconds (m). Also ``rmse`` over the whole run (m). Per-hold values are averaged
    over holds, leaving the batch shape.
    """
    z, ref = np.asarray(z, float), np.asarray(ref, float)
    z2 = z.reshape(len(z), -1)
    edges = np.flatnonzero(np.diff(ref)) + 1
    starts, ends = edges, np.append(edges[1:], len(ref))
    n_settle = int(round(settle_s / dt))
    over, sse = [], []
    for a, b in zip(starts, ends, strict=True):
        r0, r1 = ref[a - 1], ref[a]
        sign = np.sign(r1 - r0)
        over.append(np.maximum(0, (sign * (z2[a:b] - r1)).max(0)) / abs(r1 - r0))
        sse.append(abs(r1 - z2[b - n_settle:b]).mean(0))
    shape = z.shape[1:]
    rmse = np.sqrt(((z2 - ref[:, None]) ** 2).mean(0))
    return {"overshoot": np.mean(over, 0).reshape(shape), "sse": np.mean(sse, 0).reshape(shape),
            "rmse": rmse.reshape(shape)}


def tune_pid(plant: Blimp, ref, kp_grid, ki_grid, kd_grid, rng=None, chatter_weight=0.1,
             **pid_kwargs) -> tuple[tuple[float, float, float], dict]:
    """Grid-search PID gains on ``plant`` along ``ref``: every combination flies at once (one
    batch row each). The cost (m) adds the altitude RMSE, the mean overshoot times the mean step,
    the steady-state error, and ``chatter_weight`` x the mean ``|u_k - u_{k-1}|`` (motor wear).
    Returns the best ``(kp, ki, kd)`` and the grid's metrics."""
    grid = np.array(np.meshgrid(kp_grid, ki_grid, kd_grid, indexing="ij")).reshape(3, -1)
    pid = PID(grid[0], grid[1], grid[2], plant.dt, **pid_kwargs)
    run = closed_loop(pid, plant, ref, batch=grid.shape[1], rng=rng)
    m = step_metrics(run["z"], ref, plant.dt)
    step = np.abs(np.diff(ref)[np.diff(ref) != 0]).mean()
    chatter = np.abs(np.diff(run["u"], axis=0)).mean(0)
    cost = m["rmse"] + m["overshoot"] * step + m["sse"] + chatter_weight * chatter
    best = int(np.argmin(cost))
    return tuple(float(g) for g in grid[:, best]), {"grid": grid, "cost": cost,
                                                    "chatter": chatter, **m}
