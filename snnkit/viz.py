"""Plots and explorers: spike rasters, membrane traces, slider explorers."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import torch


def raster(spikes: torch.Tensor, ax=None, title: str | None = None, dt: float = 1.0):
    """Dot raster of ``spikes`` ``[T, N]`` (time steps x neurons); ``dt`` is the step length."""
    ax = ax or plt.subplots(figsize=(6, 2.5))[1]
    t, n = torch.nonzero(torch.as_tensor(spikes).detach().cpu(), as_tuple=True)
    ax.scatter(t.numpy() * dt, n.numpy(), s=4, c="k", marker="|")
    ax.set(xlabel="time step" if dt == 1.0 else "time", ylabel="neuron", title=title)
    ax.set_xlim(-0.5 * dt, spikes.shape[0] * dt)
    return ax


def trace(mem: torch.Tensor, spikes: torch.Tensor | None = None, threshold: float | None = None,
          ax=None, title: str | None = None, label: str = "membrane"):
    """Membrane trace ``[T]`` with the threshold line and spike times marked."""
    ax = ax or plt.subplots(figsize=(6, 2.5))[1]
    mem = torch.as_tensor(mem).detach().cpu()
    ax.plot(mem.numpy(), lw=1.2, label=label)
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", ls="--", lw=1, label="threshold")
    if spikes is not None:
        times = torch.nonzero(torch.as_tensor(spikes).detach().cpu()).flatten().numpy()
        ax.vlines(times, mem.min().item(), mem.max().item(), colors="k", alpha=0.25, lw=1)
    ax.set(xlabel="time step", ylabel="membrane", title=title)
    ax.legend(loc="upper right", fontsize=8)
    return ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def explore(plot, **sliders):
    """An explorer: ``plot(**values)`` draws one matplotlib figure (without ``plt.show()``);
    ``sliders`` map each argument to an ipywidgets slider (or a ``(min, max, step, default)``
    tuple for a float slider).

    Shows a static figure at the defaults first, so headless runs and the HTML book have it, then
    returns the live explorer for JupyterLab: the sliders and an image redrawn when one moves.
    (An image widget rather than ``ipywidgets.interact``: interact's Output widget can deadlock
    headless executors such as papermill and nbclient.)
    """
    import ipywidgets as widgets

    controls = {}
    for name, spec in sliders.items():
        if isinstance(spec, tuple):
            lo, hi, step, value = spec
            spec = widgets.FloatSlider(value=value, min=lo, max=hi, step=step,
                                       description=name, continuous_update=False)
        controls[name] = spec
    image = widgets.Image(format="png")

    def redraw(_change=None):
        plot(**{name: w.value for name, w in controls.items()})
        fig = plt.gcf()
        image.value = _png(fig)
        plt.close(fig)

    plot(**{name: w.value for name, w in controls.items()})
    image.value = _png(plt.gcf())
    plt.show()
    for w in controls.values():
        w.observe(redraw, names="value")
    return widgets.VBox([widgets.HBox(list(controls.values())), image])
