import numpy as np
import torch

from snnkit.hw.egru_deploy import deploy, run_deployed, run_float
from snnkit.hw.spinnaker import Machine
from snnkit.sequence.egru import RecurrentLM


def _model():
    torch.manual_seed(0)
    return RecurrentLM(13, emb=8, hidden=20, thr_init=0.3).eval()


def test_deployed_fixed_point_matches_float():
    lm = _model()
    ids = torch.randint(0, 13, (60,))
    ref_logits, ref_events = run_float(lm, ids)
    logits, events, _ = run_deployed(deploy(lm, neurons_per_core=8), ids)
    assert (events == ref_events).mean() > 0.99
    assert np.abs(logits - ref_logits).max() < 0.05


def test_event_driven_equals_dense_and_counts_skipped_macs():
    lm = _model()
    dep = deploy(lm, neurons_per_core=8)
    assert dep.cores == 3 + 1
    ids = torch.randint(0, 13, (40,))
    lo, ev, cnt = run_deployed(dep, ids)
    lo_d, ev_d, cnt_d = run_deployed(dep, ids, dense=True)
    assert np.array_equal(lo, lo_d) and np.array_equal(ev, ev_d)      # bit-identical
    H, V = 20, 13
    n = ev.sum(1)
    done = sum(int(n[t - 1]) * 3 * H if t else 0 for t in range(len(n))) \
        + int(n.sum()) * V + len(n) * 3 * H
    assert cnt["synaptic_events"] == done
    assert cnt["synaptic_events"] + cnt["macs_skipped"] == cnt["dense_macs"] \
        == cnt_d["synaptic_events"]
    assert cnt["packets"] == int(n.sum()) and cnt["deliveries"] == int(n.sum()) * dep.cores
    assert Machine.energy(cnt) < Machine.energy(cnt_d)
