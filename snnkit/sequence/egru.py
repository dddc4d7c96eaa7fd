"""The event-based GRU (EGRU; Subramoney, Khan Nazeer, Schöne, Mayr & Kappel, ICLR 2023), and
character language models built on it and on an LSTM of the same width.

An EGRU unit keeps a GRU's internal state ``c`` but only *tells* the other units about it when
``c`` crosses a threshold ``thr``; then it sends the value ``c`` (a graded event) and subtracts
``thr``. Between events it is silent, and a silent unit costs its targets nothing. With ``y`` the
event output and gates in the order update ``z``, reset ``r``, candidate ``g``::

    z = sigmoid(W_z x + b_iz + U_z y_prev + b_hz)
    r = sigmoid(W_r x + b_ir + U_r y_prev + b_hr)
    g = tanh(W_g x + b_ig + r * (U_g y_prev + b_hg))        # r inside, as torch.nn.GRU
    c = z * c_prev + (1 - z) * g
    e = H(c - thr);   y = e * c;   c <- c - e * thr          # event, output, reset by subtraction

The recurrence reads ``y_prev`` (events), not ``c_prev``: that is what makes silent units free.
``H`` has the pseudo-derivative ``dampening * max(0, 1 - |c - thr| / width)`` in the backward pass
(:class:`EventFn`). Shapes are time-first: sequences ``[T, B, features]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class EventFn(torch.autograd.Function):
    """Heaviside ``v > 0`` forward; ``dampening * max(0, 1 - |v| / width)`` backward."""

    @staticmethod
    def forward(ctx, v, dampening, width):
        ctx.save_for_backward(v)
        ctx.dampening, ctx.width = dampening, width
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * pseudo_derivative(v, ctx.dampening, ctx.width), None, None


def pseudo_derivative(v: torch.Tensor, dampening: float = 0.7, width: float = 1.0):
    """The triangle ``dampening * max(0, 1 - |v| / width)`` used for ``dH/dv``."""
    return dampening * (1 - v.abs() / width).clamp(min=0)


def egru_step(xp: torch.Tensor, y: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor,
              b_hh: torch.Tensor, thr: torch.Tensor, dampening: float = 0.7,
              width: float = 1.0):
    """One EGRU step. ``xp``: the input's projection ``W_ih x + b_ih`` ``[B, 3H]``; ``y``, ``c``:
    previous events and state ``[B, H]``; ``w_hh`` ``[3H, H]``, ``b_hh`` ``[3H]``, ``thr``
    ``[H]``. Returns ``(y, c, e)``: events (values), state after reset, and the 0/1 events."""
    hz, hr, hg = F.linear(y, w_hh, b_hh).chunk(3, -1)
    xz, xr, xg = xp.chunk(3, -1)
    z = torch.sigmoid(xz + hz)
    r = torch.sigmoid(xr + hr)
    g = torch.tanh(xg + r * hg)
    c = z * c + (1 - z) * g
    e = EventFn.apply(c - thr, dampening, width)
    return e * c, c - e * thr, e


def egru_sequence_reference(xp, y0, c0, w_hh, b_hh, thr, dampening=0.7, width=1.0):
    """The EGRU over a sequence as a plain loop of :func:`egru_step` (autograd records every
    op). ``xp``: ``[T, B, 3H]`` input projections. Returns ``(y [T, B, H], c_T [B, H])``."""
    y, c, ys = y0, c0, []
    for xp_t in xp:
        y, c, _ = egru_step(xp_t, y, c, w_hh, b_hh, thr, dampening, width)
        ys.append(y)
    return torch.stack(ys), c


class _EGRUSequence(torch.autograd.Function):
    """:func:`egru_sequence_reference` as one Function: the forward loop stores the gates, the
    backward loop runs back through time by hand (same gradients, far fewer autograd nodes;
    everything that does not depend on the carried gradients is computed for all steps at
    once)."""

    @staticmethod
    def forward(ctx, xp, y0, c0, w_hh, b_hh, thr, dampening, width):
        H = y0.shape[-1]
        y, c = y0, c0
        keep = {k: [] for k in ("y_prev", "c_prev", "zr", "g", "hg", "s")}
        for xp_t in xp:
            hp = torch.addmm(b_hh, y, w_hh.t())
            zr = torch.sigmoid(xp_t[:, :2 * H] + hp[:, :2 * H])
            hg = hp[:, 2 * H:]
            g = torch.tanh(torch.addcmul(xp_t[:, 2 * H:], zr[:, H:], hg))
            z = zr[:, :H]
            s = g + z * (c - g)                                  # z c + (1 - z) g
            for k, v in (("y_prev", y), ("c_prev", c), ("zr", zr), ("g", g), ("hg", hg),
                         ("s", s)):
                keep[k].append(v)
            e = s > thr
            y, c = s * e, torch.where(e, s - thr, s)
        ys = torch.stack(keep["y_prev"][1:] + [y])
        ctx.save_for_backward(w_hh, thr, *(torch.stack(v) for v in keep.values()))
        ctx.dampening, ctx.width = dampening, width
        return ys, c

    @staticmethod
    def backward(ctx, d_ys, d_cT):
        w_hh, thr, y_prev, c_prev, zr, g, hg, s = ctx.saved_tensors
        T, H = len(s), s.shape[-1]
        z, r = zr[..., :H], zr[..., H:]
        e = (s > thr).to(s.dtype)
        pd = pseudo_derivative(s - thr, ctx.dampening, ctx.width)
        dz_ds = (c_prev - g) * z * (1 - z)
        dg_ds = (1 - z) * (1 - g ** 2)
        dr_dg = hg * r * (1 - r)
        d_ys = torch.zeros_like(s) if d_ys is None else d_ys
        dy = torch.zeros_like(s[0])
        dc = torch.zeros_like(s[0]) if d_cT is None else d_cT
        dy_all, dc_all = torch.empty_like(s), torch.empty_like(s)   # grads of y_t and c_t
        for t in range(T - 1, -1, -1):
            dy = dy + d_ys[t]
            dy_all[t], dc_all[t] = dy, dc
            ds = dy * e[t] + dc + (dy * s[t] - dc * thr) * pd[t]    # y = e s,  c = s - e thr
            dg = ds * dg_ds[t]
            dc = ds * z[t]
            dy = torch.cat([ds * dz_ds[t], dg * dr_dg[t], dg * r[t]], -1) @ w_hh
        de = (dy_all * s - dc_all * thr) * pd
        ds = dy_all * e + dc_all + de
        dg = ds * dg_ds
        dxp = torch.cat([ds * dz_ds, dg * dr_dg, dg], -1)
        dhp = torch.cat([dxp[..., :2 * H], dg * r], -1)
        d_thr = -(dc_all * e + de).sum((0, 1))
        d_w = dhp.flatten(0, 1).t() @ y_prev.flatten(0, 1)
        return dxp, dy, dc, d_w, dhp.sum((0, 1)), d_thr, None, None


def egru_sequence(xp, y0, c0, w_hh, b_hh, thr, dampening=0.7, width=1.0):
    """Fused :func:`egru_sequence_reference`: the same numbers and gradients."""
    return _EGRUSequence.apply(xp, y0, c0, w_hh, b_hh, thr, dampening, width)


class EGRU(nn.Module):
    """One EGRU layer of ``hidden_size`` units (weights laid out as ``torch.nn.GRU``'s, gates
    z, r, g; note ``nn.GRU`` orders them r, z, n, see :meth:`load_gru`).

    ``thr_init``: initial threshold of every unit (learnable, clamped at >= 0 when used);
    ``dampening``, ``width``: the pseudo-derivative; ``fused``: run :func:`egru_sequence` (one
    autograd node) rather than the reference loop (same numbers). ``forward(x, state=None)``:
    ``x`` ``[T, B, input_size]`` -> ``(y [T, B, H], (y_T, c_T))``; after each call ``events``
    holds the events ``[T, B, H]`` as booleans (an event's value ``c > thr >= 0`` is never 0)
    and ``activity`` the mean ``|y|`` (in the graph: an activity regulariser).
    """

    def __init__(self, input_size: int, hidden_size: int, thr_init: float = 0.3,
                 dampening: float = 0.7, width: float = 1.0, fused: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.dampening, self.width, self.fused = dampening, width, fused
        k = 1 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size).uniform_(-k, k))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-k, k))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-k, k))
        self.thr = nn.Parameter(torch.full((hidden_size,), float(thr_init)))
        self.events, self.activity = torch.zeros(0), torch.zeros(())

    def __getstate__(self):
        state = dict(self.__dict__)
        state["activity"] = state["activity"].detach()  # copies and pickles carry no graph
        return state

    def threshold(self) -> torch.Tensor:
        return self.thr.clamp(min=0)

    def forward(self, x: torch.Tensor, state=None):
        T, B = x.shape[:2]
        if state is None:
            zero = x.new_zeros(B, self.hidden_size)
            state = (zero, zero)
        xp = F.linear(x, self.weight_ih, self.bias_ih)          # all inputs at once
        run = egru_sequence if self.fused else egru_sequence_reference
        ys, c = run(xp, *state, self.weight_hh, self.bias_hh, self.threshold(), self.dampening,
                    self.width)
        self.events = (ys != 0).detach()
        self.activity = ys.abs().mean()
        return ys, (ys[-1], c)

    @torch.no_grad()
    def load_gru(self, gru: nn.GRU) -> EGRU:
        """Copy a one-layer ``torch.nn.GRU``'s weights (gate order r, z, n -> z, r, g)."""
        H = self.hidden_size
        perm = torch.cat([torch.arange(H, 2 * H), torch.arange(H), torch.arange(2 * H, 3 * H)])
        for mine, theirs in (("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0"),
                             ("bias_ih", "bias_ih_l0"), ("bias_hh", "bias_hh_l0")):
            getattr(self, mine).copy_(getattr(gru, theirs)[perm])
        return self

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, dampening={self.dampening}, "
                f"width={self.width}")


