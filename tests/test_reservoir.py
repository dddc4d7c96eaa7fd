import math

import pytest
import torch

from snnkit import reservoir as lsm
from snnkit.hw.crossbar import Crossbar


def _loop(x, w_in, w_rec, decay, v_th, gain):
    u = torch.zeros(x.shape[1], w_in.shape[1])
    s = torch.zeros_like(u)
    out = []
    for t in range(x.shape[0]):
        u = decay * u * (1 - s) + gain * (x[t] @ w_in + s @ w_rec)
        s = (u >= v_th).float()
        out.append(s)
    return torch.stack(out)


def _inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    w_in = lsm.gaussian_synapses(30, 40, 0.3, 0.6, gen)
    w_rec = lsm.gaussian_synapses(40, 40, 0.2, 0.5, gen)
    x = (torch.rand(24, 5, 30, generator=gen) < 0.25).float()
    return x, w_in, w_rec


def test_lsm_run_matches_the_equations_and_uses_recurrence():
    x, w_in, w_rec = _inputs()
    out = lsm.lsm_run(x, w_in, w_rec, decay=0.8, v_th=1.0, gain=1.5)
    torch.testing.assert_close(out, _loop(x, w_in, w_rec, 0.8, 1.0, 1.5))
    assert out.shape == (24, 5, 40) and 0 < out.mean() < 0.5
    alone = lsm.lsm_run(x, w_in, torch.zeros(40, 40), decay=0.8, v_th=1.0, gain=1.5)
    assert not torch.equal(out, alone)


def test_ideal_crossbars_give_the_same_spikes_and_count_reads():
    x, w_in, w_rec = _inputs(1)
    a, b = Crossbar(30, 40).program(w_in), Crossbar(40, 40).program(w_rec)
    on_chip = lsm.lsm_run(x, a, b, decay=0.9, v_th=1.0)
    assert torch.equal(on_chip, lsm.lsm_run(x, w_in, w_rec, decay=0.9, v_th=1.0))
    assert a.reads == b.reads == 24 * 5
    assert a.macs == 24 * 5 * 30 * 40


def test_window_counts_and_encode():
    spikes = torch.zeros(6, 2, 3)
    spikes[0, 0, 1] = spikes[1, 0, 1] = spikes[5, 1, 2] = 1
    counts = lsm.window_counts(spikes, 3)
    assert counts.shape == (2, 9)
    assert counts[0, 1] == 2 and counts[1, 8] == 1 and counts.sum() == 3
    with pytest.raises(ValueError):
        lsm.window_counts(spikes, 4)
    x, w_in, w_rec = _inputs(2)
    res = lsm.LSM(w_in, w_rec, decay=0.9, v_th=1.0, windows=4)
    feats = res.encode(x, batch_size=2)
    torch.testing.assert_close(feats, lsm.window_counts(res.run(x), 4))
    with pytest.raises(ValueError):
        lsm.LSM(w_in, torch.zeros(3, 3))


def test_rram_synapses_are_sparse_random_and_seeded():
    xbar = lsm.rram_synapses(200, 100, 0.1, seed=3)
    W = xbar.weights()
    assert abs((W != 0).float().mean().item() - (1 - 0.9 ** 2)) < 0.02
    assert abs(W.mean().item()) < 0.01
    nonzero = W[W != 0].abs()
    assert 0.3 < nonzero.median().item() < 0.7                  # median SET 50 uS of 99 uS
    assert torch.equal(W, lsm.rram_synapses(200, 100, 0.1, seed=3).weights())
    assert not torch.equal(W, lsm.rram_synapses(200, 100, 0.1, seed=4).weights())
    assert len(xbar.g.unique()) <= 16


def test_ridge_readout_is_the_closed_form_and_separates():
    gen = torch.Generator().manual_seed(5)
    for n, d in ((40, 25), (25, 40)):                            # primal and dual forms
        X, y = torch.randn(n, d, generator=gen), torch.randint(0, 3, (n,), generator=gen)
        Y = torch.nn.functional.one_hot(y, 3).double()
        Xd = X.double()
        want = torch.linalg.solve(Xd.T @ Xd + 3.0 * torch.eye(d, dtype=Xd.dtype), Xd.T @ Y)
        torch.testing.assert_close(lsm.ridge_readout(X, y, 3.0, 3).double(), want,
                                   atol=1e-4, rtol=1e-4)
        both = lsm.ridge_readout(X, y, [3.0, 30.0], 3)
        assert both.shape == (2, d, 3)
        torch.testing.assert_close(both[0], lsm.ridge_readout(X, y, 3.0, 3))
    y = torch.arange(200) % 4
    F = torch.nn.functional.one_hot(y, 4).float() * 5 + torch.rand(200, 4, generator=gen)
    assert lsm.readout_accuracy(F, y) == 1.0
    noise = torch.rand(200, 4, generator=gen)
    assert lsm.readout_accuracy(noise, y) < 0.5


def test_cochleagram_and_audio_spikes():
    t = torch.arange(8000) / 8000
    low = torch.sin(2 * math.pi * 300 * t[:4000])
    high = torch.sin(2 * math.pi * 2500 * t[:4000]) * (t[:4000] > 0.25)
    coch = lsm.cochleagram([low, high], T=24, channels=16, hop_s=0.025)
    assert coch.shape == (24, 2, 16)
    assert coch.min() >= 0 and coch.max() <= 1
    assert coch[:, 0].mean(0).argmax() < coch[:, 1].mean(0).argmax()   # pitch -> band
    assert coch[:8, 1].mean() < coch[12:16, 1].mean()                   # onset at 0.25 s
    assert coch[22:, 0].max() == 0                                       # padded silence
    spikes = lsm.audio_spikes([low, high], T=20, channels=16, hop_s=0.025)
    assert spikes.shape == (20, 2, 32) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert spikes[:, 1, :16].sum() > 0                                   # ON events at the onset
