import numpy as np
import pytest

from snnkit.models.ca3 import (
    CA3Memory,
    Op,
    ReferenceCAM,
    learn,
    recall_content,
    recall_cue,
)


@pytest.fixture(scope="module")
def stored():
    """A 5-cue x 10-bit memory holding cue 0 -> {0, 1, 2} and cue 1 -> {2, 3, 4, 5}."""
    mem = CA3Memory(5, 10)
    mem.run([learn(0, [0, 1, 2]), learn(1, [2, 3, 4, 5])], spacing=20)
    return mem, mem.weights


def test_recall_by_cue_and_by_content_answer_like_the_ideal_memory(stored):
    mem, w = stored
    ref = ReferenceCAM()
    ref.run([learn(0, [0, 1, 2]), learn(1, [2, 3, 4, 5])])
    for op in (recall_cue(0), recall_cue(1), recall_cue(3), recall_content([0]),
               recall_content([2]), recall_content([5, 9])):
        mem.weights = w
        assert mem.run([op]).answers[0] == ref(op), op


def test_latencies_are_the_documented_ones(stored):
    mem, w = stored
    mem.weights = w
    out = mem.recall_by_cue(0).spikes["output"]
    assert sorted({t for t, n in out if n < 5}) == [5.0]             # the cue at t0 + 5
    assert sorted({t for t, n in out if n >= 5}) == [6.0]            # its content at t0 + 6
    mem.weights = w
    out = mem.recall_by_content([3]).spikes["output"]
    assert {(t, n) for t, n in out} == {(5.0, 5 + 3), (6.0, 1)}      # echo, then the cue


def test_relearning_a_cue_forgets_its_old_content():
    mem = CA3Memory(5, 10)
    r = mem.run([learn(0, [0, 1, 2, 9]), recall_cue(0), learn(0, [2, 3, 8]), recall_cue(0)],
                spacing=10)
    assert r.answers[1] == ({0}, {0, 1, 2, 9})
    assert r.answers[3] == ({0}, {2, 3, 8})
    cue_to_cont, _ = mem.weights
    assert cue_to_cont[0, [0, 1, 9]].max() < 3.0                    # below one relay's worth
    assert cue_to_cont[0, [2, 3, 8]].min() == pytest.approx(6.0, abs=1e-4)


def test_fixed_and_float_backends_give_the_same_rasters_and_runs_repeat():
    ops = [learn(2, [1, 4]), learn(3, [4, 7]), recall_content([4]), recall_cue(2)]
    fixed, flt, again = (CA3Memory(5, 10).run(ops, be) for be in ("fixed", "float", "fixed"))
    assert fixed.spikes == flt.spikes
    assert fixed.spikes == again.spikes and fixed.counters == again.counters


def test_packets_follow_the_hand_count(stored):
    mem, w = stored
    mem.weights = w
    c = mem.recall_by_cue(1).counters                                  # content of 4 bits
    assert c["packets"] == 5 + 2 * 4 and c["dropped"] == 0
    mem.weights = w
    c = mem.recall_by_content([2, 9]).counters                         # 2 bits -> cues 0, 1
    assert c["packets"] == 5 * 2 + 1 + 2 * 2


def test_recall_by_content_links_the_fragment_to_the_cues_it_returns():
    """The plastic synapses never stop learning; the as-built reference models it."""
    ops = [learn(0, [0, 1]), learn(1, [5, 6]), recall_content([1, 6]), recall_content([1])]
    r = CA3Memory(5, 10).run(ops, spacing=20)
    assert r.answers[3][0] == {0, 1}                                  # bit 1 now recalls cue 1
    assert r.answers == ReferenceCAM(side_effects=True).run(ops)
    assert r.answers[3] != ReferenceCAM().run(ops)[3]


def test_schedules_and_bad_operations():
    mem = CA3Memory(3, 4)
    ops = [learn(0, [1]), recall_cue(0), recall_content([1])]
    assert mem.schedule(ops) == [0, 7, 13]
    assert mem.schedule(ops, spacing=10) == [0, 10, 20]
    times = mem.input_spikes(ops, [0, 7, 13])
    assert times[0] == [0.0, 1.0, 2.0, 7.0] and times[3 + 1] == [0.0, 1.0, 2.0, 13.0]
    with pytest.raises(ValueError, match="operation kind"):
        mem.schedule([Op("erase", 0)])


def test_fragment_of_an_orthogonal_pattern_recalls_its_cue_only():
    rng = np.random.default_rng(0)
    blocks = rng.permutation(16).reshape(4, 4)
    mem = CA3Memory(4, 16)
    mem.run([learn(c, b) for c, b in enumerate(blocks)], spacing=20)
    w = mem.weights
    for c, b in enumerate(blocks):
        mem.weights = w
        assert mem.recall_by_content(b[:2]).answers[0][0] == {c}
