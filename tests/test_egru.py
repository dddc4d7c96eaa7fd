import pytest
import torch
from torch import nn

from snnkit.sequence.egru import (
    EGRU,
    EventFn,
    RecurrentLM,
    activity_sparsity,
    egru_sequence,
    egru_sequence_reference,
    egru_step,
    pseudo_derivative,
)


def test_event_fn_forward_and_pseudo_derivative():
    v = torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.5], requires_grad=True)
    e = EventFn.apply(v, 0.7, 1.0)
    assert torch.equal(e, torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]))
    (g,) = torch.autograd.grad(e.sum(), v)
    torch.testing.assert_close(g, torch.tensor([0.0, 0.35, 0.7, 0.525, 0.0]))
    torch.testing.assert_close(pseudo_derivative(torch.tensor([1.8]), 0.5, 3.6),
                               torch.tensor([0.25]))


def test_step_events_reset_and_output():
    H = 3
    w_hh, b_hh = torch.zeros(3 * H, H), torch.zeros(3 * H)
    xp = torch.tensor([[-20.0] * H + [0.0] * H + [3.0, 0.1, -3.0]])   # z = 0: c = g
    y, c, e = egru_step(xp, torch.zeros(1, H), torch.zeros(1, H), w_hh, b_hh,
                        torch.full((H,), 0.5))
    g = torch.tanh(torch.tensor([3.0, 0.1, -3.0]))
    assert torch.equal(e[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(y[0], torch.stack([g[0], torch.tensor(0.0), torch.tensor(0.0)]))
    torch.testing.assert_close(c[0], torch.stack([g[0] - 0.5, g[1], g[2]]))


def test_fused_sequence_equals_reference_values_and_gradients():
    torch.manual_seed(0)
    T, B, H = 12, 3, 8
    dt = torch.float64
    ins = (torch.randn(T, B, 3 * H, dtype=dt), torch.rand(B, H, dtype=dt),
           torch.randn(B, H, dtype=dt), 0.4 * torch.randn(3 * H, H, dtype=dt),
           torch.randn(3 * H, dtype=dt), 0.3 * torch.rand(H, dtype=dt))
    ins = tuple(x.requires_grad_() for x in ins)
    w = torch.linspace(-1, 1, H, dtype=dt)
    results = []
    for fn in (egru_sequence, egru_sequence_reference):
        ys, c = fn(*ins, 0.7, 1.5)
        grads = torch.autograd.grad((ys * w).sum() + (c ** 2).sum(), ins)
        results.append((ys, c, grads))
    (ys1, c1, g1), (ys2, c2, g2) = results
    torch.testing.assert_close(ys1, ys2, rtol=0, atol=1e-12)
    torch.testing.assert_close(c1, c2, rtol=0, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert 0.1 < activity_sparsity(ys1 != 0) < 0.95


def test_first_step_equals_torch_gru_with_loaded_weights():
    torch.manual_seed(1)
    gru = nn.GRU(5, 7)
    egru = EGRU(5, 7, thr_init=0.0).load_gru(gru)
    x = torch.randn(1, 4, 5)
    h, _ = gru(x)
    y, (_, c) = egru(x)
    torch.testing.assert_close(c, h[0])                 # threshold 0: nothing is subtracted
    torch.testing.assert_close(y[0], h[0].clamp(min=0))   # and only c > 0 is sent


def test_language_model_shapes_events_and_cells():
    lm = RecurrentLM(11, emb=6, hidden=9, thr_init=0.2)
    ids = torch.randint(0, 11, (4, 13))
    logits = lm(ids)
    assert logits.shape == (4, 13, 11)
    assert lm.events.shape == (13, 4, 9) and lm.events.dtype == torch.bool
    assert RecurrentLM(11, 6, 9, cell="lstm")(ids).shape == (4, 13, 11)
    with pytest.raises(ValueError, match="cell"):
        RecurrentLM(11, cell="rnn")


def test_threshold_is_learned():
    lm = RecurrentLM(11, emb=6, hidden=9, thr_init=0.1)
    ids = torch.randint(0, 11, (4, 13))
    nn.functional.cross_entropy(lm(ids).flatten(0, 1), ids.flatten()).backward()
    assert lm.rnn.thr.grad is not None and lm.rnn.thr.grad.abs().sum() > 0


def test_copies_carry_no_graph():
    import copy

    lm = RecurrentLM(11, emb=6, hidden=9)
    lm(torch.randint(0, 11, (2, 5)))
    assert lm.rnn.activity.requires_grad
    assert not copy.deepcopy(lm).rnn.activity.requires_grad
