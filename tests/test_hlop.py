"""HLOP: the Oja subspace rule, orthogonal gradient projection and the continual helpers."""

import pytest
import torch

from snnkit.methods.hlop import (
    HebbianSubspace,
    HLOPLinear,
    HLOPSpikingMLP,
    acc_bwt,
    fit_task,
    oja_delta,
    orthonormal_rows,
    principal_angles,
    project_out,
    projected_linear,
    split_tasks,
    subspace_quality,
)

torch.set_num_threads(1)


def gaussian(n, eigvals, gen):
    """Samples ``[n, d]`` with covariance ``Q diag(eigvals) Q^T`` for a random rotation Q."""
    d = len(eigvals)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen))
    z = torch.randn(n, d, generator=gen) * torch.tensor(eigvals).sqrt()
    return z @ Q.T, Q


def test_oja_delta_formula_and_fixed_rows():
    gen = torch.Generator().manual_seed(0)
    H, x = torch.randn(3, 5, generator=gen), torch.randn(7, 5, generator=gen)
    want = sum(torch.outer(H @ xi, xi - H.T @ (H @ xi)) for xi in x) / len(x)
    torch.testing.assert_close(oja_delta(H, x), want)
    fixed = oja_delta(H, x, n_fixed=2)
    assert fixed[:2].abs().max() == 0
    torch.testing.assert_close(fixed[2:], want[2:])


def test_hebbian_subspace_converges_to_principal_subspace():
    gen = torch.Generator().manual_seed(1)
    eig = [4.0, 3.0, 2.0, 0.5, 0.3, 0.2, 0.1, 0.05]
    x, Q = gaussian(2000, eig, gen)
    hs = HebbianSubspace(8, lr=0.05)
    hs.add(3, gen)
    for _ in range(10):
        for i in range(0, len(x), 50):
            hs.update(x[i:i + 50], iters=5)
    H = hs.weight
    assert (H @ H.T - torch.eye(3)).norm() < 0.05
    assert principal_angles(H, Q[:, :3].T).max() < 10.0


def test_new_rows_learn_what_old_rows_miss():
    gen = torch.Generator().manual_seed(2)
    x, Q = gaussian(2000, [4.0, 3.0, 2.0, 1.0, 0.1, 0.1], gen)
    hs = HebbianSubspace(6, lr=0.05)
    hs.add(2, gen)
    hs.weight = Q[:, :2].T.contiguous()  # old rows: the top-2 subspace
    hs.freeze()
    old = hs.old.clone()
    hs.add(2, gen)
    for _ in range(10):
        for i in range(0, len(x), 50):
            hs.update(x[i:i + 50])
    torch.testing.assert_close(hs.old, old)  # frozen rows never move
    assert principal_angles(hs.weight[2:], Q[:, 2:4].T).max() < 10.0


def test_orthonormal_rows_and_add_cap():
    gen = torch.Generator().manual_seed(3)
    A = orthonormal_rows(3, 6, generator=gen)
    B = orthonormal_rows(2, 6, A, gen)
    torch.testing.assert_close(A @ A.T, torch.eye(3))
    assert (B @ A.T).abs().max() < 1e-5
    with pytest.raises(ValueError):
        orthonormal_rows(4, 6, A)
    hs = HebbianSubspace(4)
    hs.add(3, gen)
    hs.add(3, gen)
    assert hs.weight.shape == (4, 4)


def test_freeze_orthonormalizes():
    hs = HebbianSubspace(5)
    hs.weight = torch.randn(3, 5, generator=torch.Generator().manual_seed(4))
    hs.freeze()
    assert hs.n_old == 3
    torch.testing.assert_close(hs.old @ hs.old.T, torch.eye(3))


def test_projected_linear_gradients():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 6, 10, generator=gen, requires_grad=True)  # [T, B, n_in]
    W = torch.randn(3, 10, generator=gen, requires_grad=True)
    H = orthonormal_rows(4, 10, generator=gen)
    g = torch.randn(4, 6, 3, generator=gen)
    out = projected_linear(x, W, H)
    torch.testing.assert_close(out, x @ W.T)
    gx, gW = torch.autograd.grad(out, (x, W), g)
    torch.testing.assert_close(gx, g @ W)
    want = g.reshape(-1, 3).T @ project_out(x, H).reshape(-1, 10)
    torch.testing.assert_close(gW, want)
    assert (H @ gW.T).norm() <= 1e-5 * gW.norm()


