import pytest
import snntorch
import torch
from snntorch import surrogate as snn_surrogate

from snnkit import IF, LIF, PLIF
from snnkit.functional import (
    ATan,
    FastSigmoid,
    StraightThrough,
    Triangle,
    lif_sequence,
    lif_sequence_reference,
    lif_step,
)

PAIRS = {  # snnkit surrogate, the same surrogate in snnTorch
    "atan": (ATan(2.0), snn_surrogate.atan(2.0)),
    "atan_narrow": (ATan(5.0), snn_surrogate.atan(5.0)),
    "fast_sigmoid": (FastSigmoid(25.0), snn_surrogate.fast_sigmoid(25.0)),
    "straight_through": (StraightThrough(), snn_surrogate.straight_through_estimator()),
}


def snntorch_run(x, beta, threshold, reset, spike_grad):
    leaky = snntorch.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset,
                           spike_grad=spike_grad)
    mem, spikes, mems = torch.zeros_like(x[0]), [], []
    for x_t in x:
        s, mem = leaky(x_t, mem)
        spikes.append(s)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def loss_of(spikes, mem):
    g = torch.Generator().manual_seed(1)
    w1, w2 = torch.randn(spikes.shape, generator=g), torch.randn(mem.shape, generator=g)
    return (spikes * w1).sum() + (mem * w2).sum()


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("beta", [0.5, 0.75, 0.9])
@pytest.mark.parametrize("threshold", [1.0, 0.5])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_fused_equals_snntorch_forward_and_backward(reset, beta, threshold, pair):
    ours, theirs = PAIRS[pair]
    torch.manual_seed(0)
    x = (torch.randn(12, 3, 40) * 1.2).requires_grad_()
    s_ref, m_ref = snntorch_run(x, beta, threshold, reset, theirs)
    (g_ref,) = torch.autograd.grad(loss_of(s_ref, m_ref), x)
    s, m = lif_sequence(x, beta, threshold, reset, ours)
    (g,) = torch.autograd.grad(loss_of(s, m), x)
    assert s_ref.sum() > 0
    assert torch.equal(s, s_ref)
    assert torch.equal(m, m_ref)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("surrogate", [ATan(), FastSigmoid(), Triangle(0.5), StraightThrough(1.0)])
def test_fused_equals_reference_including_beta_and_h0_grads(reset, surrogate):
    torch.manual_seed(1)
    x = torch.randn(9, 2, 7, requires_grad=True)
    beta = torch.rand(7).mul(0.5).add(0.4).requires_grad_()
    h0 = torch.rand(2, 7).requires_grad_()
    out = lif_sequence(x, beta, 0.8, reset, surrogate, h0)
    ref = lif_sequence_reference(x, beta, 0.8, reset, surrogate, h0)
    assert torch.equal(out[0], ref[0])
    torch.testing.assert_close(out[1], ref[1])
    grads = torch.autograd.grad(loss_of(*out), (x, beta, h0))
    grads_ref = torch.autograd.grad(loss_of(*ref), (x, beta, h0))
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("learn_beta", [False, True])
def test_fast_paths_at_rest_and_one_step_equal_reference(reset, T, with_h0, learn_beta):
    """h0=None (a neuron at rest) and T=1 take shortcuts; every combination of what needs a
    gradient must still give the reference's values and gradients."""
    torch.manual_seed(4)
    x = torch.randn(T, 3, 5, requires_grad=True)
    beta = torch.rand(5).mul(0.5).add(0.4).requires_grad_(learn_beta)
    h0 = (torch.rand(3, 5) * 1.5).requires_grad_() if with_h0 else None
    out = lif_sequence(x, beta, 0.8, reset, ATan(), h0)
    ref = lif_sequence_reference(x, beta, 0.8, reset, ATan(), h0)
    assert torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])
    inputs = [x] + ([beta] if learn_beta else []) + ([h0] if with_h0 else [])
    grads = torch.autograd.grad(loss_of(*out), inputs)
    grads_ref = torch.autograd.grad(loss_of(*ref), inputs)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-5)


