"""Knowledge transfer from static images to event streams.

He et al., "An Efficient Knowledge Transfer Strategy for Spiking Neural Networks from Static to
Event Domain" (AAAI 2024), arXiv:2303.13077.

One spiking backbone serves two streams, static images repeated over time and event frames,
each with its own head. Three pieces move what the static data teaches into the event domain:

- a *domain-alignment* loss, one minus the linear CKA between the two streams' last hidden
  membrane potentials at each time step, ``L_dom = mean_t sigma(c_t) (1 - |CKA_t|)``;
- a *spatio-temporal regularisation*: the learnable per-step coefficient ``c_t`` also scales the
  event loss by ``1 - sigma(c_t)``, which is TET-style (a loss at every step, plus a small MSE of
  the outputs to a constant);
- a *sliding* schedule: each static sample is replaced by its paired event sample with
  probability ``P = (step / total)^power``, so training ends on event data only.

Pure functions (:func:`linear_cka`, :func:`sliding_prob`, :func:`domain_loss`,
:func:`tet_loss`, :func:`event_frames`, :func:`static_frames`, :func:`pair_by_class`,
:func:`slide`), one module (:class:`TwoStreamSNN`) and the loops (:func:`train_two_stream`,
:func:`stream_accuracy`, :func:`feature_cka`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..encoding import events_to_frames
from ..neurons import LIF
from ..train import batches


def linear_cka(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Linear centred kernel alignment of two feature sets on the same ``n`` samples.

    ``X`` ``[..., n, d1]``, ``Y`` ``[..., n, d2]`` (leading dimensions, e.g. time, are batched).
    Returns ``||X~^T Y~||_F^2 / (||X~^T X~||_F ||Y~^T Y~||_F)`` with ``X~``, ``Y~`` centred
    over samples, shape ``[...]``: a number in [0, 1], invariant to orthogonal transforms and
    isotropic scaling of either set (Kornblith et al. 2019). Computed through the ``n x n``
    Gram matrices (``||X^T Y||_F^2 = <X X^T, Y Y^T>``). Biased upwards for small ``n``
    (use n >= 32).
    """
    X = X - X.mean(-2, keepdim=True)
    Y = Y - Y.mean(-2, keepdim=True)
    Kx, Ky = X @ X.transpose(-1, -2), Y @ Y.transpose(-1, -2)
    cross = (Kx * Ky).sum((-1, -2))
    norm = Kx.pow(2).sum((-1, -2)).sqrt() * Ky.pow(2).sum((-1, -2)).sqrt()
    return cross / norm.clamp_min(1e-12)


def sliding_prob(step: int, total: int, power: float = 3.0) -> float:
    """Probability of replacing a static sample by its event partner at training ``step`` of
    ``total``: ``(step / total)^power``, 0 at the start, 1 at the end."""
    return min(max(step / total, 0.0), 1.0) ** power


def domain_loss(F_static: torch.Tensor, F_event: torch.Tensor,
                coef: torch.Tensor) -> torch.Tensor:
    """``mean_t sigmoid(c_t) (1 - |CKA(F_static[t], F_event[t])|)``.

    ``F_*``: ``[T, B, ...]`` features (membrane potentials) of paired samples; ``coef``
    ``[T]`` the learnable ``c_t``.
    """
    cka = linear_cka(F_static.flatten(2), F_event.flatten(2))
    return (torch.sigmoid(coef) * (1 - cka.abs())).mean()


def tet_loss(outputs: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None,
             lam: float = 1e-3, target: float = 1.0) -> torch.Tensor:
    """A TET-style loss at every step: ``mean_t w_t [(1 - lam) CE(o_t, y) + lam MSE(o_t,
    target)]``. ``outputs`` ``[T, B, classes]`` per-step logits, ``y`` ``[B]``, ``weight``
    ``[T]`` (default 1). The event stream uses ``w_t = 1 - sigmoid(c_t)``."""
    T, B, C = outputs.shape
    ce = nn.functional.cross_entropy(outputs.reshape(T * B, C), y.repeat(T), reduction="none")
    per_step = (1 - lam) * ce.view(T, B).mean(1) + lam * (outputs - target).pow(2).mean((1, 2))
    return (per_step if weight is None else weight * per_step).mean()


