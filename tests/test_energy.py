import pytest
import torch
from torch import nn

from snnkit import LIF
from snnkit.hw import EnergyTable, count_ops


def test_table_values_from_horowitz():
    fp32 = EnergyTable()
    assert (fp32.mac, fp32.ac, fp32.mem) == pytest.approx((4.6, 0.9, 5.0))
    int8 = EnergyTable("int", 8)
    assert (int8.mac, int8.ac) == pytest.approx((0.23, 0.03))
    int4 = EnergyTable("int", 4)
    assert (int4.ac, int4.mac - int4.ac) == pytest.approx((0.015, 0.05))
    with pytest.raises(ValueError, match="no energy figures"):
        _ = EnergyTable("float", 8).mac


def test_linear_hand_count_dense_and_spikes():
    layer = nn.Linear(10, 5)
    dense = torch.rand(2, 10) + 0.1
    r = count_ops(layer, dense, samples=2)
    (c,) = r.layers
    assert (c.macs, c.acs, c.params) == (50, 0, 55)
    assert c.mem_accesses == pytest.approx((55 * 2 + 20 + 10) / 2)   # weights read per vector
    spikes = torch.zeros(4, 2, 10)          # T=4, B=2
    spikes[0, 0, :3] = 1
    spikes[2, 1, 5] = 1
    (c,) = count_ops(layer, spikes, samples=2).layers
    assert c.macs == 0 and c.acs == pytest.approx(4 * 5 / 2)   # 4 spikes x fan-out 5, per sample
    assert c.rate == pytest.approx(4 / 80)
    r = count_ops(layer, spikes, samples=2)
    assert r.compute_pj == pytest.approx(10 * 0.9)
    (c,) = count_ops(layer, spikes, samples=2, spike_driven=False).layers
    assert c.acs == 0 and c.macs == 4 * 50          # an ANN pays MACs even for 0/1 input


def test_per_sample_counts_do_not_depend_on_batch_size():
    layer = nn.Linear(100, 50)
    x = torch.rand(64, 100)
    one = count_ops(layer, x[:1], samples=1).to_dict()
    many = count_ops(layer, x, samples=64).to_dict()
    for key in ("macs", "mem_accesses", "energy_pj"):
        assert one[key] == pytest.approx(many[key]), key


def test_conv_spike_acs_are_exact_pair_counts():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 6, 3, padding=1, stride=2, groups=2)
    x = (torch.rand(3, 2, 7, 7) < 0.3).float()
    # brute force: every (input spike, weight) pair that lands on an output position
    hits = 0
    for _sample, _channel, i, j in torch.nonzero(x).tolist():
        for oi in range(4):
            for oj in range(4):
                di, dj = i + 1 - 2 * oi, j + 1 - 2 * oj     # kernel offset, with padding 1
                hits += 0 <= di < 3 and 0 <= dj < 3
    (layer,) = count_ops(conv, x, samples=3).layers
    assert layer.macs == 0
    assert layer.acs == pytest.approx(hits * 3 / 3)        # 3 output channels per group


def test_conv_hand_count():
    conv = nn.Conv2d(2, 4, 3)
    x = torch.rand(3, 2, 6, 6) + 0.1
    (c,) = count_ops(conv, x, samples=3).layers
    assert c.macs == 4 * 4 * 4 * 2 * 9                # out 4x4x4, each 2 x 3 x 3
    grouped = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    (c,) = count_ops(grouped, torch.rand(1, 4, 5, 5) + 0.1, samples=1).layers
    assert c.macs == 4 * 5 * 5 * 9


def test_spiking_network_counts_spikes_and_neuron_updates():
    torch.manual_seed(0)
    net = nn.Module()
    net.fc, net.lif = nn.Linear(8, 6), LIF(0.9)
    net.forward = lambda x: net.lif(net.fc(x))
    x = torch.rand(5, 2, 8) * 3
    spikes, _ = net.lif(net.fc(x))
    report = count_ops(net, x, samples=2)
    fc, lif = report.layers
    assert lif.kind == "neuron" and lif.spikes == spikes.sum().item() / 2
    assert lif.neuron_updates == 5 * 6 and lif.rate == pytest.approx(spikes.mean().item())
    assert report.to_dict()["spikes"] == lif.spikes
    assert "total" in str(report)


def _linear_lif(T=4, B=2, seed=0):
    torch.manual_seed(seed)
    net = nn.Module()
    net.fc, net.lif = nn.Linear(10, 5), LIF(0.9)
    net.forward = lambda x: net.lif(net.fc(x))
    spikes = (torch.rand(T, B, 10) < 0.3).float()
    return net, spikes


