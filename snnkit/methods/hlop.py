"""Hebbian learning based orthogonal projection (HLOP) for continual learning.

Xiao et al., "Hebbian Learning based Orthogonal Projection for Continual Learning of Spiking
Neural Networks" (ICLR 2024), arXiv:2402.11984.

Each synaptic layer gets a lateral circuit of ``k`` neurons with weights ``H`` ``[k, n_in]``
that reads the layer's input ``x`` as ``y = H x`` and learns with the Oja subspace rule
(Hebbian ``y x^T``, anti-Hebbian ``-y y^T H``)::

    dH = eta * mean_b[ y (x - H^T y)^T ]

whose fixed points have orthonormal rows spanning the principal subspace of ``E[x x^T]``.
After a task the rows are frozen (``old``); new rows are added for the next task. While later
tasks train, each weight gradient ``g^T x`` is replaced by ``g^T (x - H_old^T H_old x)``, which
leaves the layer's response to old inputs unchanged.

Pure functions first (:func:`oja_delta`, :func:`project_out`, :func:`principal_angles`,
:func:`subspace_quality`, :func:`projected_linear`), then thin modules
(:class:`HebbianSubspace`, :class:`HLOPLinear`, :class:`HLOPSpikingMLP`) and the
continual-learning helpers (:func:`split_tasks`, :func:`fit_task`, :func:`layer_rates`,
:func:`hebbian_pass`, :func:`task_accuracies`, :func:`acc_bwt`).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import encoding
from ..neurons import LIF
from ..train import batches


def oja_delta(H: torch.Tensor, x: torch.Tensor, n_fixed: int = 0) -> torch.Tensor:
    """One Oja-subspace step direction ``mean_b y (x - H^T y)^T`` with ``y = H x``.

    ``H``: ``[k, n]`` lateral weights; ``x``: ``[B, n]`` inputs. Rows ``< n_fixed`` (frozen
    old subspace) get zero change, but take part in the reconstruction ``H^T y``, so new rows
    learn what the old ones miss. Returns ``[k, n]``.
    """
    y = x @ H.T
    delta = torch.zeros_like(H)
    delta[n_fixed:] = y[:, n_fixed:].T @ (x - y @ H) / len(x)
    return delta


def project_out(x: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """``x - H^T H x`` on the last dimension: ``x`` ``[..., n]``, ``H`` ``[k, n]`` (rows
    orthonormal for an exact projection onto the orthogonal complement of their span)."""
    return x - (x @ H.T) @ H


def orthonormal_rows(k: int, n: int, existing: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``k`` random orthonormal rows ``[k, n]``, orthogonal to the span of ``existing``
    ``[m, n]`` (needs ``m + k <= n``)."""
    m = 0 if existing is None else len(existing)
    if m + k > n:
        raise ValueError(f"cannot add {k} orthonormal rows to {m} in {n} dimensions")
    A = torch.randn(n, k, generator=generator)
    if m:
        Q_old, _ = torch.linalg.qr(existing.T)
        A = A - Q_old @ (Q_old.T @ A)
    Q, _ = torch.linalg.qr(A)
    return Q.T.contiguous()


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles in degrees, ascending, between the row spaces of ``A`` ``[a, n]`` and
    ``B`` ``[b, n]`` (``min(a, b)`` angles; 0 = shared direction, 90 = orthogonal)."""
    Qa, Qb = torch.linalg.qr(A.T.double()).Q, torch.linalg.qr(B.T.double()).Q
    cos = torch.linalg.svdvals(Qa.T @ Qb).clamp(max=1.0)
    return torch.rad2deg(torch.arccos(cos)).float()


def subspace_quality(H: torch.Tensor, x: torch.Tensor, gap: float = 2.0) -> dict:
    """How well rows ``H`` ``[k, n]`` hold the principal subspace of data ``x`` ``[N, n]``
    (uncentred, as the Oja rule sees it).

    Returns ``orth_error`` ``||H H^T - I||_F``; ``angles`` between span(H) and the top-k right
    singular vectors (degrees, ascending); ``separated``: the number m of top directions whose
    eigenvalue is at least ``gap`` times the (k+1)-th (the rule converges at a rate set by that
    gap, so these must be found; nearly equal eigenvalues at the cut may mix);
    ``separated_angle``: the largest angle between those m directions and span(H); and
    ``captured``: the energy ``||x H^T||^2`` over the best possible, the top-k singular values'.
    """
    k = len(H)
    _, S, Vh = torch.linalg.svd(x.double(), full_matrices=False)
    ev = S ** 2
    cut = ev[k] if k < len(ev) else ev.new_zeros(())
    m = max(1, int((ev[:k] >= gap * cut).sum()))
    Hd = H.double()
    return {
        "orth_error": (Hd @ Hd.T - torch.eye(k, dtype=Hd.dtype, device=Hd.device)).norm().item(),
        "angles": principal_angles(H, Vh[:k]).tolist(),
        "separated": m,
        "separated_angle": principal_angles(Vh[:m], H).max().item(),
        "captured": ((x.double() @ Hd.T).pow(2).sum() / ev[:k].sum()).item(),
    }


class _ProjectedGradLinear(torch.autograd.Function):
    """``x W^T`` forward; backward gives ``x`` its usual gradient but ``W`` the gradient
    computed from the projected input ``x - H^T H x``."""

    @staticmethod
    def forward(ctx, x, weight, basis):
        ctx.save_for_backward(x, weight, basis)
        return x @ weight.T

    @staticmethod
    def backward(ctx, grad):
        x, weight, basis = ctx.saved_tensors
        x_orth = project_out(x, basis).reshape(-1, x.shape[-1])
        grad_w = grad.reshape(-1, grad.shape[-1]).T @ x_orth
        return grad @ weight, grad_w, None


def projected_linear(x: torch.Tensor, weight: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` (``x`` ``[..., n_in]``, ``weight`` ``[n_out, n_in]``) whose weight
    gradient is ``grad^T (x - basis^T basis x)`` summed over the leading dimensions
    (``basis`` ``[k, n_in]``, not trained)."""
    return _ProjectedGradLinear.apply(x, weight, basis.detach())


