import pytest
import torch

from snnkit import encoding


def test_rate_is_bernoulli_with_clamped_probability():
    x = torch.tensor([0.0, 0.25, 1.0, 2.0])
    spikes = encoding.rate(x, 20_000, generator=torch.Generator().manual_seed(0))
    assert spikes.shape == (20_000, 4)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(spikes.mean(0), torch.tensor([0.0, 0.25, 1.0, 1.0]), atol=0.01,
                               rtol=0)


def test_latency_one_spike_brighter_first():
    x = torch.tensor([1.0, 0.5, 0.0, 0.005])
    spikes = encoding.latency(x, 11)
    assert spikes.sum(0).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert spikes[:, 0].argmax() == 0 and spikes[:, 1].argmax() == 5


def test_direct_repeats():
    x = torch.rand(2, 3)
    out = encoding.direct(x, 4)
    assert out.shape == (4, 2, 3) and all(torch.equal(o, x) for o in out)


def test_delta_events_by_hand():
    frames = torch.tensor([[0.0], [0.05], [0.3], [0.3], [0.0]])
    ev = encoding.delta(frames, threshold=0.1)
    assert ev.shape == (5, 2, 1)
    assert ev[:, 0, 0].tolist() == [0, 0, 1, 1, 0]   # ON: 0.3 passes, ref 0.1, then 0.2
    assert ev[:, 1, 0].tolist() == [0, 0, 0, 0, 1]   # OFF when it drops back


def test_events_to_frames_hand_count():
    events = torch.tensor([[0, 0, 1, 0], [1, 2, 0, 50], [1, 2, 0, 60], [3, 1, 1, 99]])
    frames = encoding.events_to_frames(events, 2, (4, 3), duration=100)
    assert frames.shape == (2, 2, 3, 4)
    assert frames.sum() == 4
    # ON (polarity 1) goes to channel 0, OFF to channel 1, as delta() emits them
    assert frames[0, 0, 0, 0] == 1 and frames[1, 1, 2, 1] == 2 and frames[1, 0, 1, 3] == 1


def test_saccades_move_the_image_and_return():
    image = torch.zeros(4, 4)
    image[1, 2] = 1.0
    video = encoding.saccades(image, steps=4, path=((0, 0), (2, 0), (0, 0)), pad=2)
    assert video.shape == (8, 8, 8)
    assert video[0, 3, 4] == 1.0                       # no shift: the pixel at pad + (1, 2)
    assert video[4, 3, 6] == pytest.approx(1.0)        # two pixels right at the leg's end
    assert video[2, 3, 5] == pytest.approx(1.0)        # one pixel right half-way
    assert torch.allclose(video.sum((1, 2)), torch.ones(8))   # nothing lost off the canvas
