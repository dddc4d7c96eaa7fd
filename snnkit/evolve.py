"""Evolving small spiking controllers to imitate a target signal (e.g. a PID's command).

**Controller.** ``N`` LIF neurons receive the controller's input features ``x_t`` (e.g. the
error and its rate of change) as currents and drive one leaky-integrator output:

    I_t = W x_t + b,   h_t = beta h_{t-1} + I_t - theta s_{t-1},   s_t = [h_t > theta],
    y_t = lam y_{t-1} + w . s_t,   u_t = clip(y_t + c, -1, 1),

(``theta = 1``; the same convention as :class:`snnkit.neurons.LIF`: reset by subtraction one step
after a spike). The output neuron does not spike; with ``lam`` near 1 it integrates spikes,
which is how the I-controller keeps its memory. Every number (``W``, ``b``, the decays ``beta``
and ``lam``, ``w``, ``c``) is one gene of a flat genome; :class:`Layout` maps it.

**Evolution.** :class:`ES` is a (mu/mu_w, lambda) evolution strategy: sample ``lambda``
genomes around a mean with step size ``sigma``, keep the best ``mu``, move the mean to their
rank-weighted average, shrink ``sigma``. No gradients: spikes need no surrogate here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .control import error_features
from .neurons import LIF


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@dataclass(frozen=True)
class Layout:
    """How a flat genome ``[..., size]`` maps to a controller of ``n_neurons`` LIF neurons with
    ``n_inputs`` input features. Genes are stored standardised; ``scale`` and ``offset`` give the
    physical values (``value = offset + scale * gene``) so that one mutation step size suits
    every gene. ``beta``/``lam`` pass through a sigmoid; ``lam_max`` caps the output decay."""

    n_neurons: int
    n_inputs: int = 2
    input_scale: float = 3.0
    bias_scale: float = 0.5
    beta_logit: float = 1.0
    out_scale: float = 0.05
    lam_logit: float = 1.5

    @property
    def size(self) -> int:
        return self.n_neurons * (self.n_inputs + 3) + 2

    def unpack(self, genome) -> dict[str, np.ndarray]:
        """Genome ``[..., size]`` -> ``W`` ``[..., N, n_in]``, ``b``, ``beta``, ``w`` ``[..., N]``,
        ``lam``, ``c`` ``[...]``."""
        g = np.asarray(genome, float)
        N, k = self.n_neurons, self.n_inputs
        parts = np.split(g, np.cumsum([N * k, N, N, N, 1]), axis=-1)
        return {"W": self.input_scale * parts[0].reshape(*g.shape[:-1], N, k),
                "b": self.bias_scale * parts[1],
                "beta": _sigmoid(self.beta_logit + parts[2]),
                "w": self.out_scale * parts[3],
                "lam": _sigmoid(self.lam_logit + parts[4][..., 0]),
                "c": self.out_scale * parts[5][..., 0]}

    def init(self, rng: np.random.Generator, spread: float = 1.0) -> np.ndarray:
        """A random genome ``[size]``: standard normal genes times ``spread`` (0: all neurons at
        the default decays, no input)."""
        return spread * rng.standard_normal(self.size)


def rollout(genome, layout: Layout, x, return_spikes: bool = False):
    """Run controllers on feature sequences. ``genome`` ``[P, size]`` (P controllers),
    ``x`` ``[T, S, n_in]`` (S sequences). Returns the commands ``u`` ``[P, T, S]`` (and the
    spikes ``[P, T, S, N]`` if ``return_spikes``)."""
    p = layout.unpack(np.atleast_2d(genome))
    P, (T, S, _) = p["W"].shape[0], np.shape(x)
    h = np.zeros((P, S, layout.n_neurons))
    s = np.zeros_like(h)
    y = np.zeros((P, S))
    spikes = np.empty((P, T, S, layout.n_neurons), bool) if return_spikes else None
    beta, lam, w = p["beta"][:, None, :], p["lam"][:, None], p["w"][:, :, None]
    currents = np.matmul(np.asarray(x, float)[:, None], np.swapaxes(p["W"], 1, 2)[None])
    currents += p["b"][None, :, None, :]                      # [T, P, S, N]
    y_all = np.empty((T, P, S))
    for t in range(T):
        h = beta * h + currents[t] - s                        # threshold 1, delayed reset
        s = (h > 1.0).astype(float)
        y = lam * y + (s @ w)[..., 0]
        y_all[t] = y
        if return_spikes:
            spikes[:, t] = s > 0
    u = np.clip(y_all.transpose(1, 0, 2) + p["c"][:, None, None], -1.0, 1.0)
    return (u, spikes) if return_spikes else u


def imitation_rmse(genome, layout: Layout, x, target) -> np.ndarray:
    """Fitness: RMSE between each controller's commands and ``target`` ``[T, S]``, ``[P]``."""
    return np.sqrt(((rollout(genome, layout, x) - target[None]) ** 2).mean((1, 2)))