class HebbianSubspace(nn.Module):
    """The lateral Hebbian circuit of one layer: ``weight`` ``[k, n_in]`` (a buffer, so an
    optimizer never sees it), the first ``n_old`` rows frozen.

    Args:
        n_in: input width.
        lr: Hebbian learning rate ``eta``.
        momentum: the update follows an exponential moving average of the step directions
            with this factor (0.9 as in the paper's code; the step size stays ``lr``).
        clamp: each step direction is clamped elementwise to ``[-clamp, clamp]``.
    """

    def __init__(self, n_in: int, lr: float = 0.01, momentum: float = 0.9, clamp: float = 10.0):
        super().__init__()
        self.n_in, self.lr, self.momentum, self.clamp = n_in, lr, momentum, clamp
        self.register_buffer("weight", torch.zeros(0, n_in))
        self.register_buffer("velocity", torch.zeros(0, n_in))
        self.n_old = 0

    @property
    def old(self) -> torch.Tensor:
        """The frozen rows ``[n_old, n_in]`` used for projection."""
        return self.weight[:self.n_old]

    def add(self, k: int, generator: torch.Generator | None = None) -> None:
        """Add ``k`` learning neurons, initialised orthonormal (unit norm, orthogonal to the
        existing rows). ``k`` is capped so the total never exceeds ``n_in``."""
        k = min(k, self.n_in - len(self.weight))
        if k <= 0:
            return
        new = orthonormal_rows(k, self.n_in, self.weight, generator).to(self.weight)
        self.weight = torch.cat([self.weight, new])
        self.velocity = torch.cat([self.velocity, torch.zeros_like(new)])

    @torch.no_grad()
    def update(self, x: torch.Tensor, iters: int = 5) -> None:
        """``iters`` Oja-subspace steps on a batch ``x`` ``[B, n_in]`` (rows past ``n_old``)."""
        x = x.reshape(-1, self.n_in)
        for _ in range(iters):
            delta = oja_delta(self.weight, x, self.n_old).clamp_(-self.clamp, self.clamp)
            self.velocity.mul_(self.momentum).add_(delta, alpha=1 - self.momentum)
            self.weight.add_(self.velocity, alpha=self.lr)

    @torch.no_grad()
    def freeze(self, orthonormalize: bool = True) -> None:
        """Merge the learning rows into the old subspace (end of a task).

        ``orthonormalize`` replaces the rows by the nearest matrix with orthonormal rows
        (``U V^T`` of their SVD; Loewdin), which leaves rows at the Hebbian fixed point as they
        are. Without it the small error ``H H^T - I`` that a finite learning rate leaves, times
        the large input variance along old rows, tilts later rows into the old subspace.
        """
        if orthonormalize and len(self.weight):
            U, _, Vh = torch.linalg.svd(self.weight, full_matrices=False)
            self.weight = U @ Vh
        self.n_old = len(self.weight)
        self.velocity.zero_()

    def project_old(self, x: torch.Tensor) -> torch.Tensor:
        """``x - H_old^T H_old x`` for ``x`` ``[..., n_in]``."""
        return project_out(x, self.old)


