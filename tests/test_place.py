from dataclasses import replace

import numpy as np
import pytest

from snnkit.models.place import (
    Appearance,
    DCConfig,
    DiehlCook,
    ModularSNN,
    assign,
    ensemble,
    hyperactive,
    normalise,
    patch_normalise,
    place_scores,
    recall_at_n,
    route,
    run_presentation,
    traverse,
)

FAST = replace(DCConfig(), t_present=30, min_spikes=0)


def test_a_silent_input_leaves_everything_at_rest():
    W = np.full((2, 4, 3), 0.5, np.float32)
    theta = np.zeros((2, 3), np.float32)
    counts = run_presentation(W, theta, (np.zeros((2, 1, 4), bool) for _ in range(50)), FAST,
                              learn=True)
    assert counts.sum() == 0 and np.all(W == 0.5) and np.all(theta == 0)


def test_a_strong_input_fires_and_the_winner_inhibits_the_others():
    W = np.zeros((1, 1, 2), np.float32)
    W[0, 0] = [3.0, 1.5]                                    # neuron 0 reaches threshold first
    theta = np.zeros((1, 2), np.float32)
    counts = run_presentation(W, theta, (np.ones((1, 1, 1), bool) for _ in range(60)), FAST)
    assert counts[0, 0, 0] > 0 and counts[0, 0, 1] == 0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_presynaptic_spike_after_a_post_spike_moves_the_weight_by_the_sign(sign):
    c = replace(FAST, pre_sign=sign, nu_pre=0.1, nu_post=0.0)
    W = np.array([[[0.5], [1.0]]], np.float32)               # input 1 drives the neuron
    theta = np.zeros((1, 1), np.float32)
    steps = [np.array([[[False, t < 25]]]) for t in range(30)]  # the neuron fires; input 0 not
    steps.append(np.array([[[True, False]]]))                 # then input 0 spikes once
    counts = run_presentation(W, theta, iter(steps), c, learn=True)
    assert counts[0, 0, 0] > 0
    assert np.sign(W[0, 0, 0] - 0.5) == sign
    assert theta[0, 0] > 0                                    # the threshold adapted


def test_normalise_sets_every_neurons_input_sum():
    W = np.random.default_rng(0).random((3, 10, 4)).astype(np.float32)
    normalise(W, FAST)
    np.testing.assert_allclose(W.sum(1), FAST.w_sum * 10, rtol=1e-5)


def test_readout_functions():
    responses = np.array([[5, 0, 1], [0, 4, 0], [1, 0, 0]])  # 3 images x 3 neurons
    labels = np.array([0, 1, 2])
    a = assign(responses, labels)
    assert a.tolist() == [0, 1, 0]
    scores = place_scores(responses, a, 3)
    np.testing.assert_allclose(scores[0], [3.0, 0.0, 0.0])
    assert hyperactive(responses, 2).tolist() == [True, False, False]
    assert not hyperactive(responses, 0).any()
    assert recall_at_n(scores, np.array([0, 1, 2]), 1) == pytest.approx(2 / 3)
    tied = np.array([[1.0, 1.0], [0.0, 2.0]])
    assert recall_at_n(tied, np.array([0, 1]), 1) == 0.5       # a tie is not a hit at N = 1
    assert recall_at_n(tied, np.array([0, 1]), 2) == 1.0
    both = ensemble(np.stack([scores, 2 * scores]))
    np.testing.assert_allclose(both[0], [1.0, 0.0, 0.0])


def test_modules_learn_only_their_region_and_count_their_ops():
    rng = np.random.default_rng(0)
    images = rng.random((8, 16)).astype(np.float32)
    strong = replace(FAST, w_sum=1.0, max_rate=200.0)         # 16 inputs must make it fire
    snn = ModularSNN(16, 8, regions=4, n_e=3, members=2, config=strong, seed=0)
    W0 = snn.net.W.copy()
    snn.fit(images, epochs=1)
    assert not np.allclose(W0, snn.net.W)
    ops = snn.net.ops["neuron_updates"]
    assert np.all(ops == 2 * 30 * 3)                          # 2 images x 30 steps x 3 neurons
    ref = snn.responses(images)
    assert ref.shape == (2, 8, 12)
    assignments = snn.calibrate(ref)
    for r in range(4):                                        # a module's neurons: its places
        assert set(assignments[:, 3 * r:3 * r + 3].ravel()) <= {2 * r, 2 * r + 1}
    assert snn.scores(ref, assignments, ref).shape == (2, 8, 8)
    with pytest.raises(ValueError, match="equal regions"):
        ModularSNN(16, 9, regions=4, n_e=3)
    with pytest.raises(ValueError, match="sequential"):
        DiehlCook(16, 3).present(images[None], learn=True)


def test_route_traverses_and_patch_normalisation():
    places = route(12)
    ref, again = traverse(places), traverse(places)
    assert ref.shape == (12, 16, 16) and np.array_equal(ref, again)
    query = traverse(places, change=Appearance(), seed=1)
    assert not np.allclose(ref, query) and 0 <= query.min() and query.max() <= 1
    x = patch_normalise(ref)
    assert x.shape == (12, 256) and np.allclose(x.min(1), 0) and np.allclose(x.max(1), 1)
    with pytest.raises(ValueError, match="the route has"):
        route(10_000)
