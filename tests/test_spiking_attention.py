import itertools

import pytest
import torch

from snnkit import LIF
from snnkit.nn.spiking_attention import (
    SDSA,
    SSA,
    OpCount,
    SoftmaxAttention,
    attention_ops,
    fold_threshold,
    matmul_ops,
    sdsa,
    sdsa_linear,
    sdsa_linear_ops,
    sdsa_ops,
    softmax_attention,
    softmax_attention_ops,
    ssa,
    ssa_integer,
    ssa_ops,
)


def spikes(*shape, p=0.3, seed=0):
    return torch.bernoulli(torch.full(shape, p), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.9])
def test_ssa_equals_its_multiplication_free_form(p):
    q, k, v = (spikes(2, 4, 4, 16, 16, p=p, seed=i) for i in range(3))
    out, attn = ssa(q, k, v, scale=1.0, return_map=True)
    assert torch.equal(out, ssa_integer(q, k, v).float())
    assert attn.min() >= 0 and torch.equal(attn, attn.round())
    assert torch.equal(ssa(q, k, v), out * 0.125)


def test_ssa_and_linear_sdsa_compute_the_same_function_in_different_orders():
    q, k, v = (spikes(3, 32, 8, seed=i) for i in range(3))
    assert torch.equal(ssa(q, k, v), sdsa_linear(q, k, v))   # integers: exact in float32
    quad, lin = ssa_ops(q, k, v), sdsa_linear_ops(q, k, v)
    assert quad.macs == lin.macs == 0
    # hand counts: Q K^T adds one K row (N entries) per Q spike; (QK^T)V adds one map entry
    # per V spike for each of the N queries; K^T V adds d per K spike; Q(K^T V) d per Q spike
    n, d = 32, 8
    assert quad.acs == (q.sum() * n + v.sum() * n).item()
    assert lin.acs == (k.sum() * d + q.sum() * d).item()


def test_matmul_ops_dense_binary_and_broadcast():
    a, b = torch.rand(2, 5, 4) + 0.5, torch.rand(2, 4, 3) + 0.5
    assert matmul_ops(a, b) == OpCount(macs=2 * 5 * 4 * 3)
    s = spikes(5, 4, seed=1)
    c = matmul_ops(s, b)                       # s broadcast over the batch of 2
    assert c.macs == 0 and c.acs == s.sum().item() * 3 * 2
    c = matmul_ops(a, spikes(2, 4, 3, seed=2))
    assert c.macs == 0 and c.acs > 0


def test_softmax_attention_multiplies_and_grows_quadratically():
    ops = []
    for n in (64, 256):
        q, k, v = (torch.randn(1, n, 16) for _ in range(3))
        ops.append(softmax_attention_ops(q, k, v))
        assert ops[-1].multiplications > 0
    assert ops[1].macs / ops[0].macs == pytest.approx(16)
    q, k, v = (spikes(2, 16, 8, seed=i) for i in range(3))
    assert softmax_attention_ops(q, k, v).macs > 0       # softmax densifies: real map x V
    torch.testing.assert_close(softmax_attention(q, k, v),
                               torch.softmax(q @ k.mT / 8 ** 0.5, -1) @ v)


def test_sdsa_variant1_is_mask_and_count():
    q, k, v = (spikes(2, 3, 32, 16, seed=i) for i in range(3))
    spike = lambda c: (c > 2).float()                          # noqa: E731
    want = torch.zeros_like(v)
    for idx in itertools.product(range(2), range(3)):
        counts = (q[idx] * k[idx]).sum(0)                       # [d]
        want[idx] = v[idx] * (counts > 2).float()
    assert torch.equal(sdsa(q, k, v, spike), want)
    ops = sdsa_ops(q, k, v)
    assert ops.macs == 0 and ops.multiplications == 0
    assert ops.acs == (q * k).sum().item()
    dense = sdsa_ops(torch.rand(2, 8, 4), torch.rand(2, 8, 4), torch.rand(2, 8, 4))
    assert dense.macs == 2 * 8 * 4 and dense.logic == 2 * 8 * 4


def test_sdsa_ops_linear_in_tokens():
    ratios = {}
    for name, fn in (("sdsa1", sdsa_ops), ("sdsa3", sdsa_linear_ops), ("ssa", ssa_ops)):
        a = fn(*(spikes(16, 4, 64, 16, seed=i) for i in range(3))).acs
        b = fn(*(spikes(16, 4, 256, 16, seed=i) for i in range(3))).acs
        ratios[name] = b / a
    assert ratios["sdsa1"] == pytest.approx(4, rel=0.02)
    assert ratios["sdsa3"] == pytest.approx(4, rel=0.02)
    assert ratios["ssa"] == pytest.approx(16, rel=0.02)


def test_threshold_folding_gives_identical_spikes_over_time():
    a = torch.randint(0, 12, (4, 8, 50)).float()               # integer maps, T=4
    scale, th = 0.125, 0.5
    s_scaled, _ = LIF(0.5, th, reset="zero")(a * scale)
    s_folded, _ = LIF(0.5, fold_threshold(th, scale), reset="zero")(a)
    assert fold_threshold(th, scale) == 4.0
    assert torch.equal(s_scaled, s_folded) and 0 < s_folded.mean() < 1


def test_ssa_module_shapes_grads_and_counts():
    torch.manual_seed(0)
    m = SSA(32, heads=4)
    x = spikes(2, 3, 16, 32, p=0.5)
    m.keep_map = True
    y = m(x)
    assert y.shape == x.shape and torch.equal(y, y.bool().float())
    assert m.map.shape == (2, 3, 4, 16, 16) and m.map.min() >= 0
    x.requires_grad_(True)
    m(x).sum().backward()
    assert m.q.linear.weight.grad.abs().sum() > 0
    ops = attention_ops(m, x.detach(), samples=3)
    assert ops.macs == 0 and ops.acs > 0 and not m.counting
    with pytest.raises(ValueError, match="divisible"):
        SSA(30, heads=4)


@pytest.mark.parametrize("variant", [1, 3])
def test_sdsa_module_spike_driven(variant):
    torch.manual_seed(0)
    m = SDSA(32, heads=4, variant=variant)
    u = torch.randn(2, 3, 16, 32) * 2                           # membrane input (real)
    y = m(u)
    assert y.shape == u.shape
    ops = attention_ops(m, u, samples=3)
    assert ops.macs == 0 and ops.multiplications == 0 and ops.acs > 0
    ann = SoftmaxAttention(32, heads=4)
    assert ann(u).shape == u.shape
    assert attention_ops(ann, u, samples=3).macs > 0
    with pytest.raises(ValueError, match="variant"):
        SDSA(32, variant=2)