class ES:
    """A (mu/mu_w, lambda) evolution strategy with log-rank weights and a decaying step size.

    ``ask()`` returns ``lam`` genomes ``[lam, D]``; ``tell(fitness)`` (lower is better) moves
    the mean to the weighted average of the best ``mu`` and multiplies ``sigma`` by
    ``sigma_decay``. ``best``/``best_fitness`` keep the best genome seen.
    """

    def __init__(self, x0, sigma0: float = 0.3, lam: int = 32, mu: int | None = None,
                 sigma_decay: float = 0.98, rng: np.random.Generator | None = None):
        self.mean = np.asarray(x0, float).copy()
        self.sigma, self.lam, self.mu = sigma0, lam, mu or lam // 4
        self.sigma_decay = sigma_decay
        self.rng = rng or np.random.default_rng(0)
        w = np.log(self.mu + 0.5) - np.log(np.arange(1, self.mu + 1))
        self.weights = w / w.sum()
        self.best, self.best_fitness = self.mean.copy(), np.inf

    def ask(self) -> np.ndarray:
        self._z = self.rng.standard_normal((self.lam, self.mean.size))
        return self.mean + self.sigma * self._z

    def tell(self, fitness) -> None:
        fitness = np.asarray(fitness, float)
        order = np.argsort(fitness)
        if fitness[order[0]] < self.best_fitness:
            self.best_fitness = float(fitness[order[0]])
            self.best = self.mean + self.sigma * self._z[order[0]]
        self.mean = self.mean + self.sigma * self.weights @ self._z[order[:self.mu]]
        self.sigma *= self.sigma_decay


def evolve(layout: Layout, x, target, generations: int, pop: int = 32, sigma0: float = 0.3,
           sigma_decay: float = 0.98, rng: np.random.Generator | None = None,
           desc: str = "evolve", x0=None) -> tuple[np.ndarray, dict]:
    """Evolve a controller imitating ``target`` ``[T, S]`` on features ``x`` ``[T, S, n_in]``.
    Returns the best genome and the history: ``best`` (best-so-far RMSE, one per generation,
    after generation 0's initial population), ``gen_best`` (each generation's best) and
    ``genomes`` (the best-so-far genome after each generation)."""
    rng = rng or np.random.default_rng(0)
    es = ES(layout.init(rng) if x0 is None else x0, sigma0, pop, None, sigma_decay, rng)
    history = {"best": [], "gen_best": [], "genomes": []}
    for _ in tqdm(range(generations), desc=desc, leave=False):
        genomes = es.ask()
        fitness = imitation_rmse(genomes, layout, x, target)
        es.tell(fitness)
        history["gen_best"].append(float(fitness.min()))
        history["best"].append(es.best_fitness)
        history["genomes"].append(es.best.copy())
    return es.best, history


