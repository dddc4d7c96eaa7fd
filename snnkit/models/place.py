"""Visual place recognition with modular ensembles of small spiking networks.

After Hussaini, Milford & Fischer, "Ensembles of Compact, Region-specific & Regularized Spiking
Neural Networks for Scalable Place Recognition" (ICRA 2023), whose base network is Diehl &
Cook's (Front. Comput. Neurosci. 2015) unsupervised STDP network:

- **input**: one Poisson neuron per pixel of a patch-normalised image, firing at up to
  ``max_rate`` Hz (pixel value x 63.75 Hz, Diehl & Cook's intensity / 4);
- **excitatory layer**: ``n_e`` conductance-based LIF neurons (``tau_e`` 100 ms) with an adaptive
  threshold (``theta`` grows 0.05 mV per spike) and a soft winner-take-all: every spike inhibits
  all other neurons (Diehl & Cook route it through a one-to-one inhibitory partner; we add the
  inhibitory conductance directly);
- **plasticity** on input -> excitatory: a presynaptic spike adds ``pre_sign * nu_pre * post1``
  (the VPRSNN code adds, Diehl & Cook subtract), a postsynaptic spike adds
  ``nu_post * x_pre * post2`` (``post2`` taken before the spike); each neuron's input weights are
  renormalised to sum ``w_sum * n_in`` after every image;
- **readout**: each neuron is assigned to the reference place that excites it most; a query
  scores each place by the mean spike count of that place's neurons (recall@N from the scores);
- **modularity**: the route is cut into regions and one compact network learns each region's
  places only; at test time every module sees the query and the responses are concatenated;
- **regularisation**: neurons that fire for at least ``threshold`` reference images (of all
  regions) are *hyperactive* and are ignored; the threshold is calibrated on separate queries.

:class:`DiehlCook` simulates ``batch`` independent networks at once (numpy, 1 ms steps): the
modules of a :class:`ModularSNN` and its ensemble members are the batch. Learning is sequential
over images within a network, so it cannot be batched over images. :func:`route` and
:func:`traverse` build the stand-in data set from the two photographs scikit-learn ships.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DCConfig:
    """Diehl & Cook network constants (ms, mV, dimensionless conductances)."""

    t_present: int = 350       # ms per image
    dt: float = 1.0
    max_rate: float = 63.75    # Hz for a pixel of value 1
    tau_e: float = 100.0
    v_rest: float = -65.0
    v_reset: float = -65.0
    v_thresh: float = -52.0    # plus theta
    refractory: int = 5        # ms
    e_exc: float = 0.0
    e_inh: float = -100.0
    tau_ge: float = 1.0
    tau_gi: float = 2.0
    w_inh: float = 17.0        # inhibitory conductance one spike adds to every other neuron
    theta_plus: float = 0.05
    tau_theta: float = 1e7
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    pre_sign: float = 1.0      # +1: VPRSNN's code; -1: Diehl & Cook
    tau_pre: float = 20.0
    tau_post1: float = 20.0
    tau_post2: float = 40.0
    w_max: float = 1.0
    w_sum: float = 0.1         # mean input weight after normalisation (78 / 784)
    min_spikes: int = 5        # fewer: repeat the image with the input rate raised ...
    rate_boost: float = 31.875  # ... by this many Hz per unit pixel, at most max_retries times
    max_retries: int = 3


def run_presentation(W: np.ndarray, theta: np.ndarray, inputs, c: DCConfig,
                     learn: bool = False) -> np.ndarray:
    """One image presentation of Diehl & Cook networks, from rest.

    ``W`` ``[B, n_in, n_e]`` and ``theta`` ``[B, n_e]`` (updated in place when ``learn``);
    ``inputs`` yields one boolean input-spike array ``[B, N, n_in]`` per ``dt`` step (N images
    per network; N = 1 to learn). Returns spike counts ``[B, N, n_e]``. Per step: conductances
    decay exactly and jump by the arriving weights (excitatory) or ``w_inh`` per spike of another
    neuron in the previous step (inhibitory); the membrane takes an Euler step unless refractory;
    a neuron above ``v_thresh + theta`` spikes and resets. Learning follows the module docstring.
    """
    B, n_in, n_e = W.shape
    a_ge, a_gi = math.exp(-c.dt / c.tau_ge), math.exp(-c.dt / c.tau_gi)
    a_pre, a_p1, a_p2 = (math.exp(-c.dt / t) for t in (c.tau_pre, c.tau_post1, c.tau_post2))
    v = ge = gi = ref = last = counts = pre = post1 = post2 = None
    for x in inputs:
        if v is None:                                                  # state from the shape
            v = np.full((*x.shape[:2], n_e), c.v_rest, np.float32)
            ge, gi, ref = np.zeros_like(v), np.zeros_like(v), np.zeros(v.shape, np.int32)
            last, counts = np.zeros(v.shape, bool), np.zeros(v.shape, np.int32)
            pre = np.zeros((B, n_in), np.float32)
            post1, post2 = np.zeros((B, n_e), np.float32), np.zeros((B, n_e), np.float32)
        ge = ge * a_ge + np.matmul(x.astype(np.float32), W)
        gi = gi * a_gi + c.w_inh * (last.sum(-1, keepdims=True) - last)
        active = ref == 0
        dv = ((c.v_rest - v) + ge * (c.e_exc - v) + gi * (c.e_inh - v)) * (c.dt / c.tau_e)
        v = np.where(active, v + dv, v)
        spikes = active & (v > c.v_thresh + theta[:, None, :])
        v = np.where(spikes, c.v_reset, v)
        ref = np.where(spikes, c.refractory, np.maximum(ref - 1, 0))
        counts += spikes
        last = spikes
        if learn:
            x0, s0 = x[:, 0], spikes[:, 0]
            pre *= a_pre
            post1 *= a_p1
            post2 *= a_p2
            b, i = np.nonzero(x0)                           # pre spikes meet post1
            W[b, i, :] = np.clip(W[b, i, :] + c.pre_sign * c.nu_pre * post1[b], 0, c.w_max)
            pre[x0] = 1.0
            b, j = np.nonzero(s0)                           # post spikes meet pre, post2 before
            W[b, :, j] = np.clip(W[b, :, j] + c.nu_post * pre[b] * post2[b, j][:, None],
                                 0, c.w_max)
            post1[s0] = 1.0
            post2[s0] = 1.0
            theta += c.theta_plus * s0
    return counts


def normalise(W: np.ndarray, c: DCConfig) -> None:
    """Scale each neuron's input weights (axis 1 of ``W [B, n_in, n_e]``) to sum
    ``w_sum * n_in``, in place."""
    W *= c.w_sum * W.shape[1] / np.maximum(W.sum(1, keepdims=True), 1e-12)


@dataclass
class DiehlCook:
    """``batch`` independent networks of ``n_in`` Poisson inputs and ``n_e`` excitatory
    neurons. ``W`` ``[batch, n_in, n_e]``, ``theta`` ``[batch, n_e]`` (mV). ``ops`` counts, per
    network, the simulated neuron updates and synaptic events (an input spike reaching each of
    the ``n_e`` neurons, an excitatory spike inhibiting each of the others)."""

    n_in: int
    n_e: int
    batch: int = 1
    config: DCConfig = field(default_factory=DCConfig)
    seed: int = 0

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)
        self.W = (self.rng.random((self.batch, self.n_in, self.n_e)) * 0.3).astype(np.float32)
        normalise(self.W, self.config)
        self.theta = np.zeros((self.batch, self.n_e), np.float32)
        self.ops = {k: np.zeros(self.batch, np.int64)
                    for k in ("neuron_updates", "synaptic_events", "input_spikes")}

    def _poisson(self, idx, p, steps):
        """Input spikes of networks ``idx`` with per-step probabilities ``p``, counted."""
        for _ in range(steps):
            x = self.rng.random(p.shape, dtype=np.float32) < p
            self.ops["input_spikes"][idx] += x.sum((1, 2))
            yield x

    def _simulate(self, idx, rates, learn):
        c = self.config
        steps = int(round(c.t_present / c.dt))
        W, theta = self.W[idx], self.theta[idx]
        p = np.clip(rates * c.dt * 1e-3, 0, 1).astype(np.float32)
        before = self.ops["input_spikes"][idx].copy()
        counts = run_presentation(W, theta, self._poisson(idx, p, steps), c, learn)
        self.ops["neuron_updates"][idx] += steps * rates.shape[1] * self.n_e
        self.ops["synaptic_events"][idx] += ((self.ops["input_spikes"][idx] - before) * self.n_e
                                             + counts.sum((1, 2)) * (self.n_e - 1))
        if learn:
            normalise(W, c)
            self.W[idx] = W
            self.theta[idx] = theta * math.exp(-c.t_present / c.tau_theta)
        return counts

    def present(self, images: np.ndarray, learn: bool = False) -> np.ndarray:
        """Show ``images`` ``[batch, N, n_in]`` (in [0, 1]; N = 1 to learn) and return spike
        counts ``[batch, N, n_e]``. An image that makes a network fire fewer than
        ``min_spikes`` times is shown again, its rates raised by ``rate_boost`` Hz per unit of
        pixel value (Diehl & Cook's input-intensity step)."""
        c = self.config
        images = np.asarray(images, np.float32)
        if learn and images.shape[1] != 1:
            raise ValueError("learning is sequential: present one image per network (N = 1)")
        counts = np.zeros((self.batch, images.shape[1], self.n_e), np.int32)
        todo = np.ones((self.batch, images.shape[1]), bool)
        for retry in range(c.max_retries + 1):
            idx = np.flatnonzero(todo.any(1))
            if idx.size == 0:
                break
            out = self._simulate(idx, images[idx] * (c.max_rate + retry * c.rate_boost), learn)
            counts[idx] = np.where(todo[idx][..., None], out, counts[idx])
            todo[idx] &= out.sum(-1) < c.min_spikes
        return counts

    def train(self, images: np.ndarray, epochs: int, progress=None) -> None:
        """Learn ``images`` ``[batch, P, n_in]``: network ``b`` sees its own P images in order,
        ``epochs`` times. ``progress``: optional callable(step) for a progress bar."""
        for _ in range(epochs):
            for k in range(images.shape[1]):
                self.present(images[:, k:k + 1], learn=True)
                if progress is not None:
                    progress(1)


def assign(responses: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Place of each neuron: the label whose images excite it most on average.
    ``responses`` ``[n_images, n_neurons]`` spike counts, ``labels`` ``[n_images]``."""
    places = np.unique(labels)
    mean = np.stack([responses[labels == p].mean(0) for p in places])    # [places, neurons]
    return places[mean.argmax(0)]


def place_scores(responses: np.ndarray, assignments: np.ndarray, n_places: int) -> np.ndarray:
    """Score of each place for each query: mean spike count of the neurons assigned to it.
    ``responses`` ``[n_queries, n_neurons]`` -> ``[n_queries, n_places]`` (0 where none)."""
    onehot = assignments[:, None] == np.arange(n_places)[None, :]        # [neurons, places]
    return responses @ onehot / np.maximum(onehot.sum(0), 1)


def hyperactive(ref_responses: np.ndarray, threshold: int) -> np.ndarray:
    """Neurons that fire for at least ``threshold`` reference images (0: none), ``[n_neurons]``."""
    if threshold <= 0:
        return np.zeros(ref_responses.shape[1], bool)
    return (ref_responses > 0).sum(0) >= threshold


def recall_at_n(scores: np.ndarray, truth: np.ndarray, n: int) -> float:
    """Fraction of queries whose true place is among the ``n`` best-scoring places (ties count
    against: a place must score strictly above all but fewer than ``n`` others)."""
    true_score = scores[np.arange(len(truth)), truth]
    better = (scores > true_score[:, None]).sum(1)
    ties = (scores == true_score[:, None]).sum(1) - 1
    return float(np.mean(better + ties < n))


class ModularSNN:
    """``members`` independent copies (an ensemble) of a system of ``regions`` modules of
    ``n_e`` neurons; module ``r`` learns only places ``r * P / regions ...`` of the route. All
    ``members * regions`` networks are one :class:`DiehlCook` batch."""

    def __init__(self, n_in: int, n_places: int, regions: int, n_e: int, members: int = 1,
                 config: DCConfig | None = None, seed: int = 0):
        if n_places % regions:
            raise ValueError(f"{n_places} places do not split into {regions} equal regions")
        self.n_places, self.regions, self.members, self.n_e = n_places, regions, members, n_e
        self.net = DiehlCook(n_in, n_e, members * regions, config or DCConfig(), seed)
        self.region_of = np.repeat(np.arange(regions), n_places // regions)   # place -> region

    def fit(self, reference: np.ndarray, epochs: int, progress=None) -> None:
        """Train every module on its region's reference images ``[n_places, n_in]``."""
        per_region = reference.reshape(self.regions, -1, reference.shape[-1])
        self.net.train(np.tile(per_region, (self.members, 1, 1)), epochs, progress)

    def responses(self, images: np.ndarray) -> np.ndarray:
        """Spike counts of every member's modules to ``images`` ``[N, n_in]``:
        ``[members, N, regions * n_e]`` (module r's neurons in block r)."""
        counts = self.net.present(np.broadcast_to(images, (self.net.batch, *images.shape)))
        counts = counts.reshape(self.members, self.regions, len(images), self.n_e)
        return counts.transpose(0, 2, 1, 3).reshape(self.members, len(images), -1)

    def calibrate(self, ref_responses: np.ndarray) -> np.ndarray:
        """Assignments ``[members, regions * n_e]``: a module's neurons are assigned among its
        own region's places, from the responses ``[members, n_places, neurons]`` to the
        reference traverse."""
        out = np.zeros(ref_responses.shape[::2], int)
        for r in range(self.regions):
            places = np.flatnonzero(self.region_of == r)
            cols = slice(r * self.n_e, (r + 1) * self.n_e)
            for m in range(self.members):
                out[m, cols] = assign(ref_responses[m, places][:, cols], places)
        return out

    def scores(self, responses: np.ndarray, assignments: np.ndarray, ref_responses: np.ndarray,
               threshold: int = 0) -> np.ndarray:
        """Place scores ``[members, N, n_places]``, hyperactive neurons (``threshold``) ignored."""
        out = []
        for m in range(self.members):
            keep = ~hyperactive(ref_responses[m], threshold)
            out.append(place_scores(responses[m] * keep, assignments[m], self.n_places))
        return np.stack(out)


def ensemble(scores: np.ndarray) -> np.ndarray:
    """Combine members' scores ``[members, N, n_places]``: each member's scores are scaled to
    [0, 1] per query, then averaged."""
    lo, hi = scores.min(-1, keepdims=True), scores.max(-1, keepdims=True)
    return ((scores - lo) / np.maximum(hi - lo, 1e-12)).mean(0)


# --- a stand-in route ------------------------------------------------------------------------

@dataclass(frozen=True)
class Appearance:
    """A change of appearance between traverses: a random gamma (brightness) and contrast per
    image, additive Gaussian noise, and a camera offset of up to ``shift`` source pixels."""

    gamma: tuple[float, float] = (0.6, 1.6)
    contrast: tuple[float, float] = (0.6, 1.0)
    noise: float = 0.02
    shift: int = 4


def _photos() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return [img.mean(-1) / 255.0 for img in load_sample_images().images]   # grey, [427, 640]


def route(n_places: int, crop: int = 96, stride: int = 48, row_stride: int = 56,
          min_std: float = 0.12) -> list[tuple[int, int, int]]:
    """Places along a route through scikit-learn's two sample photographs: ``(photo, row,
    column)`` of ``crop``-pixel views, panning along rows ``row_stride`` pixels apart in a snake
    (then the next photo), one view every ``stride`` pixels. Views with a grey-level standard
    deviation below ``min_std`` (sky, dark background) are skipped: nothing to recognise."""
    places = []
    for k, photo in enumerate(_photos()):
        h, w = photo.shape
        for r, y in enumerate(range(8, h - crop - 7, row_stride)):
            xs = list(range(8, w - crop - 7, stride))
            places += [(k, y, x) for x in (xs if r % 2 == 0 else xs[::-1])
                       if photo[y:y + crop, x:x + crop].std() >= min_std]
    if n_places > len(places):
        raise ValueError(f"the route has {len(places)} places, {n_places} requested")
    return places[:n_places]


def traverse(places: list[tuple[int, int, int]], size: int = 16, crop: int = 96,
             change: Appearance | None = None, seed: int = 0) -> np.ndarray:
    """Grey views ``[len(places), size, size]`` in [0, 1] of the route's places, as seen on one
    traverse (``change=None``: the reference traverse)."""
    photos, rng = _photos(), np.random.default_rng(seed)
    out = np.zeros((len(places), size, size), np.float32)
    f = crop // size
    for n, (k, y, x) in enumerate(places):
        if change is not None and change.shift:
            y, x = (y + rng.integers(-change.shift, change.shift + 1),
                    x + rng.integers(-change.shift, change.shift + 1))
        view = photos[k][y:y + crop, x:x + crop]
        img = view[:size * f, :size * f].reshape(size, f, size, f).mean((1, 3))
        if change is not None:
            img = img ** rng.uniform(*change.gamma) * rng.uniform(*change.contrast)
            img = img + rng.normal(0, change.noise, img.shape)
        out[n] = np.clip(img, 0, 1)
    return out


def patch_normalise(images: np.ndarray, patch: int = 4) -> np.ndarray:
    """Subtract each ``patch`` x ``patch`` block's mean and divide by its standard deviation,
    then scale every image to [0, 1]: ``[N, H, W] -> [N, H * W]`` (the network's input)."""
    N, H, W = images.shape
    blocks = images.reshape(N, H // patch, patch, W // patch, patch)
    mean = blocks.mean((2, 4), keepdims=True)
    std = blocks.std((2, 4), keepdims=True)
    z = ((blocks - mean) / np.maximum(std, 1e-3)).reshape(N, H * W)
    lo, hi = z.min(1, keepdims=True), z.max(1, keepdims=True)
    return ((z - lo) / np.maximum(hi - lo, 1e-6)).astype(np.float32)
