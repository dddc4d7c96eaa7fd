import math

import numpy as np
import pytest

from snnkit.hw import spinnaker as sp

FAST = sp.IFCurrExp(cm=0.27, tau_m=3.0, tau_refrac=1.0, tau_syn_e=0.3, tau_syn_i=0.3,
                    v_rest=-60.0, v_reset=-60.0, v_thresh=-57.0)


def test_fixed_point_s16_15():
    x = np.array([-3.25, 0.0, 1e-5, 12345.678])
    assert np.abs(sp.from_fix(sp.to_fix(x)) - x).max() <= 2.0**-16
    a, b = sp.to_fix(1.5), sp.to_fix(-2.25)
    assert sp.from_fix(sp.fix_mul(a, b)) == -3.375
    assert sp.to_fix(1e9) == 2**31 - 1                       # saturates


def test_constant_current_neuron_fires_at_the_analytic_period_on_both_backends():
    prm = sp.IFCurrExp(i_offset=1.0)          # PyNN defaults: tau_m 20 ms, cm 1 nF, 15 mV gap
    m = sp.Machine()
    pop = m.add(sp.Population(1, prm, label="n"))
    m.connect(pop, pop, np.zeros((1, 1)))
    fixed, flt = m.run(200, "fixed"), m.run(200, "float")
    a = math.exp(-1 / prm.tau_m)
    drive = prm.i_offset * prm.tau_m / prm.cm                 # mV at steady state
    n_first = math.ceil(math.log(1 - 15 / drive) / math.log(a))
    period = n_first + math.ceil(prm.tau_refrac)              # refractory tick(s), then again
    times = [t for t, _ in flt["spikes"]["n"]]
    assert times[0] == n_first - 1                            # ticks are 0-based
    assert np.all(np.diff(times) == period)
    assert [t for t, _ in fixed["spikes"]["n"]] == times


def test_packets_routes_and_synaptic_events_are_counted():
    m = sp.Machine(cores=4, neurons_per_core=4)
    src = m.add(sp.Population(2, label="src", spike_times=[[3, 10], [5]]))
    post = m.add(sp.Population(6, FAST, label="post"))       # two slices: 0-3, 4-5
    W = np.zeros((2, 6))
    W[0, [0, 1, 5]] = 6.0                                     # neuron 0 reaches both cores
    W[1, 2] = 6.0                                             # neuron 1 only the first
    m.connect(src, post, W, delay=2)
    m.place_and_route()
    assert m.slices == [(0, 0, 2), (1, 0, 4), (1, 4, 6)]
    assert m.routes == {0: {1, 2}}                            # one key per source slice
    out = m.run(20)
    c = out["counters"]
    assert c["packets"] == 3 and c["router_lookups"] == 3
    assert c["deliveries"] == 3 * 2
    assert c["synaptic_events"] == 2 * 3 + 1 * 1
    assert c["neuron_updates"] == 20 * 6
    first = sorted(n for t, n in out["spikes"]["post"] if t == 5)
    assert first == [0, 1, 5]                                 # spike at 3 ms + 2 ms delay
    assert m.energy(c) > 0


def test_the_network_must_fit_the_chip():
    m = sp.Machine(cores=2, neurons_per_core=10)
    m.add(sp.Population(25, FAST))
    with pytest.raises(ValueError, match="more than the chip's 2 cores"):
        m.place_and_route()


def test_dropped_packets_deliver_nothing_and_runs_are_deterministic():
    def build(drop):
        m = sp.Machine(drop_p=drop, seed=1)
        src = m.add(sp.Population(5, label="src", spike_times=[[2, 4, 6]] * 5))
        m.connect(src, m.add(sp.Population(5, FAST, label="post")), np.eye(5) * 6)
        return m.run(10)

    lost = build(1.0)
    assert lost["counters"]["synaptic_events"] == 0 and lost["counters"]["dropped"] == 15
    assert not lost["spikes"]["post"]
    assert build(0.0) == build(0.0)


@pytest.mark.parametrize("pre_first, sign", [(True, 1), (False, -1)])
def test_stdp_potentiates_causal_and_depresses_acausal_pairs(pre_first, sign):
    m = sp.Machine()
    pre = m.add(sp.Population(1, label="pre", spike_times=[[10 if pre_first else 14]]))
    kick = m.add(sp.Population(1, label="kick", spike_times=[[11]]))
    post = m.add(sp.Population(1, FAST, label="post"))
    m.connect(kick, post, np.array([[6.0]]))
    rule = sp.STDP(tau_plus=3, tau_minus=3, a_plus=0.3, a_minus=0.3, w_min=0, w_max=6)
    plastic = m.connect(pre, post, np.array([[0.5]]), delay=1, stdp=rule)   # subthreshold
    out = m.run(30)
    assert [t for t, _ in out["spikes"]["post"]] == [12.0]    # the kick alone makes it fire
    assert np.sign(plastic.weight[0, 0] - 0.5) == sign
    assert 0 <= plastic.weight[0, 0] <= 6


def test_synapse_init_delivers_the_continuous_charge():
    tau, tick = 0.3, 1.0
    init = sp.synapse_init(tau, tick)
    assert init == pytest.approx(0.3 * (1 - math.exp(-1 / 0.3)))
    charge = sum(init * math.exp(-k * tick / tau) * tick for k in range(200))   # w = 1 nA
    assert charge == pytest.approx(tau)                                          # w * tau_syn


def test_identical_populations_stay_distinct_and_a_lost_packet_loses_all_copies():
    m = sp.Machine(drop_p=1.0)
    src = m.add(sp.Population(1, label="src", spike_times=[[1, 3]]))
    a, b = m.add(sp.Population(1, FAST)), m.add(sp.Population(1, FAST))
    assert a is not b and m.populations.index(b) == 2                           # not a == b
    m.connect(src, a, np.array([[6.0]]))
    m.connect(src, b, np.array([[6.0]]))
    c = m.run(10)["counters"]
    assert c["packets"] == 2 and c["dropped"] == 2 and c["deliveries"] == 0