class SpikingController:
    """A closed-loop controller from a genome: computes its features from the error (``"e"``:
    the error; ``"ed"``: the error and its filtered rate, as :class:`~snnkit.control.PID` sees
    them) and runs the spiking network one step per call. ``reset(batch)``, ``u = ctrl(e)``."""

    def __init__(self, genome, layout: Layout, features: str = "ed", dt: float = 1 / 30,
                 alpha: float = 0.9):
        if features not in ("e", "ed") or len(features) != layout.n_inputs:
            raise ValueError(f"features must be 'e' or 'ed' matching layout.n_inputs, got "
                             f"{features!r} for {layout.n_inputs} inputs")
        self.p = layout.unpack(np.asarray(genome, float))
        self.layout, self.features, self.dt, self.alpha = layout, features, dt, alpha
        self.spike_count = 0
        self.reset(1)

    def reset(self, batch: int) -> None:
        n = self.layout.n_neurons
        self.h, self.s = np.zeros((batch, n)), np.zeros((batch, n))
        self.y, self.d, self.e_prev = np.zeros(batch), np.zeros(batch), None
        self.spike_count = 0

    def __call__(self, e):
        e = np.asarray(e, float)
        raw = np.zeros_like(e) if self.e_prev is None else (e - self.e_prev) / self.dt
        self.d, self.e_prev = self.alpha * self.d + (1 - self.alpha) * raw, e
        x = e[:, None] if self.features == "e" else np.stack([e, self.d], -1)
        self.h = self.p["beta"] * self.h + x @ self.p["W"].T + self.p["b"] - self.s
        self.s = (self.h > 1.0).astype(float)
        self.spike_count += int(self.s.sum())
        self.y = self.p["lam"] * self.y + self.s @ self.p["w"]
        return np.clip(self.y + self.p["c"], -1.0, 1.0)


def features_for(e, features: str = "ed", dt: float = 1 / 30, alpha: float = 0.9):
    """The features a :class:`SpikingController` computes, for whole error sequences
    ``[T, S]`` -> ``[T, S, 1 or 2]``."""
    x = error_features(e, dt, alpha)
    return x[..., :1] if features == "e" else x


class TorchController(nn.Module):
    """The spiking part of a controller as snnkit modules (float64): ``inp`` =
    ``Linear(n_in, N)`` (input currents), ``lif`` = :class:`~snnkit.neurons.LIF` (one decay per
    neuron), ``out`` = ``Linear(N, 1, bias=False)`` (output synapses). ``forward(x)`` on
    time-first features ``[T, B, n_in]`` returns ``(w . s_t [T, B, 1], spikes [T, B, N])``; the
    output neuron then accumulates ``w . s_t`` with decay ``lam`` (one multiply-add per step,
    not a module). Built by :func:`to_torch`, e.g. for :func:`snnkit.hw.count_ops`."""

    def __init__(self, inp: nn.Linear, lif: LIF, out: nn.Linear):
        super().__init__()
        self.inp, self.lif, self.out = inp, lif, out

    def forward(self, x):
        spikes, _ = self.lif(self.inp(x))
        return self.out(spikes), spikes


def to_torch(genome, layout: Layout) -> TorchController:
    """The genome's spiking network as a :class:`TorchController` (float64)."""
    p = layout.unpack(np.asarray(genome, float))
    inp = nn.Linear(layout.n_inputs, layout.n_neurons)
    out = nn.Linear(layout.n_neurons, 1, bias=False)
    with torch.no_grad():
        inp.weight.copy_(torch.as_tensor(p["W"]))
        inp.bias.copy_(torch.as_tensor(p["b"]))
        out.weight.copy_(torch.as_tensor(p["w"])[None])
    lif = LIF(beta=torch.as_tensor(p["beta"]), threshold=1.0)
    return TorchController(inp, lif, out).double()


def ops_per_step(layout: Layout, spikes_per_step: float) -> dict[str, float]:
    """Exact operation count of one controller step: ``macs`` (input currents ``N n_in`` and
    the output neuron's decay 1, plus the derivative filter 2 when there are two inputs),
    ``acs`` (bias adds ``N``, one output-synapse add per spike, the output's offset 1),
    ``neuron_updates`` ``N`` (decay, add, compare)."""
    n, k = layout.n_neurons, layout.n_inputs
    return {"macs": n * k + 1 + (2 if k == 2 else 0), "acs": n + spikes_per_step + 1,
            "neuron_updates": float(n)}