def event_frames(recordings: list[torch.Tensor], T: int, size: tuple[int, int],
                 pool: int = 1) -> torch.Tensor:
    """Event recordings (``[E, 4]`` rows ``x, y, polarity, t``) as ``T`` frames each, summed over
    ``pool x pool`` pixel blocks and clipped at 1 (an event happened there or not).
    ``size = (width, height)`` of the sensor. Returns ``[N, T, 2, height/pool, width/pool]``."""
    frames = torch.stack([events_to_frames(e, T, size) for e in recordings])
    if pool > 1:
        N = len(frames)
        frames = nn.functional.avg_pool2d(frames.flatten(0, 1), pool).unflatten(0, (N, T))
        frames = frames * pool * pool
    return frames.clamp(max=1.0)


def static_frames(images: torch.Tensor, T: int, size: tuple[int, int]) -> torch.Tensor:
    """Static images as event-shaped input: ``images`` ``[N, h, w]`` in [0, 1], centred on a
    ``size = (width, height)`` canvas, the one channel copied to both polarities and repeated
    over ``T`` steps. Returns ``[N, T, 2, height, width]`` (an expanded view: no copy per step)."""
    width, height = size
    h, w = images.shape[-2:]
    left, top = (width - w) // 2, (height - h) // 2
    canvas = nn.functional.pad(images, (left, width - w - left, top, height - h - top))
    return canvas[:, None, None].expand(-1, T, 2, -1, -1)


