import pytest
import torch

from snnkit.hw import count_ops
from snnkit.sequence.l2mu import L2MU, L2MUCell, Population, PopulationEncoder
from snnkit.sequence.lmu import lmu_matrices

RECURRENT = ("cell.e_h", "cell.e_m", "cell.W_h", "cell.W_m", "cell.A", "cell.B")


def paper_neuron(current, beta, threshold, alpha=None):
    """The paper's equations, unscaled: U = beta U + J - threshold S_prev, S = (U > threshold)."""
    J = U = S = torch.zeros_like(current[0])
    spikes, mems = [], []
    for i_t in current:
        J = i_t if alpha is None else alpha * J + i_t
        U = beta * U + J - threshold * S
        S = (U > threshold).float()
        spikes.append(S)
        mems.append(U)
    return torch.stack(spikes), torch.stack(mems)


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
def test_population_matches_paper_equations(kind):
    torch.manual_seed(0)
    pop = Population(kind, beta=0.8, threshold=0.7, alpha=0.6)
    current = torch.randn(40, 3, 5)
    alpha = 0.6 if kind == "synaptic" else None
    ref_s, ref_u = paper_neuron(current, 0.8, 0.7, alpha)
    state, spikes, mems = None, [], []
    for i_t in current:
        s, state = pop.step(i_t, state)
        spikes.append(s)
        mems.append(state[1])
    assert ref_s.sum() > 10
    torch.testing.assert_close(torch.stack(spikes), ref_s)
    torch.testing.assert_close(torch.stack(mems) * 0.7, ref_u)   # membrane in threshold units
    torch.testing.assert_close(pop(current), ref_s)                 # the fused sequence path
    with pytest.raises(ValueError, match="kind"):
        Population("izhikevich")


def test_population_reduces_to_heaviside():
    pop = Population("leaky", beta=0.0, threshold=1e-6)
    current = torch.randn(10, 4, 3)
    current = current.sign() * (current.abs() + 0.01)     # clear of zero
    torch.testing.assert_close(pop(current), (current > 0).float())


def test_population_parameters_learn_and_broadcast():
    pop = Population("synaptic", shape=(3, 1))
    s = pop(torch.rand(20, 2, 3, 4) * 2)
    s.sum().backward()
    for p in (pop.beta, pop.threshold, pop.alpha):
        assert p.grad is not None and p.grad.shape == (3, 1) and p.grad.abs().sum() > 0


@pytest.mark.parametrize("neuron", ["leaky", "synaptic", "ann"])
def test_cell_unroll_equals_forward(neuron):
    torch.manual_seed(1)
    cell = L2MUCell(5, 12, order=6, theta=10.0, memory_dim=3, neuron=neuron)
    with torch.no_grad():
        for lin in (cell.e_x, cell.e_h, cell.e_m, cell.W_x, cell.W_h, cell.W_m):
            lin.weight.mul_(3)
    x = (torch.rand(25, 4, 5) < 0.4).float()
    out = cell.run(x)
    state, hs = None, []
    for x_t in x:
        h, state = cell.step(x_t, state)
        hs.append(h)
    torch.testing.assert_close(torch.stack(hs), out["h"])
    assert out["u"].shape == (25, 4, 3) and out["m"].shape == (25, 4, 3, 6)
    if neuron != "ann":
        for k in "umh":
            assert set(out[k].unique().tolist()) <= {0.0, 1.0}
        assert out["m"].sum() > 0 and out["h"].sum() > 0


def test_ann_cell_is_the_original_lmu():
    torch.manual_seed(2)
    cell = L2MUCell(3, 4, order=5, theta=8.0, memory_dim=2, neuron="ann")
    x = torch.randn(12, 2, 3)
    Ad, Bd = lmu_matrices(5, 8.0)
    Ad, Bd = Ad.float(), Bd.float()
    h, m = torch.zeros(2, 4), torch.zeros(2, 2, 5)
    for x_t in x:
        u = x_t @ cell.e_x.weight.T + h @ cell.e_h.weight.T + m.flatten(1) @ cell.e_m.weight.T
        m = m @ Ad.T + u[..., None] * Bd
        h = torch.tanh(cell.W_x(x_t) + h @ cell.W_h.weight.T + m.flatten(1) @ cell.W_m.weight.T)
    torch.testing.assert_close(cell(x)[-1], h)
    with pytest.raises(ValueError, match="neuron"):
        L2MUCell(3, 4, 5, 8.0, neuron="relu")


def test_l2mu_trains_end_to_end():
    torch.manual_seed(3)
    net = L2MU(6, 4, hidden=16, order=4, theta=8.0, memory_dim=2)
    assert not net.cell.A.weight.requires_grad and not net.cell.B.weight.requires_grad
    x, y = torch.randn(30, 8, 6), torch.randint(0, 4, (8,))
    logits = net(x)
    assert logits.shape == (8, 4)
    torch.nn.functional.cross_entropy(logits, y).backward()
    trainable = [p for p in net.parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable)
    assert net.encoder.split.weight.grad.abs().sum() > 0


def test_encoder_output_is_spikes():
    enc = PopulationEncoder(6, pop_size=4, hidden=8, out_dim=5)
    with torch.no_grad():
        for m in (enc.split, enc.mix, enc.out):
            m.weight.mul_(3)
    s = enc(torch.randn(20, 3, 6))
    assert s.shape == (20, 3, 5) and set(s.unique().tolist()) <= {0.0, 1.0}


def test_recurrent_path_is_accumulates_only():
    torch.manual_seed(4)
    x = torch.randn(20, 5, 6)
    spiking = count_ops(L2MU(6, 4, hidden=16, order=4, theta=8.0), x, samples=5)
    layers = {c.name: c for c in spiking.layers}
    for name in RECURRENT:
        assert layers[name].macs == 0 and layers[name].spike_input, name
    assert layers["encoder.split"].macs > 0                  # only the raw input multiplies
    assert sum(layers[n].acs for n in RECURRENT) > 0
    ann = count_ops(L2MU(6, 4, hidden=16, order=4, theta=8.0, neuron="ann"), x, samples=5)
    assert ann.total("acs") == 0
    cell_A = next(c for c in ann.layers if c.name == "cell.A")
    assert cell_A.dense_macs == 20 * 4 * 4 * 4               # T x memory_dim x order^2
    assert cell_A.macs == 19 * 4 * 4 * 4     # the all-zero memory of step 0 counts as no spikes