def test_memory_aware_matches_a_hand_computation():
    from snnkit.hw.energy import MemoryModel, break_even_rate, input_rate, memory_aware

    net, spikes = _linear_lif()
    report = count_ops(net, spikes, samples=2)
    n_spk = spikes.sum().item() / 2                      # input spikes per sample
    m = MemoryModel(w_bits=4, a_bits=4, u_bits=16)
    bit = 10 / 64                                        # pJ per SRAM bit
    e_add16, e_mac4 = 0.06, 0.2 * 0.25 + 0.03 * 0.5      # Horowitz, scaled from 8 bits
    snn = memory_aware(report, steps=4, memory=m)
    assert snn["compute"] == pytest.approx(n_spk * 5 * e_add16)
    assert snn["weights"] == pytest.approx(4 * 55 * 4 * bit)          # fetched every step
    assert snn["activations"] == pytest.approx(4 * 10 * bit + 4 * 5 * bit)
    assert snn["membrane"] == pytest.approx(4 * 5 * 2 * 16 * bit)
    assert snn["total"] == pytest.approx(sum(snn[k] for k in ("compute", "weights",
                                                              "activations", "membrane")))
    qnn = memory_aware(report, steps=4, memory=m, kind="qnn")
    assert qnn["compute"] == pytest.approx(50 * e_mac4)
    assert qnn["weights"] == pytest.approx(55 * 4 * bit)
    assert qnn["activations"] == pytest.approx((10 + 5) * 4 * bit) and qnn["membrane"] == 0
    resident = memory_aware(report, 4, MemoryModel(4, 4, 16, weights_resident=True))
    assert resident["weights"] == pytest.approx(qnn["weights"])
    rate = input_rate(report)
    assert rate == pytest.approx(spikes.mean().item())
    assert memory_aware(report, 4, m, rate=rate)["total"] == pytest.approx(snn["total"])
    fr = break_even_rate(report, 4, m)
    assert memory_aware(report, 4, m, rate=fr)["total"] == pytest.approx(qnn["total"])
    assert (rate > fr) == (snn["total"] > qnn["total"])
    t8 = memory_aware(report, 4, m, T=8)                 # twice the steps, twice the cost
    assert t8["total"] == pytest.approx(2 * snn["total"])
    assert break_even_rate(report, 4, m, T=8) < fr       # longer runs must fire less to win
    with pytest.raises(ValueError, match="kind"):
        memory_aware(report, 4, m, kind="gpu")


def test_compute_only_convention():
    from snnkit.hw.energy import compute_only

    net, spikes = _linear_lif()
    report = count_ops(net, spikes, samples=2)
    assert compute_only(report, 4) == pytest.approx(spikes.sum().item() / 2 * 5 * 0.9)
    assert compute_only(report, 4, kind="ann") == pytest.approx(50 * 4.6)


def test_multibit_spikes_cost_one_ac_per_spike():
    from snnkit.quant import IELIF

    torch.manual_seed(0)
    layer = nn.Linear(6, 3)
    counts = torch.randint(0, 5, (2, 6)).float()
    (c,) = count_ops(layer, counts / 4, samples=2, spike_levels=4).layers
    assert c.macs == 0 and c.spike_input
    assert c.acs == pytest.approx(counts.sum().item() * 3 / 2)
    (c,) = count_ops(layer, counts / 4, samples=2).layers      # default: binary only
    assert c.acs == 0 and c.macs == 2 * 18 / 2
    (c,) = count_ops(layer, torch.rand(2, 6), samples=2, spike_levels=4).layers
    assert c.acs == 0                                           # analogue input stays MACs
    conv = nn.Conv2d(1, 2, 3, padding=1)
    img = torch.randint(0, 3, (1, 1, 4, 4)).float() / 4
    (c,) = count_ops(conv, img, samples=1, spike_levels=4).layers
    (ref,) = count_ops(conv, (img > 0).float(), samples=1).layers
    assert c.acs >= ref.acs and c.acs == pytest.approx(
        nn.functional.conv2d(img * 4, torch.ones(1, 1, 3, 3), padding=1).sum().item() * 2)
    (n,) = count_ops(IELIF(D=4), torch.rand(3, 2, 5), samples=2).layers
    assert n.kind == "neuron" and n.neuron_updates == 3 * 5


def test_only_modules_that_emit_spikes_are_priced_as_neurons():
    """A model with a ``spiking`` switch (e.g. LMUFormer's) is a network, not a neuron: only
    the class attribute ``emits_spikes`` marks a custom module as one."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.spiking = True
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return (self.fc(x) > 0).float()

    class Neuron(nn.Module):
        emits_spikes = True

        def forward(self, x):
            return (x > 0.5).float()

    layers = count_ops(Net(), torch.rand(2, 4), samples=2).layers
    assert [c.kind for c in layers] == ["linear"]
    (n,) = count_ops(Neuron(), torch.tensor([[0.2, 0.9, 0.7]]), samples=1).layers
    assert n.kind == "neuron" and n.spikes == 2 and n.neuron_updates == 3


def test_event_energy_prices_counters_by_name():
    from snnkit.hw import event_energy

    table = {"packets": 2e-9, "spikes": 1e-9}
    counters = {"packets": 3, "spikes": 5, "ticks": 100}      # unpriced counters are ignored
    assert event_energy(counters, table) == pytest.approx(11e-9)
    with pytest.raises(KeyError, match="spikes"):
        event_energy({"packets": 3}, table)