def pair_by_class(labels: torch.Tensor, pool_labels: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """For every entry of ``labels`` ``[B]``, the index of a random sample of the same class in
    ``pool_labels`` ``[N]`` (each needed class must occur there). Returns ``[B]`` on the CPU
    (it indexes tensors on any device)."""
    labels, pool_labels = labels.cpu(), pool_labels.cpu()
    out = torch.empty(len(labels), dtype=torch.long)
    for c in labels.unique():
        pool = torch.nonzero(pool_labels == c).flatten()
        if len(pool) == 0:
            raise ValueError(f"no sample of class {int(c)} to pair with")
        mine = torch.nonzero(labels == c).flatten()
        out[mine] = pool[torch.randint(len(pool), (len(mine),), generator=generator)]
    return out


def slide(x_static: torch.Tensor, x_event: torch.Tensor, p: float,
          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each static sample (first dimension) by its paired event sample with
    probability ``p``. Returns the mixed batch and the boolean mask of replaced samples."""
    mask = (torch.rand(len(x_static), generator=generator) < p).to(x_static.device)
    view = mask.view(-1, *([1] * (x_static.dim() - 1)))
    return torch.where(view, x_event, x_static), mask


class TwoStreamSNN(nn.Module):
    """A shared spiking MLP backbone with a static head and an event head.

    Args:
        n_in: input features per step (e.g. ``2 * 17 * 17`` pooled event frames).
        hidden: widths of the LIF layers, e.g. ``(256,)``.
        n_classes: outputs of each head.
        T: time steps (the length of the learnable coefficient ``coef``, init 1.0).
        beta, threshold: LIF parameters.

    ``forward(x, stream)``: ``x`` ``[T, B, ...]`` (flattened per step), ``stream`` "static" or
    "event". Returns ``(outputs, features)``: per-step logits ``[T, B, classes]`` of that
    stream's head and the last hidden layer's membrane potential ``[T, B, hidden[-1]]``.
    Classify with ``outputs.mean(0)``.
    """

    def __init__(self, n_in: int, hidden=(256,), n_classes: int = 10, T: int = 6,
                 beta: float = 0.9, threshold: float = 1.0):
        super().__init__()
        widths = (n_in, *hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:],
                                                                      strict=True))
        self.neurons = nn.ModuleList(LIF(beta, threshold) for _ in hidden)
        self.heads = nn.ModuleDict({"static": nn.Linear(hidden[-1], n_classes),
                                    "event": nn.Linear(hidden[-1], n_classes)})
        self.coef = nn.Parameter(torch.ones(T))

    def forward(self, x: torch.Tensor, stream: str = "event"):
        h = x.flatten(2)
        for layer, neuron in zip(self.layers, self.neurons, strict=True):
            h, mem = neuron(layer(h))
        return self.heads[stream](h), mem


def train_two_stream(model: TwoStreamSNN, events: tuple[torch.Tensor, torch.Tensor],
                     static: tuple[torch.Tensor, torch.Tensor] | None = None, *, steps: int,
                     lr: float = 1e-3, batch_size: int = 32, dom_weight: float = 0.5,
                     sliding: bool = True, power: float = 3.0, same_image: bool = False,
                     generator: torch.Generator | None = None) -> list[float]:
    """Train with Adam for ``steps`` steps, iterating over the event data as the paper does.

    ``events``/``static``: ``(X [N, T, ...], labels [N])``. Without ``static``: event-only
    training (cross-entropy of the event head's time-mean output). With it: each event batch
    gets static partners of the same classes (:func:`pair_by_class`; with ``same_image``,
    ``static`` is aligned with ``events`` row by row and each recording gets its own image),
    replaced by the event samples with probability :func:`sliding_prob` when ``sliding``, and
    the loss is
    ``L_static + L_event + dom_weight * L_dom`` (:func:`tet_loss`, :func:`domain_loss`;
    ``dom_weight=0`` ablates the alignment). A partial last batch is skipped unless it is the
    only one (CKA needs many samples). Returns the loss of every step.
    """
    Xe, ye = events
    if same_image and (static is None or len(static[0]) != len(Xe)):
        raise ValueError("same_image needs static images aligned with the event samples")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    model.train()
    while len(losses) < steps:
        for xe, yb, ib in batches(Xe, ye, torch.arange(len(ye)), batch_size=batch_size,
                                  shuffle=True, generator=generator):
            if len(yb) < min(batch_size, len(ye)):
                continue
            oe, fe = model(xe.transpose(0, 1), "event")
            if static is None:
                loss = nn.functional.cross_entropy(oe.mean(0), yb)
            else:
                partner = ib if same_image else pair_by_class(yb, static[1], generator)
                xs = static[0][partner]
                if sliding:
                    xs, _ = slide(xs, xe, sliding_prob(len(losses), steps, power), generator)
                out_s, fs = model(xs.transpose(0, 1), "static")
                w = torch.sigmoid(model.coef)
                loss = tet_loss(out_s, yb) + tet_loss(oe, yb, 1 - w)
                if dom_weight:
                    loss = loss + dom_weight * domain_loss(fs, fe, model.coef)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


@torch.no_grad()
def stream_accuracy(model: TwoStreamSNN, X: torch.Tensor, y: torch.Tensor,
                    stream: str = "event", batch_size: int = 256) -> float:
    """Accuracy of one head (time-mean output) on ``X`` ``[N, T, ...]``."""
    model.eval()
    correct = sum((model(xb.transpose(0, 1), stream)[0].mean(0).argmax(-1) == yb).sum().item()
                  for xb, yb in batches(X, y, batch_size=batch_size))
    return correct / len(y)


@torch.no_grad()
def feature_cka(model: TwoStreamSNN, events: tuple[torch.Tensor, torch.Tensor],
                static: tuple[torch.Tensor, torch.Tensor],
                generator: torch.Generator | None = None) -> float:
    """Mean over time of the linear CKA between the event features of ``events`` and the static
    features of class-paired static samples (the alignment the domain loss asks for)."""
    model.eval()
    Xe, ye = events
    xs = static[0][pair_by_class(ye, static[1], generator)]
    fe = model(Xe.transpose(0, 1), "event")[1]
    fs = model(xs.transpose(0, 1), "static")[1]
    return linear_cka(fs.flatten(2), fe.flatten(2)).mean().item()