class HLOPLinear(nn.Module):
    """A bias-free linear layer with a lateral Hebbian circuit ``hlop``.

    ``forward(x)``, ``x`` ``[..., n_in]`` -> ``[..., n_out]``; while ``project`` is on and an old
    subspace exists, the weight gradient uses the input projected off it (a bias would escape
    the projection, hence none).
    """

    def __init__(self, n_in: int, n_out: int, hebb_lr: float = 0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Linear's default
        self.hlop = HebbianSubspace(n_in, lr=hebb_lr)
        self.project = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.project and self.hlop.n_old > 0 and torch.is_grad_enabled():
            return projected_linear(x, self.weight, self.hlop.old)
        return x @ self.weight.T


class HLOPSpikingMLP(nn.Module):
    """A spiking MLP whose layers carry HLOP circuits; one head per task or one shared head.

    Args:
        sizes: ``(n_in, hidden, ..., hidden)`` widths up to the last hidden layer.
        n_classes: outputs per head.
        n_heads: tasks with their own head (multi-head, task-incremental); 1 = a shared head,
            which is then projected too.
        T: time steps for static input (direct code).
        beta, threshold: LIF parameters.
        hebb_lr: Hebbian learning rate of every circuit.

    ``forward(x, task)``: ``x`` ``[B, n_in]`` static or ``[T, B, n_in]`` time-first; ``task`` an
    int or a ``[B]`` LongTensor of head indices. Returns logits ``[B, n_classes]`` (the time
    mean of the head), and with ``rates=True`` also the list of every HLOP layer's input
    firing rate ``[B, n_in_l]`` (time mean), what the Hebbian circuits learn from.
    """

    def __init__(self, sizes, n_classes: int, n_heads: int = 1, T: int = 4, beta: float = 0.9,
                 threshold: float = 1.0, hebb_lr: float = 0.01):
        super().__init__()
        self.T, self.n_classes, self.n_heads = T, n_classes, n_heads
        self.hidden = nn.ModuleList(HLOPLinear(a, b, hebb_lr)
                                    for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.neurons = nn.ModuleList(LIF(beta, threshold) for _ in sizes[1:])
        if n_heads == 1:
            self.head = HLOPLinear(sizes[-1], n_classes, hebb_lr)
        else:
            self.head = nn.Linear(sizes[-1], n_heads * n_classes, bias=False)

    @property
    def hlop_layers(self) -> list[HLOPLinear]:
        """The layers whose gradients are projected, input side first."""
        return [*self.hidden, self.head] if self.n_heads == 1 else list(self.hidden)

    def set_project(self, on: bool) -> None:
        for layer in self.hlop_layers:
            layer.project = on

    def forward(self, x: torch.Tensor, task=0, rates: bool = False):
        h = encoding.direct(x, self.T) if x.dim() == 2 else x
        inputs = []
        for layer, neuron in zip(self.hidden, self.neurons, strict=True):
            inputs.append(h.mean(0))
            h, _ = neuron(layer(h))
        if self.n_heads == 1:
            inputs.append(h.mean(0))
            logits = self.head(h).mean(0)
        else:
            out = self.head(h).mean(0).view(len(h[0]), self.n_heads, self.n_classes)
            task = torch.as_tensor(task, device=out.device).expand(len(out))
            logits = out[torch.arange(len(out), device=out.device), task]
        return (logits, inputs) if rates else logits


def split_tasks(labels: torch.Tensor, n_tasks: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Split classes ``0..C-1`` into ``n_tasks`` consecutive groups of equal size.

    Returns the sample indices of each task and ``local``: each label's index inside its
    group (the target of a task's own head), ``[N]``.
    """
    n_classes = int(labels.max()) + 1
    if n_classes % n_tasks:
        raise ValueError(f"{n_classes} classes do not split into {n_tasks} equal tasks")
    per = n_classes // n_tasks
    groups = [torch.nonzero(labels // per == t).flatten() for t in range(n_tasks)]
    return groups, labels % per


def fit_task(model: HLOPSpikingMLP, X: torch.Tensor, y: torch.Tensor, task, epochs: int,
             lr: float = 0.1, momentum: float = 0.9, batch_size: int = 32,
             generator: torch.Generator | None = None) -> list[float]:
    """Train on one task with SGD (a fresh optimizer: an old momentum buffer would carry
    unprojected gradients) and cross-entropy. ``task``: an int, or ``[N]`` head indices for
    multitask training. Projection follows each layer's ``project`` flag. Returns the mean
    training loss per epoch. (Adam would rescale the projected gradient per coordinate and
    break its orthogonality, hence plain SGD.)"""
    params = [p for name, p in model.named_parameters() if "hlop" not in name]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    task = torch.as_tensor(task).expand(len(X))
    losses = []
    model.train()
    for _ in range(epochs):
        total = 0.0
        for xb, yb, tb in batches(X, y, task, batch_size=batch_size, shuffle=True,
                                  generator=generator):
            loss = nn.functional.cross_entropy(model(xb, tb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(X))
    return losses


@torch.no_grad()
def layer_rates(model: HLOPSpikingMLP, X: torch.Tensor, task: int,
                batch_size: int = 256) -> list[torch.Tensor]:
    """Every HLOP layer's input firing rate on ``X``: a list of ``[N, n_in_l]``."""
    model.eval()
    parts = [model(xb, task, rates=True)[1] for (xb,) in batches(X, batch_size=batch_size)]
    return [torch.cat(layer) for layer in zip(*parts, strict=True)]


@torch.no_grad()
def hebbian_pass(model: HLOPSpikingMLP, X: torch.Tensor, task: int, epochs: int = 1,
                 iters: int = 5, batch_size: int = 32, anneal: bool = True,
                 generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Let every HLOP circuit learn from the trained network's activity on the task just
    learned: ``epochs`` passes over the layer input rates of ``X``, ``iters`` Oja steps per
    batch; with ``anneal`` the Hebbian rate falls linearly from its ``lr`` to ``lr/epochs``
    (a constant rate leaves the rows jittering around the subspace). The network is fixed
    meanwhile and its forward pass deterministic (direct code), so the rates are computed once
    and replayed. Returns them (see :func:`layer_rates`)."""
    rates = layer_rates(model, X, task)
    circuits = [layer.hlop for layer in model.hlop_layers]
    base = [c.lr for c in circuits]
    for epoch in range(epochs):
        for c, lr in zip(circuits, base, strict=True):
            c.lr = lr * (1 - epoch / epochs) if anneal else lr
        for batch in batches(*rates, batch_size=batch_size, shuffle=True, generator=generator):
            for c, r in zip(circuits, batch, strict=True):
                c.update(r, iters)
    for c, lr in zip(circuits, base, strict=True):
        c.lr = lr
    return rates


@torch.no_grad()
def task_accuracies(model: HLOPSpikingMLP, X: torch.Tensor, y: torch.Tensor,
                    tasks: list[torch.Tensor]) -> list[float]:
    """Accuracy on each task's samples (indices in ``tasks``) through that task's head."""
    model.eval()
    heads = range(len(tasks)) if model.n_heads > 1 else [0] * len(tasks)
    return [(model(X[idx], h).argmax(-1) == y[idx]).float().mean().item()
            for idx, h in zip(tasks, heads, strict=True)]


def acc_bwt(R: torch.Tensor) -> tuple[float, float]:
    """Average accuracy and backward transfer of an accuracy matrix ``R`` ``[tasks, tasks]``
    (``R[i, j]``: accuracy on task ``j`` after training task ``i``):
    ``ACC = mean_j R[-1, j]``, ``BWT = mean_{j < N-1} (R[-1, j] - R[j, j])`` (negative =
    forgetting)."""
    R = torch.as_tensor(R, dtype=torch.float64)
    n = len(R)
    acc = R[-1].mean().item()
    bwt = (R[-1, :-1] - R.diagonal()[:-1]).mean().item() if n > 1 else 0.0
    return acc, bwt
