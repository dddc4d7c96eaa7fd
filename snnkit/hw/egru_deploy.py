"""An EGRU language model on a SpiNNaker-like event-driven machine, in s16.15 fixed point.

The deployment of Khan Nazeer et al. (arXiv:2312.09084), kept small enough to read. The trained
:class:`~snnkit.sequence.egru.RecurrentLM` becomes integer tables (:func:`deploy`); then each
character is one time step (:func:`run_deployed`):

- the token is an input event: it adds one precomputed row ``W_ih E[token] + b_ih`` to the gate
  drives (the embedding folded into the input weights);
- every unit that fired at the previous step sends one packet carrying its value ``y_j``; each
  core that holds EGRU units or the readout receives a copy and adds ``y_j`` times the unit's
  synaptic row (``3H`` recurrent weights, ``V`` readout weights) into its accumulators. A silent
  unit sends nothing and its row is never read: those MACs are *skipped*;
- the cores update their units (gates, state, threshold, reset) and the readout core its logits.

Arithmetic is :mod:`snnkit.hw.spinnaker`'s s16.15 (``to_fix``, ``from_fix``, ``fix_mul``, each
product rounded); sigmoid and tanh are computed exactly and rounded to s16.15, as a fine lookup
table (or SpiNNaker 2's exp accelerator) would give them. Units are split over cores of
``neurons_per_core``; the readout has its own core. Counters use :meth:`Machine.energy`'s names
(``synaptic_events`` = MACs done, ``neuron_updates``, ``packets``, ``router_lookups``,
``deliveries``) plus ``macs_skipped`` and ``dense_macs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .spinnaker import ONE, fix_mul, from_fix, to_fix


@dataclass
class DeployedEGRU:
    """Integer (s16.15) tables of one EGRU language model and its placement.

    ``token_rows`` ``[V, 3H]``: the input drive per token; ``w_hh`` ``[H, 3H]`` and ``w_out``
    ``[H, V]``: one synaptic row per presynaptic unit; ``b_hh`` ``[3H]``, ``b_out`` ``[V]``,
    ``thr`` ``[H]``. Gates in the order z, r, g.
    """

    token_rows: np.ndarray
    w_hh: np.ndarray
    b_hh: np.ndarray
    thr: np.ndarray
    w_out: np.ndarray
    b_out: np.ndarray
    neurons_per_core: int = 64

    @property
    def hidden(self) -> int:
        return self.thr.shape[0]

    @property
    def cores(self) -> int:
        """EGRU cores plus one readout core."""
        return math.ceil(self.hidden / self.neurons_per_core) + 1


@torch.no_grad()
def deploy(model, neurons_per_core: int = 64) -> DeployedEGRU:
    """Quantise a trained EGRU :class:`~snnkit.sequence.egru.RecurrentLM` to s16.15 tables."""
    rnn = model.rnn
    rows = model.embed.weight.double() @ rnn.weight_ih.double().T + rnn.bias_ih.double()
    return DeployedEGRU(
        token_rows=to_fix(rows.numpy()), w_hh=to_fix(rnn.weight_hh.double().T.numpy()),
        b_hh=to_fix(rnn.bias_hh.double().numpy()), thr=to_fix(rnn.threshold().double().numpy()),
        w_out=to_fix(model.head.weight.double().T.numpy()),
        b_out=to_fix(model.head.bias.double().numpy()), neurons_per_core=neurons_per_core)


def _fix_fn(fn, x: np.ndarray) -> np.ndarray:
    """A nonlinearity on s16.15 values, rounded back to s16.15."""
    return to_fix(fn(from_fix(x)))


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))          # exact, no overflow


def _row_sum(y: np.ndarray, rows: np.ndarray, active: np.ndarray) -> np.ndarray:
    """``sum_j fix_mul(y_j, rows[j])`` over the active units only (each product rounded)."""
    if not active.any():
        return np.zeros(rows.shape[1], np.int64)
    return fix_mul(y[active, None], rows[active]).sum(0)


def run_deployed(dep: DeployedEGRU, ids, dense: bool = False):
    """Run the deployed model on the symbol ids ``ids`` (1-D), one step per symbol, from rest.

    ``dense=True`` makes every unit send every step (a conventional recurrent core; the
    outputs are bit-identical, silent units add exact zeros). Returns ``(logits, events,
    counters)``: float logits ``[N, V]`` (``from_fix``), the events ``[N, H]`` (bool) and the
    summed counters.
    """
    H, V = dep.hidden, dep.w_out.shape[1]
    y, c = np.zeros(H, np.int64), np.zeros(H, np.int64)
    fan_out = 3 * H + V                               # MACs one packet causes
    counters = dict(ticks=0, neuron_updates=0, packets=0, router_lookups=0, deliveries=0,
                    synaptic_events=0, macs_skipped=0, dense_macs=0, input_events=0)
    logits, events = [], []
    for token in np.asarray(ids).tolist():
        sending = np.ones(H, bool) if dense else y != 0
        drive = dep.token_rows[token]                                 # the token's event
        rec = dep.b_hh + _row_sum(y, dep.w_hh, sending)               # [3H]
        xz, xr, xg = np.split(drive, 3)
        hz, hr, hg = np.split(rec, 3)
        z = _fix_fn(_sigmoid, xz + hz)
        r = _fix_fn(_sigmoid, xr + hr)
        g = _fix_fn(np.tanh, xg + fix_mul(r, hg))
        s = fix_mul(z, c) + fix_mul(ONE - z, g)
        fire = s > dep.thr
        y = np.where(fire, s, 0)
        c = np.where(fire, s - dep.thr, s)
        sending_now = np.ones(H, bool) if dense else fire
        logits.append(dep.b_out + _row_sum(y, dep.w_out, sending_now))
        events.append(fire)
        n_rec, n_out = int(sending.sum()), int(sending_now.sum())
        counters["ticks"] += 1
        counters["input_events"] += 1
        counters["neuron_updates"] += H + V
        counters["packets"] += n_out
        counters["router_lookups"] += n_out
        counters["deliveries"] += n_out * dep.cores     # to every EGRU core and the readout
        counters["synaptic_events"] += n_rec * 3 * H + n_out * V + 3 * H   # + the token row
        counters["dense_macs"] += H * fan_out + 3 * H
    counters["macs_skipped"] = counters["dense_macs"] - counters["synaptic_events"]
    return from_fix(np.stack(logits)), np.stack(events), counters


@torch.no_grad()
def run_float(model, ids):
    """The float64 reference: ``model`` (a :class:`RecurrentLM` with an EGRU) run on ``ids``
    (1-D) from rest. Returns ``(logits [N, V], events [N, H])`` as NumPy arrays."""
    import copy

    ref = copy.deepcopy(model).double().eval()
    logits = ref(torch.as_tensor(ids)[None])[0]
    return logits.numpy(), ref.rnn.events[:, 0].numpy()
