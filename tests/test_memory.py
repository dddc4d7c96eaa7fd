import torch
from torch import nn

from snnkit.memory import SavedBytes, peak_saved_bytes


def test_counts_what_an_op_saves_and_releases_it_after_backward():
    a = torch.randn(100, requires_grad=True)
    with SavedBytes() as mem:
        out = torch.sigmoid(a)          # sigmoid saves its output: 100 floats
        assert mem.live == 400
        out.sum().backward()
    assert (mem.peak, mem.live, mem.tensors) == (400, 0, 1)


def test_a_tensor_saved_twice_is_counted_once():
    a = torch.randn(50, requires_grad=True)
    with SavedBytes() as mem:
        (a * a).sum().backward()        # mul saves both operands: the same tensor
    assert mem.tensors == 2 and mem.total == 400
    assert mem.peak == 200 and mem.live == 0


def test_dropping_the_graph_releases_without_backward():
    a = torch.randn(10, 10, requires_grad=True)
    with SavedBytes() as mem:
        out = torch.tanh(a @ a)
        held = mem.live
        del out
    assert held > 0 and mem.live == 0


def test_excluded_parameters_are_not_counted():
    lin = nn.Linear(8, 4)
    x = torch.randn(5, 8, requires_grad=True)   # so the weight is saved for dL/dx
    with SavedBytes(exclude=lin.parameters()) as mem:
        lin(x).sum().backward()
    assert mem.peak == x.numel() * 4            # only the input; the weight lives anyway
    with SavedBytes() as everything:
        lin(x).sum().backward()
    assert everything.peak == mem.peak + lin.weight.numel() * 4


def test_peak_of_a_chain_and_no_counting_outside():
    a = torch.randn(1000, requires_grad=True)

    def step():
        torch.exp(torch.exp(a)).sum().backward()    # two saved outputs alive together

    assert peak_saved_bytes(step) == 8000
    with SavedBytes() as mem:
        pass
    torch.exp(a).sum().backward()
    assert mem.total == 0 and "peak=0.000 MB" in repr(mem)
