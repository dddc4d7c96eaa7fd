"""Static-to-event transfer: CKA, the sliding schedule, the losses and the two-stream model."""

import math

import pytest
import torch

from snnkit.methods.transfer import (
    TwoStreamSNN,
    domain_loss,
    event_frames,
    feature_cka,
    linear_cka,
    pair_by_class,
    slide,
    sliding_prob,
    static_frames,
    stream_accuracy,
    tet_loss,
    train_two_stream,
)

torch.set_num_threads(1)


def reference_cka(X, Y):
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return (X.T @ Y).pow(2).sum() / ((X.T @ X).norm() * (Y.T @ Y).norm())


def test_cka_matches_feature_space_formula_and_batches():
    gen = torch.Generator().manual_seed(0)
    X, Y = torch.randn(3, 40, 12, generator=gen), torch.randn(3, 40, 7, generator=gen)
    want = torch.stack([reference_cka(a, b) for a, b in zip(X, Y, strict=True)])
    torch.testing.assert_close(linear_cka(X, Y), want)


def test_cka_identity_and_invariances():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(64, 10, generator=gen)
    Q, _ = torch.linalg.qr(torch.randn(10, 10, generator=gen))
    assert linear_cka(X, X).item() == pytest.approx(1.0, abs=1e-5)
    assert linear_cka(X, 3.0 * X @ Q + 5.0).item() == pytest.approx(1.0, abs=1e-5)
    Z = torch.randn(64, 10, generator=gen)
    assert linear_cka(X, Z).item() < 0.5
    assert linear_cka(X, Z).item() == pytest.approx(linear_cka(X, 0.1 * Z @ Q).item(), abs=1e-5)


def test_sliding_prob_schedule():
    p = [sliding_prob(s, 100) for s in range(101)]
    assert p[0] == 0.0 and p[-1] == 1.0
    assert all(a <= b for a, b in zip(p[:-1], p[1:], strict=True))
    assert p[50] == pytest.approx(0.125)
    assert sliding_prob(150, 100) == 1.0 and sliding_prob(50, 100, power=1) == 0.5


def test_losses():
    gen = torch.Generator().manual_seed(2)
    F = torch.randn(4, 32, 8, generator=gen)
    coef = torch.zeros(4)
    assert domain_loss(F, 2 * F, coef).item() == pytest.approx(0.0, abs=1e-5)
    G = torch.randn(4, 32, 8, generator=gen)
    want = (0.5 * (1 - linear_cka(F, G))).mean()
    torch.testing.assert_close(domain_loss(F, G, coef), want)
    out, y = torch.randn(4, 6, 5, generator=gen), torch.randint(5, (6,), generator=gen)
    w = torch.rand(4, generator=gen)
    want = torch.stack([w[t] * (0.999 * torch.nn.functional.cross_entropy(out[t], y)
                                + 0.001 * (out[t] - 1).pow(2).mean()) for t in range(4)]).mean()
    torch.testing.assert_close(tet_loss(out, y, w), want)


def test_frames_pairing_and_slide():
    images = torch.rand(3, 4, 4)
    S = static_frames(images, T=5, size=(8, 6))
    assert S.shape == (3, 5, 2, 6, 8)
    torch.testing.assert_close(S[1, 3, 1, 1:5, 2:6], images[1])
    events = [torch.tensor([[0, 0, 1, 0], [1, 0, 1, 10], [1, 1, 0, 99], [3, 3, 1, 50]])]
    frames = event_frames(events, T=2, size=(4, 4), pool=2)
    assert frames.shape == (1, 2, 2, 2, 2)
    assert frames[0, 0, 0, 0, 0] == 1.0 and frames[0, 1, 1, 0, 0] == 1.0  # clipped at 1
    assert frames[0, 1, 0, 1, 1] == 1.0 and frames.sum() == 3
    gen = torch.Generator().manual_seed(3)
    pool_labels = torch.tensor([0, 1, 2, 0, 1, 2, 2])
    labels = torch.tensor([2, 0, 1, 2, 2])
    pairs = pair_by_class(labels, pool_labels, gen)
    assert torch.equal(pool_labels[pairs], labels)
    with pytest.raises(ValueError):
        pair_by_class(torch.tensor([3]), pool_labels)
    a, b = torch.zeros(200, 3), torch.ones(200, 3)
    mixed, mask = slide(a, b, 0.3, gen)
    assert torch.equal(mixed[:, 0].bool(), mask) and 0.2 < mask.float().mean() < 0.4
    assert not slide(a, b, 0.0, gen)[1].any() and slide(a, b, 1.0, gen)[1].all()


def test_two_stream_model_and_training():
    torch.manual_seed(0)
    T, n = 3, 2 * 5 * 5
    net = TwoStreamSNN(n, (16,), n_classes=2, T=T)
    x = torch.rand(T, 8, 2, 5, 5)
    out, feat = net(x, "static")
    assert out.shape == (T, 8, 2) and feat.shape == (T, 8, 16)
    assert not torch.equal(out, net(x, "event")[0])  # separate heads
    gen = torch.Generator().manual_seed(4)
    y = torch.arange(2).repeat(16)
    Xe = torch.rand(32, T, 2, 5, 5) * 0.3
    Xe[y == 1, :, 0, :2] += 0.7                   # class 1 lights the top rows
    Xs = torch.rand(32, T, 2, 5, 5) * 0.3
    Xs[y == 1, :, :, :2] += 0.7
    losses = train_two_stream(net, (Xe, y), (Xs, y), steps=40, lr=1e-2, batch_size=16,
                              generator=gen)
    assert len(losses) == 40 and losses[-1] < losses[0]
    assert stream_accuracy(net, Xe, y) > 0.8
    assert 0.0 <= feature_cka(net, (Xe, y), (Xs, y), gen) <= 1.0
    assert not net.coef.requires_grad or net.coef.grad is not None
    with pytest.raises(ValueError):
        train_two_stream(net, (Xe, y), (Xs[:5], y[:5]), steps=1, same_image=True)


def test_event_only_training_uses_event_head_only():
    torch.manual_seed(1)
    net = TwoStreamSNN(8, (6,), n_classes=2, T=2)
    before = net.heads["static"].weight.clone()
    X, y = torch.rand(10, 2, 8), torch.randint(2, (10,))
    train_two_stream(net, (X, y), steps=3, batch_size=10)
    torch.testing.assert_close(net.heads["static"].weight, before)
    assert math.isfinite(stream_accuracy(net, X, y))
