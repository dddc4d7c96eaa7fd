import math

import pytest
import torch

from snnkit.sequence.rwkv import (
    WKV,
    SpikeGPT,
    SpikeLIF,
    TimeMix,
    token_shift,
    wkv_chunked,
    wkv_fused,
    wkv_logits,
    wkv_parallel,
    wkv_recurrent,
)


def _inputs(B=3, T=21, C=6, scale=3.0, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = -torch.exp(torch.randn(C, generator=g)).to(dtype)
    u = torch.randn(C, generator=g).to(dtype)
    k = (scale * torch.randn(B, T, C, generator=g)).to(dtype)
    v = torch.randn(B, T, C, generator=g).to(dtype)
    return w, u, k, v


def test_token_shift():
    x = torch.arange(12.0).view(1, 4, 3)
    assert torch.equal(token_shift(x)[0, 0], torch.zeros(3))
    assert torch.equal(token_shift(x)[0, 1:], x[0, :3])
    last = torch.full((1, 3), 7.0)
    assert torch.equal(token_shift(x, last)[0, 0], last[0])


def test_parallel_matches_the_definition():
    w, u, k, v = _inputs(B=2, T=7, C=3, dtype=torch.float64)
    y = wkv_parallel(w, u, k, v)
    for t in range(7):
        num = sum(torch.exp((t - 1 - i) * w + k[:, i]) * v[:, i] for i in range(t))
        den = sum(torch.exp((t - 1 - i) * w + k[:, i]) for i in range(t))
        num = num + torch.exp(u + k[:, t]) * v[:, t]
        den = den + torch.exp(u + k[:, t])
        torch.testing.assert_close(y[:, t], num / den)
    logits = wkv_logits(w, u, k)
    assert torch.isinf(logits[:, 0, 1]).all() and logits.shape == (2, 7, 7, 3)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_all_forms_agree(scale):
    w, u, k, v = _inputs(scale=scale)
    ref = wkv_parallel(w, u, k, v)
    rec, state = wkv_recurrent(w, u, k, v)
    torch.testing.assert_close(rec, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(wkv_fused(w, u, k, v), ref, atol=1e-5, rtol=1e-5)
    for chunk in (1, 4, 8, 64):
        y, s = wkv_chunked(w, u, k, v, chunk=chunk)
        torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
        for a, b in zip(s[:2], state[:2], strict=True):      # p, q at a common exponent
            torch.testing.assert_close(a * torch.exp(s[2] - state[2]), b, atol=1e-4, rtol=1e-4)


def test_state_carries_across_chunks():
    w, u, k, v = _inputs()
    ref = wkv_parallel(w, u, k, v)
    y1, s = wkv_recurrent(w, u, k[:, :9], v[:, :9])
    y2, _ = wkv_recurrent(w, u, k[:, 9:], v[:, 9:], s)
    torch.testing.assert_close(torch.cat([y1, y2], 1), ref, atol=1e-5, rtol=1e-5)
    y3, s = wkv_chunked(w, u, k[:, :5], v[:, :5], chunk=3)
    y4, _ = wkv_chunked(w, u, k[:, 5:], v[:, 5:], s, chunk=3)
    torch.testing.assert_close(torch.cat([y3, y4], 1), ref, atol=1e-5, rtol=1e-5)


def test_fused_gradients():
    w, u, k, v = (t.requires_grad_() for t in _inputs(B=2, T=9, C=3, dtype=torch.float64))
    assert torch.autograd.gradcheck(wkv_fused, (w, u, k, v))
    gy = torch.randn(2, 9, 3, dtype=torch.float64)
    fused = torch.autograd.grad((wkv_fused(w, u, k, v) * gy).sum(), (w, u, k, v))
    ref = torch.autograd.grad((wkv_parallel(w, u, k, v) * gy).sum(), (w, u, k, v))
    for a, b in zip(fused, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_fused_falls_back_on_huge_keys():
    w, u, k, v = _inputs()
    k[0, 3, 0] = 900.0
    y = wkv_fused(w, u, k, v)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, wkv_parallel(w, u, k, v), atol=1e-5, rtol=1e-5)


def test_spike_lif_is_spikingjellys_lif():
    x = 3 * torch.randn(2, 30, 5)
    spikes = SpikeLIF(tau=2.0, v_th=1.0)(x)
    V = torch.zeros(2, 5)
    for t in range(30):
        H = V + (x[:, t] - V) / 2.0
        S = (H > 1.0).float()
        assert torch.equal(spikes[:, t], S)
        V = H * (1 - S)
    with pytest.raises(ValueError, match="tau"):
        SpikeLIF(tau=1.0)


@pytest.mark.parametrize("spiking", [True, False])
def test_forward_equals_streaming(spiking, monkeypatch):
    torch.manual_seed(0)
    model = SpikeGPT(20, 16, 2, spiking=spiking).eval()
    with torch.no_grad():                      # make the neurons fire
        for block in model.blocks:
            block.att.output.weight.mul_(8)
            block.ffn.value.weight.mul_(8)
    ids = torch.randint(0, 20, (3, 12))
    stepped, state = [], None
    seen = []
    original = SpikeLIF.step
    monkeypatch.setattr(SpikeLIF, "step",
                        lambda self, x, h=None: seen.append(original(self, x, h)) or seen[-1])
    for t in range(12):
        logits, state = model.step(ids[:, t], state)
        stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, 1), model(ids), atol=1e-4, rtol=1e-4)
    raster = model.spikes(ids)
    if spiking:
        assert set(raster) == {f"blocks.{i}.lif{j}" for i in (0, 1) for j in (1, 2)}
        streamed = torch.stack([s for s, _ in seen[0::4]], 1)        # blocks.0.lif1, per token
        assert torch.equal(streamed, raster["blocks.0.lif1"])
        rates = [r.mean().item() for r in raster.values()]
        assert all(0 < r < 1 for r in rates)
        assert all(bool(((r == 0) | (r == 1)).all()) for r in raster.values())
    else:
        assert raster == {} and seen == []


def test_twins_have_equal_size_and_forms_agree_in_training():
    a, b = SpikeGPT(30, 24, 3, spiking=True), SpikeGPT(30, 24, 3, spiking=False)
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    torch.manual_seed(1)
    ids = torch.randint(0, 30, (2, 10))
    outs = {}
    for wkv in WKV:
        torch.manual_seed(2)
        m = SpikeGPT(30, 24, 2, spiking=True, wkv=wkv)
        loss = m(ids).logsumexp(-1).mean()
        loss.backward()
        outs[wkv] = (loss.item(), m.emb.weight.grad.clone())
    for wkv in WKV:
        assert math.isclose(outs[wkv][0], outs["parallel"][0], rel_tol=1e-5)
        torch.testing.assert_close(outs[wkv][1], outs["parallel"][1], atol=1e-5, rtol=1e-4)
    assert outs["fused"][1].abs().sum() > 0            # the binary embedding still learns
    with pytest.raises(ValueError, match="wkv"):
        TimeMix(8, wkv="cuda")


def test_generate():
    model = SpikeGPT(11, 8, 1)
    prompt = torch.tensor([[1, 2, 3]])
    a = model.generate(prompt, 5, torch.Generator().manual_seed(0))
    b = model.generate(prompt, 5, torch.Generator().manual_seed(0))
    assert a.shape == (1, 8) and torch.equal(a, b) and torch.equal(a[:, :3], prompt)
    assert int(a.max()) < 11
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 1, temperature=0.0)
