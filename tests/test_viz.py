import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from snnkit.viz import explore, raster, trace  # noqa: E402


def test_explorer_redraws_when_a_slider_moves():
    def plot(gain=1.0):
        plt.figure()
        plt.plot(torch.arange(10) * gain)

    box = explore(plot, gain=(0.5, 3.0, 0.5, 1.0))
    sliders, image = box.children
    (slider,) = sliders.children
    before = bytes(image.value)
    assert before[:4] == b"\x89PNG"
    plt.close("all")
    slider.value = 3.0
    assert bytes(image.value) != before and not plt.get_fignums()


def test_raster_and_trace_draw():
    spikes = torch.zeros(20, 5)
    spikes[3, 1] = spikes[10, 4] = 1
    ax = raster(spikes)
    assert len(ax.collections[0].get_offsets()) == 2
    ax = trace(torch.linspace(0, 1.5, 20), spikes[:, 1], threshold=1.0)
    assert len(ax.lines) == 2
    plt.close("all")
