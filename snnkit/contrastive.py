"""Aligning two modalities in one space, CLIP-style (Radford et al. 2021), with label-match
retrieval to test it.

For a batch of ``B`` pairs ``(a_i, v_i)`` (say a spoken and a seen digit of the same class), two
projection heads map each modality to ``dim`` numbers; with cosine similarities
``S_ij = cos(f(a_i), g(v_j)) / tau`` the symmetric loss is

    L = 1/2 [ CE(S, I) + CE(S^T, I) ]

which pulls each pair together and pushes the other ``B - 1`` items of the batch away.
"""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """One modality's projection: standardise the features with fixed statistics (set by
    :meth:`fit_stats` on training features), then ``Linear(d_in, dim)`` and GELU, as in Lin et
    al. ``[B, d_in]`` -> ``[B, dim]``."""

    def __init__(self, d_in: int, dim: int = 64):
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_in))
        self.register_buffer("std", torch.ones(d_in))
        self.fc = nn.Linear(d_in, dim)

    def fit_stats(self, X: torch.Tensor) -> ProjectionHead:
        self.mean.copy_(X.mean(0))
        self.std.copy_(X.std(0).clamp_min(1e-3))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.fc((x - self.mean) / self.std))


class ClipHeads(nn.Module):
    """The two heads: ``.a`` for modality A (``d_a`` features), ``.v`` for modality V (``d_v``)."""

    def __init__(self, d_a: int, d_v: int, dim: int = 64):
        super().__init__()
        self.a, self.v = ProjectionHead(d_a, dim), ProjectionHead(d_v, dim)

    def forward(self, xa: torch.Tensor, xv: torch.Tensor):
        return self.a(xa), self.v(xv)


def similarity(a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Cosine similarities ``[Na, Nv]`` of embeddings ``a`` ``[Na, D]`` and ``v`` ``[Nv, D]``."""
    return nn.functional.normalize(a, dim=-1) @ nn.functional.normalize(v, dim=-1).T


def clip_loss(a: torch.Tensor, v: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Symmetric contrastive loss of paired embeddings ``a``, ``v`` ``[B, D]`` (row i of each
    is a pair): ``(CE(S, I) + CE(S^T, I)) / 2`` with ``S = cos(a, v) / tau``."""
    S = similarity(a, v) / tau
    target = torch.arange(len(a), device=a.device)
    return (nn.functional.cross_entropy(S, target) + nn.functional.cross_entropy(S.T, target)) / 2


def pair_by_label(labels_a: torch.Tensor, labels_v: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """For each item of A, the index of a random item of V with the same label ``[Na]`` (the
    pairs of a paired data set that has none: any spoken "three" with any written 3)."""
    sorted_v, order = labels_v.sort()
    start = torch.searchsorted(sorted_v, labels_a)
    count = torch.searchsorted(sorted_v, labels_a, right=True) - start
    if bool((count == 0).any()):
        missing = labels_a[count == 0].unique().tolist()
        raise ValueError(f"labels {missing} have no item in V to pair with")
    offset = (torch.rand(len(labels_a), generator=generator) * count).long()
    return order[start + offset]


def fit_clip(heads: ClipHeads, xa: torch.Tensor, ya: torch.Tensor, xv: torch.Tensor,
             yv: torch.Tensor, epochs: int = 50, batch_size: int = 128, lr: float = 3e-3,
             tau: float = 1.0, seed: int = 0, progress: bool = True, desc: str = "clip"
             ) -> list[float]:
    """Train ``heads`` with :func:`clip_loss` (Adam): each epoch pairs every A item with a random
    V item of its label (:func:`pair_by_label`) and walks the pairs in shuffled batches. The
    feature statistics of the heads are set from ``xa``, ``xv`` first. Returns the mean loss per
    epoch."""
    from tqdm.auto import tqdm

    heads.a.fit_stats(xa)
    heads.v.fit_stats(xv)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(heads.parameters(), lr=lr)
    history = []
    for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        partner = pair_by_label(ya, yv, gen)
        order = torch.randperm(len(ya), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = clip_loss(*heads(xa[idx], xv[partner[idx]]), tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history.append(total / len(order))
    return history


def retrieval_topk(queries: torch.Tensor, gallery: torch.Tensor, q_labels: torch.Tensor,
                   g_labels: torch.Tensor, k: int = 1) -> float:
    """Label-match retrieval: the fraction of queries ``[Nq, D]`` whose ``k`` most similar
    (cosine) gallery items ``[Ng, D]`` include one of the query's label."""
    top = similarity(queries, gallery).topk(k, dim=-1).indices            # [Nq, k]
    return (g_labels[top] == q_labels[:, None]).any(-1).float().mean().item()