def test_only_spikes_or_only_membrane_used():
    x = torch.randn(5, 3, 4, requires_grad=True)
    for pick in (0, 1):
        (g,) = torch.autograd.grad(lif_sequence(x, 0.8)[pick].sum(), x)
        (g_ref,) = torch.autograd.grad(lif_sequence_reference(x, 0.8)[pick].sum(), x)
        torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_gradcheck_custom_backward_float64(reset):
    # The membrane path is differentiable (resets are detached), so gradcheck applies to it;
    # the spike path's surrogate is checked against autograd of the reference loop above.
    torch.manual_seed(2)
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    beta = torch.full((3,), 0.7, dtype=torch.float64, requires_grad=True)
    h0 = (torch.rand(2, 3, dtype=torch.float64) * 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, b, h: lif_sequence(x, b, 1.0, reset, h0=h)[1],
                                    (x, beta, h0))


def test_step_matches_multistep_and_modules():
    torch.manual_seed(3)
    x = torch.randn(10, 4, 6)
    lif = LIF(beta=0.8, threshold=0.7, reset="zero")
    s, m = lif(x)
    h, steps = None, []
    for x_t in x:
        spk, h = lif.step(x_t, h)
        steps.append(spk)
    assert torch.equal(torch.stack(steps), s)
    s_slow, m_slow = LIF(beta=0.8, threshold=0.7, reset="zero", fused=False)(x)
    assert torch.equal(s, s_slow) and torch.equal(m, m_slow)
    s_if, m_if = IF(threshold=1.0)(x)
    s_ref, m_ref = lif_sequence_reference(x, 1.0, 1.0)
    assert torch.equal(s_if, s_ref) and torch.equal(m_if, m_ref)


def test_per_neuron_decay():
    beta = torch.tensor([0.5, 0.75, 1.0])
    x = torch.rand(6, 2, 3)
    s, m = LIF(beta=beta)(x)
    s_ref, m_ref = lif_sequence_reference(x, beta)
    assert torch.equal(s, s_ref) and torch.equal(m, m_ref)


def test_plif_learns_its_decay():
    plif = PLIF(beta=0.5, shape=(6,))
    torch.testing.assert_close(plif.beta, torch.full((6,), 0.5))
    x = torch.rand(8, 2, 6)
    plif(x)[1].sum().backward()
    assert plif.w.grad is not None and plif.w.grad.abs().sum() > 0
    # gradient of the membrane sum w.r.t. beta is positive for positive input: decay keeps charge
    assert (plif.w.grad > 0).all()


def test_lif_step_matches_snntorch_single_step():
    leaky = snntorch.Leaky(beta=0.75)
    h = torch.tensor([0.2, 1.4, 0.9])
    x = torch.tensor([0.9, 0.1, 0.05])
    s_ref, m_ref = leaky(x, h.clone())
    s, m = lif_step(x, h, 0.75)
    assert torch.equal(s, s_ref) and torch.equal(m, m_ref)


@pytest.mark.parametrize("kwargs, message", [
    (dict(beta=1.5), "beta"), (dict(beta=0.0), "beta"), (dict(beta=[0.5, 1.2]), "beta"),
    (dict(reset="soft"), "reset"),
    (dict(surrogate="nope"), "surrogate"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LIF(**kwargs)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_compiled_path_equals_reference(reset):
    torch.manual_seed(4)
    x = torch.randn(5, 2, 16, requires_grad=True)
    beta = torch.full((16,), 0.8, requires_grad=True)
    out = lif_sequence(x, beta, 1.0, reset, FastSigmoid(), compiled=True)
    ref = lif_sequence_reference(x, beta, 1.0, reset, FastSigmoid())
    assert torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])
    grads = torch.autograd.grad(loss_of(*out), (x, beta))
    grads_ref = torch.autograd.grad(loss_of(*ref), (x, beta))
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-5)


def test_compiled_path_falls_back_with_a_warning(monkeypatch):
    from snnkit.functional import lif

    def broken_compile(fn, **kwargs):
        def fail(*args):
            raise RuntimeError("no C compiler")
        return fail

    monkeypatch.setattr(lif, "_compiled", {})
    monkeypatch.setattr(torch, "compile", broken_compile)
    x = torch.randn(4, 2, 8, requires_grad=True)
    with pytest.warns(UserWarning, match="torch.compile failed.*no C compiler"):
        s, m = lif_sequence(x, 0.9, compiled=True)
    s_ref, m_ref = lif_sequence(x, 0.9)
    assert torch.equal(s, s_ref) and torch.equal(m, m_ref)
    (g,) = torch.autograd.grad(s.sum(), x)
    (g_ref,) = torch.autograd.grad(s_ref.sum(), x)
    torch.testing.assert_close(g, g_ref)