def test_old_task_outputs_unchanged_by_projected_step():
    gen = torch.Generator().manual_seed(6)
    layer = HLOPLinear(8, 4)
    x_old = torch.randn(50, 3, generator=gen) @ torch.randn(3, 8, generator=gen)  # rank 3
    layer.hlop.weight = torch.linalg.svd(x_old, full_matrices=False).Vh[:3].contiguous()
    layer.hlop.freeze()
    before = layer(x_old).detach()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(5):
        loss = (layer(torch.randn(16, 8, generator=gen)) - 1).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = layer(x_old).detach()
    torch.testing.assert_close(after, before, atol=1e-4, rtol=0)
    layer.project = False  # control: without projection the old outputs move
    loss = (layer(torch.randn(16, 8, generator=gen)) - 1).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert (layer(x_old).detach() - before).abs().max() > 1e-2


def test_model_heads_rates_and_no_hebbian_parameters():
    torch.manual_seed(0)
    net = HLOPSpikingMLP((6, 5, 4), n_classes=2, n_heads=3, T=3)
    x = torch.rand(7, 6)
    logits, rates = net(x, 1, rates=True)
    assert logits.shape == (7, 2) and [r.shape for r in rates] == [(7, 6), (7, 5)]
    assert net.head.weight.shape == (3 * 2, 4)  # the three heads, stacked
    mixed = net(x, torch.tensor([0, 1, 2, 0, 1, 2, 0]))
    torch.testing.assert_close(mixed[1], net(x, 1)[1])
    assert all("hlop" not in name for name, _ in net.named_parameters())
    shared = HLOPSpikingMLP((6, 5, 4), n_classes=10, n_heads=1)
    assert len(shared.hlop_layers) == 3 and shared(x).shape == (7, 10)


def test_fit_task_learns_and_splits():
    labels = torch.arange(10).repeat(3)
    groups, local = split_tasks(labels, 5)
    assert [len(g) for g in groups] == [6] * 5 and set(local.tolist()) == {0, 1}
    assert torch.equal(labels[groups[2]].unique(), torch.tensor([4, 5]))
    with pytest.raises(ValueError):
        split_tasks(labels, 3)
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    X = torch.rand(64, 6)
    y = (X[:, 0] > X[:, 1]).long()
    net = HLOPSpikingMLP((6, 16), n_classes=2, n_heads=2, T=2)
    losses = fit_task(net, X, y, 1, epochs=15, generator=gen)
    assert losses[-1] < losses[0]


def test_acc_bwt_and_angles():
    R = torch.tensor([[0.9, 0.0, 0.0], [0.7, 0.8, 0.0], [0.6, 0.8, 0.9]])
    acc, bwt = acc_bwt(R)
    assert acc == pytest.approx((0.6 + 0.8 + 0.9) / 3)
    assert bwt == pytest.approx(((0.6 - 0.9) + (0.8 - 0.8)) / 2)
    e = torch.eye(4)
    assert principal_angles(e[:2], e[:2] * 3).max() < 1e-3
    assert principal_angles(e[:2], e[2:]).min() == pytest.approx(90.0)


def test_subspace_quality():
    gen = torch.Generator().manual_seed(8)
    x, Q = gaussian(3000, [5.0, 4.0, 0.5, 0.45, 0.1, 0.1], gen)
    exact = subspace_quality(Q[:, :4].T, x)
    assert exact["orth_error"] < 1e-5 and exact["captured"] == pytest.approx(1.0, abs=0.02)
    assert exact["separated"] == 4 and exact["separated_angle"] < 5
    wrong = subspace_quality(Q[:, 2:6].T, x)  # misses the two largest directions
    assert wrong["separated_angle"] > 80 and wrong["captured"] < 0.3
