import math

import pytest
import torch

from snnkit.functional import ATan, FastSigmoid, Heaviside, StraightThrough, Triangle
from snnkit.functional.surrogate import get

V = torch.linspace(-3, 3, 601, dtype=torch.float64)


def test_forward_is_a_strict_step():
    v = torch.tensor([-1.0, 0.0, 1e-7, 2.0])
    for sg in (ATan(), FastSigmoid(), Triangle(), StraightThrough(), Heaviside()):
        assert sg(v).tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("sg, formula", [
    (ATan(3.0), lambda v: 1.5 / (1 + (math.pi / 2 * 3.0 * v) ** 2)),
    (FastSigmoid(10.0), lambda v: 1 / (10.0 * v.abs() + 1) ** 2),
    (Triangle(0.5), lambda v: (1 - v.abs() / 0.5).clamp(min=0) / 0.5),
    (StraightThrough(1.0), lambda v: (v.abs() < 0.5).double()),
    (StraightThrough(), lambda v: torch.ones_like(v)),
    (Heaviside(), lambda v: torch.zeros_like(v)),
])
def test_derivatives_match_their_formulas_and_backward(sg, formula):
    torch.testing.assert_close(sg.derivative(V), formula(V))
    v = V.clone().requires_grad_()
    sg(v).sum().backward()
    torch.testing.assert_close(v.grad, formula(V))


def test_derivative_leaves_input_untouched():
    v = V.clone()
    ATan().derivative(v)
    assert torch.equal(v, V)


@pytest.mark.parametrize("sg", [ATan(2.0), Triangle(1.0), Triangle(0.3)])
def test_unit_area(sg):
    v = torch.linspace(-200, 200, 2_000_001, dtype=torch.float64)
    area = torch.trapezoid(sg.derivative(v), v).item()
    assert area == pytest.approx(1.0, abs=5e-3)


def test_get_by_name():
    assert get("triangle") == Triangle()
    assert get(None) == ATan()
    with pytest.raises(ValueError, match="surrogate must be one of"):
        get("sigmoidish")
