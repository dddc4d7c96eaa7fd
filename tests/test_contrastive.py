import math

import pytest
import torch

from snnkit.contrastive import (
    ClipHeads,
    ProjectionHead,
    clip_loss,
    fit_clip,
    pair_by_label,
    retrieval_topk,
    similarity,
)


def test_clip_loss_matches_the_definition():
    gen = torch.Generator().manual_seed(0)
    a, v = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    S = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(v, dim=1).T / 0.5
    rows = -(S.diag() - S.logsumexp(1)).mean()
    cols = -(S.diag() - S.logsumexp(0)).mean()
    torch.testing.assert_close(clip_loss(a, v, 0.5), (rows + cols) / 2)
    # aligned pairs cost less than shuffled ones; tau=1 caps how low the loss can go
    assert clip_loss(a, a, 0.1) < clip_loss(a, v, 0.1)
    assert clip_loss(a, a, 1.0) > math.log(6) - 2.0


def test_clip_loss_gradient_pulls_pairs_together():
    a = torch.randn(8, 5, requires_grad=True)
    v = torch.randn(8, 5)
    clip_loss(a, v, 0.2).backward()
    before = similarity(a, v).diag().mean()
    after = similarity(a - 0.1 * a.grad, v).diag().mean()
    assert after > before


def test_pair_by_label_pairs_within_classes():
    gen = torch.Generator().manual_seed(1)
    ya, yv = torch.tensor([0, 1, 1, 2, 0, 2]), torch.tensor([2, 0, 1, 1, 0, 2, 2])
    pick = pair_by_label(ya, yv, gen)
    assert torch.equal(yv[pick], ya)
    picks = torch.stack([pair_by_label(ya, yv, gen) for _ in range(200)])
    assert set(picks[:, 3].tolist()) == {0, 5, 6}                # every 2 gets drawn
    assert torch.equal(pair_by_label(torch.arange(4), torch.arange(4)), torch.arange(4))
    with pytest.raises(ValueError):
        pair_by_label(torch.tensor([3]), yv)


def test_retrieval_topk():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]])   # nearest gallery items: 0, 1, 2
    g = torch.tensor([[1.0, 0.1], [0.1, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 1, 2])
    assert retrieval_topk(q, g, labels, labels) == 1.0
    assert retrieval_topk(q, g, torch.tensor([0, 1, 0]), labels) == pytest.approx(2 / 3)
    assert retrieval_topk(q, g, torch.tensor([1, 0, 1]), labels) == 0.0
    assert retrieval_topk(q, g, torch.tensor([1, 0, 1]), labels, k=2) == 1.0


def test_heads_standardise_and_fit_clip_aligns_two_views():
    head = ProjectionHead(3, 4).fit_stats(torch.tensor([[1.0, 2, 3], [3.0, 2, 5]]))
    torch.testing.assert_close(head.mean, torch.tensor([2.0, 2, 4]))
    assert head(torch.zeros(2, 3)).shape == (2, 4)
    gen = torch.Generator().manual_seed(2)
    y = torch.arange(200) % 5
    centres = torch.randn(5, 12, generator=gen)
    xa = centres[y] + 0.3 * torch.randn(200, 12, generator=gen)
    xv = centres[y] @ torch.randn(12, 20, generator=gen) + 0.3 * torch.randn(200, 20,
                                                                               generator=gen)
    torch.manual_seed(0)
    heads = ClipHeads(12, 20, 16)
    with torch.no_grad():
        chance_level = retrieval_topk(*heads(xa, xv), y, y)
    losses = fit_clip(heads, xa, y, xv, y, epochs=10, batch_size=50, progress=False)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        assert retrieval_topk(*heads(xa, xv), y, y) > max(0.9, chance_level)
