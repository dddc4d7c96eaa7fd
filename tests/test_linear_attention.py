import pytest
import torch

from snnkit.models import CharLM
from snnkit.nn import MultiHeadAttention, scaled_dot_product
from snnkit.nn.attention import causal_mask
from snnkit.sequence.linear_attention import (
    LinearAttention,
    convert_to_linear,
    linear_attention_parallel,
    linear_attention_recurrent,
    lm_step,
    softmax_attention_step,
    state_bytes,
)


def _qkv(B=2, H=3, N=11, dk=4, dv=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.rand(B, H, N, dk, generator=g), torch.rand(B, H, N, dk, generator=g)
    return q, k, torch.randn(B, H, N, dv, generator=g), g


@pytest.mark.parametrize("gate", [None, "head", "channel"])
def test_parallel_equals_recurrent(gate):
    q, k, v, g = _qkv()
    shape = {"head": (2, 3, 11, 1), "channel": (2, 3, 11, 4)}.get(gate)
    log_g = None if shape is None else -torch.rand(*shape, generator=g)
    par = linear_attention_parallel(q, k, v, log_g)
    rec, S = linear_attention_recurrent(q, k, v, log_g)
    torch.testing.assert_close(par, rec, atol=1e-5, rtol=1e-5)
    assert S.shape == (2, 3, 4, 5)
    # by hand for the last token: o_N = q_N sum_i (prod_{j>i} g_j) k_i^T v_i
    G = torch.zeros(2, 3, 11, 1) if log_g is None else log_g.cumsum(2)
    w = torch.exp(G[:, :, -1:] - G)                                   # [B, H, N, d or 1]
    S_ref = torch.einsum("bhic,bhid->bhcd", k * w, v)
    torch.testing.assert_close(S, S_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(par[:, :, -1], (q[:, :, -1, None] @ S_ref)[:, :, 0],
                               atol=1e-5, rtol=1e-5)


def test_state_continues_across_chunks():
    q, k, v, g = _qkv()
    log_g = -torch.rand(2, 3, 11, 1, generator=g)
    full, S = linear_attention_recurrent(q, k, v, log_g)
    a, S1 = linear_attention_recurrent(q[:, :, :4], k[:, :, :4], v[:, :, :4], log_g[:, :, :4])
    b, S2 = linear_attention_recurrent(q[:, :, 4:], k[:, :, 4:], v[:, :, 4:], log_g[:, :, 4:], S1)
    torch.testing.assert_close(torch.cat([a, b], 2), full)
    torch.testing.assert_close(S2, S)


def test_softmax_cache_matches_scaled_dot_product():
    q, k, v, _ = _qkv(dv=4)
    ref = scaled_dot_product(q, k, v, causal_mask(11))
    cache, outs, window_outs, wcache = None, [], [], None
    for t in range(11):
        o, cache = softmax_attention_step(q[:, :, t], k[:, :, t], v[:, :, t], cache)
        outs.append(o)
        o, wcache = softmax_attention_step(q[:, :, t], k[:, :, t], v[:, :, t], wcache, window=3)
        window_outs.append(o)
    torch.testing.assert_close(torch.stack(outs, 2), ref)
    assert cache[0].shape == (2, 3, 11, 4) and wcache[0].shape == (2, 3, 3, 4)
    band = causal_mask(11) & ~causal_mask(11).tril(-3)                # the last 3 tokens
    torch.testing.assert_close(torch.stack(window_outs, 2), scaled_dot_product(q, k, v, band))


def test_layer_forms_and_conversion_copy_weights():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, heads=4)
    lin = LinearAttention.from_softmax(mha, gate_rank=4)
    for name in ("q", "k", "v", "out"):
        assert torch.equal(getattr(lin, name).weight, getattr(mha, name).weight)
        assert torch.equal(getattr(lin, name).bias, getattr(mha, name).bias)
    x = torch.randn(2, 9, 16)
    y = lin(x, mask=causal_mask(9))
    torch.testing.assert_close(y, lin(x, recurrent=True), atol=1e-5, rtol=1e-5)
    state, outs = None, []
    for t in range(9):
        o, state = lin.step(x[:, t], state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs, 1), y, atol=1e-5, rtol=1e-5)
    assert state.shape == (2, 4, 4, 4)
    y.sum().backward()
    assert lin.gate[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="divisible"):
        LinearAttention(10, heads=3)


@pytest.mark.parametrize("layers", [None, [0], [1], []])
def test_streaming_lm_equals_forward_and_state_sizes(layers):
    torch.manual_seed(0)
    lm = CharLM(30, 16, 2, 4, 12).eval()
    model = convert_to_linear(lm, layers, gate_rank=4)
    assert model is not lm and type(lm.trunk.blocks[0].attn) is MultiHeadAttention
    ids = torch.randint(0, 30, (3, 12))
    state, logits, sizes = None, [], []
    for t in range(12):
        out, state = lm_step(model, ids[:, t], state)
        logits.append(out)
        sizes.append(state_bytes(state["layers"]))
    torch.testing.assert_close(torch.stack(logits, 1), model(ids), atol=1e-5, rtol=1e-5)
    n_soft = 0 if layers is None else 2 - len(layers)
    linear_bytes = (2 - n_soft) * 3 * 4 * 4 * 4 * 4                   # B * heads * d * d floats
    for t, size in enumerate(sizes, start=1):
        assert size == linear_bytes + n_soft * 2 * 3 * t * 16 * 4     # K and V: B * t * dim
    with pytest.raises(ValueError, match="position"):
        lm_step(model, ids[:, 0], state)


def test_state_bytes_nested():
    state = {"a": torch.zeros(3, 4), "b": [torch.zeros(2, dtype=torch.float64), None, (1, 2)]}
    assert state_bytes(state) == 3 * 4 * 4 + 2 * 8
