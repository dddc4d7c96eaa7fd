import pytest
import torch

from snnkit.methods.confidence import (
    QCFS,
    QCFSMLP,
    choose,
    confidence,
    cumulative_outputs,
    dynamic_exit,
    fixed_accuracy,
    oracle_exit,
    sweep,
    to_if_snn,
)


def test_qcfs_staircase_and_straight_through_gradient():
    act = QCFS(L=4, lam=2.0)
    x = torch.tensor([-1.0, 0.0, 0.24, 0.26, 0.74, 1.0, 1.9, 5.0], requires_grad=True)
    out = act(x)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 2.0, 2.0]))
    out.sum().backward()
    assert (x.grad[1:6] != 0).all() and act.lam.grad is not None
    with pytest.raises(ValueError):
        QCFS(L=0)


def test_converted_snn_rate_approaches_the_qcfs_ann():
    torch.manual_seed(0)
    ann = QCFSMLP((5, 12, 12, 3), L=8, lam=1.0)
    x = torch.rand(40, 5) * 2
    snn = to_if_snn(ann)
    assert snn.layers[0].weight.data_ptr() != ann.layers[0].weight.data_ptr()
    err = [(snn(x, T).mean(0) - ann(x)).abs().mean().item() for T in (1, 2, 4, 8)]
    assert err[0] > err[1] > err[2] > 0.01
    assert err[3] < 0.002          # at T = L the mean rate reproduces the staircase (Bu et al.)


def test_snn_first_layer_matches_an_if_neuron_by_hand():
    torch.manual_seed(1)
    ann = QCFSMLP((3, 4, 2), L=4, lam=1.5)
    snn = to_if_snn(ann)
    x, T = torch.rand(6, 3), 10
    lin1, lin2 = ann.layers
    v, outs = torch.full((6, 4), 0.75), []
    with torch.no_grad():
        for _ in range(T):
            v = v + lin1(x)
            s = (v > 1.5).float()
            v = v - 1.5 * s                     # immediate soft reset
            outs.append(lin2(1.5 * s))
    torch.testing.assert_close(snn(x, T), torch.stack(outs))


def make_cum():
    # 3 steps, 3 inputs, 2 classes; label 0 for all
    z = torch.tensor([[[0.0, 0.1], [0.0, 1.0], [0.1, 0.0]],
                      [[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]],
                      [[0.0, 0.0], [3.0, 0.0], [0.0, 0.0]]])
    return cumulative_outputs(z), torch.zeros(3, dtype=torch.long)


def test_confidence_and_exits_by_hand():
    cum, y = make_cum()
    torch.testing.assert_close(cum[-1], torch.tensor([[2.0, 0.1], [3.0, 2.0], [0.1, 0.0]]))
    c = confidence(cum, kappa=1.0)
    torch.testing.assert_close(c[0, 0], torch.sigmoid(torch.tensor(0.1)))
    torch.testing.assert_close(c[1, 0], torch.sigmoid(torch.tensor(1.9)))
    steps, pred = dynamic_exit(cum, kappa=1.0, c_th=0.8)
    assert steps.tolist() == [2, 2, 3] and pred.tolist() == [0, 1, 0]   # input 1 exits wrong
    steps, pred = dynamic_exit(cum, kappa=100.0, c_th=0.8)              # never confident
    assert steps.tolist() == [3, 3, 3] and pred.tolist() == [0, 0, 0]
    steps, pred = oracle_exit(cum, y)
    assert steps.tolist() == [2, 3, 1] and pred.tolist() == [0, 0, 0]
    steps, pred = oracle_exit(cum, torch.tensor([0, 0, 1]))     # input 2 is never right
    assert steps.tolist() == [2, 3, 1] and pred.tolist() == [0, 0, 0]
    steps, _ = oracle_exit(cum[:2], y)                           # horizon of 2 steps
    assert steps.tolist() == [2, 1, 1]
    torch.testing.assert_close(fixed_accuracy(cum, y), torch.tensor([1 / 3, 2 / 3, 1.0]))


def test_sweep_and_choose():
    cum, y = make_cum()
    rows = sweep(cum, y, kappas=[1.0, 100.0], thresholds=[0.8])
    assert [(r["steps"], r["acc"]) for r in rows] == [pytest.approx((7 / 3, 2 / 3)), (3.0, 1.0)]
    assert choose(rows, min_acc=0.9)["kappa"] == 100.0
    assert choose(rows, min_acc=0.5)["kappa"] == 1.0
    with pytest.raises(ValueError, match="no setting"):
        choose(rows, min_acc=1.01)