def activity_sparsity(events: torch.Tensor) -> float:
    """Fraction of (unit, step) pairs without an event."""
    return 1.0 - float(events.float().mean())


class RecurrentLM(nn.Module):
    """A character language model: embedding -> recurrent layer -> linear readout.

    ``cell``: ``"egru"`` or ``"lstm"`` (``torch.nn.LSTM``, the baseline of the same width).
    ``forward(ids)``: ``[B, N]`` -> logits ``[B, N, vocab]`` (position t predicts t + 1), the
    interface of :func:`snnkit.metrics.bits_per_char`. ``egru_kwargs`` go to :class:`EGRU`.
    """

    def __init__(self, vocab: int, emb: int = 32, hidden: int = 128, cell: str = "egru",
                 **egru_kwargs):
        super().__init__()
        if cell not in ("egru", "lstm"):
            raise ValueError(f"cell must be 'egru' or 'lstm', got {cell!r}")
        self.cell = cell
        self.embed = nn.Embedding(vocab, emb)
        self.rnn = EGRU(emb, hidden, **egru_kwargs) if cell == "egru" else nn.LSTM(emb, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor, state=None, return_state: bool = False):
        y, state = self.rnn(self.embed(ids.T), state)
        logits = self.head(y).transpose(0, 1)
        return (logits, state) if return_state else logits

    @property
    def events(self) -> torch.Tensor:
        """The EGRU's 0/1 events of the last call, ``[N, B, H]`` (EGRU models only)."""
        return self.rnn.events
