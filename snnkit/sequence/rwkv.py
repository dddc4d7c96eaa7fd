"""RWKV (Peng et al., 2023) and SpikeGPT (Zhu, Zhao, Li & Eshraghian, 2023): a language model
whose token mixing is a linear recurrence, and its spiking form.

Token shift mixes each token with the previous one, ``x~ = mu * x_t + (1 - mu) * x_{t-1}``
(one ``mu`` per channel and per use). The time mix (RWKV's attention) then computes, per channel,
with a decay ``w = -exp(time_decay) < 0`` and a bonus ``u = time_first`` for the current token::

    wkv_t = (sum_{i<t} e^{(t-1-i) w + k_i} v_i + e^{u + k_t} v_t)
            / (sum_{i<t} e^{(t-1-i) w + k_i}     + e^{u + k_t})

a causal softmax over the logits ``L[t, i] = (t-1-i) w + k_i`` (``L[t, t] = u + k_t``) applied to
the values. Four functions compute it and give the same numbers:

- :func:`wkv_parallel`: that masked softmax for all ``t`` at once, O(T^2 C) (the reference);
- :func:`wkv_recurrent`: token by token, carrying the numerator ``p``, the denominator ``q`` and
  their common exponent ``o`` (the numerically stable scan of RWKV-v4), O(C) per token: the
  streaming form, whose state does not grow with the context;
- :func:`wkv_chunked`: the softmax inside chunks plus the carried state between them (training
  on a GPU);
- :func:`wkv_fused`: the scan with a hand-written backward pass (training on a CPU).

    time mix:     o_t = W_o (sigmoid(r_t) * wkv_t)
    channel mix:  o_t = sigmoid(W_r x~_r) * W_v relu(W_k x~_k)^2
    block:        x <- x + N(TimeMix(LN1 x));   x <- x + N(ChannelMix(LN2 x))

RWKV has ``N = identity``. SpikeGPT puts a LIF neuron ``N`` on both branches, spikingjelly's
``MultiStepLIFNode(tau=2, v_threshold=1, v_reset=0)`` run along the token axis, so everything
added to the residual stream is a binary spike; its embedding is binarised too (Heaviside
forward, arctan surrogate backward), and the first block's extra layer norm ``LN0`` normalises
that binary code, as in the released model (``src/model.py``). The neuron is snnkit's
:class:`~snnkit.neurons.LIF` with ``beta = 1 - 1/tau``, zero reset and input ``x / tau``, which is
spikingjelly's ``H_t = V_{t-1} + (X_t - V_{t-1}) / tau``, ``S_t = (H_t > V_th)``,
``V_t = H_t (1 - S_t)`` (the reset is detached from the graph, as in snnTorch).

Shapes are batch-first, ``[B, T, C]`` (T is both the token and the SNN time axis); one token is
``[B, C]``. Every module has ``forward`` (a whole sequence) and ``step(x_t, state) ->
(y_t, state)`` (``state=None`` at the start), and the two agree. Omitted from the released
training code: dropout (0.03) and the ``L2Wrap`` auxiliary gradient that nudges the largest
logit towards 0.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..functional import ATan
from ..neurons import LIF

WKV = ("fused", "chunked", "parallel", "recurrent")


# ---------------------------------------------------------------- pure functions

def token_shift(x: torch.Tensor, last: torch.Tensor | None = None) -> torch.Tensor:
    """The previous token of every position: ``x`` ``[B, T, C]`` -> ``[B, T, C]``, position 0
    getting ``last`` ``[B, C]`` (the token before this chunk; zeros by default)."""
    first = torch.zeros_like(x[:, :1]) if last is None else last[:, None]
    return torch.cat([first, x[:, :-1]], dim=1)


def wkv_logits(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The WKV logits ``L[t, i]`` ``[B, T, T, C]`` (query token t, past token i): ``(t-1-i) w +
    k_i`` for ``i < t``, ``u + k_t`` on the diagonal, ``-inf`` for future tokens.
    ``w``, ``u``: ``[C]``; ``k``: ``[B, T, C]``."""
    T = k.shape[1]
    pos = torch.arange(T, device=k.device)
    dist = (pos[:, None] - 1 - pos[None, :]).to(k.dtype)                    # [t, i]
    logits = dist[:, :, None] * w + k[:, None]                              # [B, t, i, C]
    eye = torch.eye(T, dtype=torch.bool, device=k.device)[:, :, None]
    logits = torch.where(eye, (u + k)[:, :, None], logits)
    future = (pos[None, :] > pos[:, None])[:, :, None]
    return logits.masked_fill(future, float("-inf"))


def wkv_parallel(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """WKV for a whole sequence as a masked softmax over past tokens.

    Args:
        w: decay per step ``[C]`` (negative); u: bonus of the current token ``[C]``;
        k, v: keys and values ``[B, T, C]``.

    Returns ``[B, T, C]``. Memory and time O(B T^2 C).
    """
    weights = wkv_logits(w, u, k).softmax(dim=2)
    return torch.einsum("btic,bic->btc", weights, v)


def wkv_init_state(batch: int, channels: int, device=None, dtype=torch.float32):
    """The empty WKV state ``(p, q, o)``, each ``[B, C]``: nothing seen yet."""
    zeros = torch.zeros(batch, channels, device=device, dtype=dtype)
    return zeros, zeros.clone(), torch.full_like(zeros, -1e38)


def wkv_step(w, u, k_t, v_t, state):
    """One token of the WKV scan. ``k_t``, ``v_t``: ``[B, C]``; ``state = (p, q, o)`` holds
    ``sum_{i<t} e^{(t-1-i) w + k_i} v_i = p e^o`` and the same sum without ``v_i``, ``q e^o``.
    Returns ``(wkv_t, new state)``; every exponent is shifted by a running maximum, so nothing
    overflows."""
    p, q, o = state
    bonus = u + k_t
    m = torch.maximum(o, bonus)
    a, b = torch.exp(o - m), torch.exp(bonus - m)
    y = (a * p + b * v_t) / (a * q + b)
    decayed = o + w                                  # the old terms age by one step
    m = torch.maximum(decayed, k_t)
    a, b = torch.exp(decayed - m), torch.exp(k_t - m)
    return y, (a * p + b * v_t, a * q + b, m)


def wkv_recurrent(w, u, k, v, state=None):
    """WKV token by token: ``k``, ``v`` ``[B, T, C]``, ``state`` from a previous chunk or
    ``None``. Returns ``(y [B, T, C], state)``. O(C) work and memory per token."""
    B, T, C = k.shape
    state = wkv_init_state(B, C, k.device, k.dtype) if state is None else state
    ys = []
    for t in range(T):
        y, state = wkv_step(w, u, k[:, t], v[:, t], state)
        ys.append(y)
    return torch.stack(ys, dim=1), state


def wkv_chunked(w, u, k, v, state=None, chunk: int = 16):
    """WKV a chunk of ``chunk`` tokens at a time: the masked softmax inside each chunk, plus the
    carried state ``(p, q, o)`` of all earlier chunks as one extra, decaying term. ``chunk=1``
    is the scan, ``chunk >= T`` the parallel form; in between it needs T/chunk sequential steps
    of O(B chunk^2 C) work (the fast training form on a CPU). ``k``, ``v``: ``[B, T, C]``.
    Returns ``(y [B, T, C], state)``."""
    B, T, C = k.shape
    p, q, o = wkv_init_state(B, C, k.device, k.dtype) if state is None else state
    ys = []
    for start in range(0, T, chunk):
        kc, vc = k[:, start:start + chunk], v[:, start:start + chunk]
        L = kc.shape[1]
        j = torch.arange(L, device=k.device, dtype=k.dtype)[None, :, None]   # [1, L, 1]
        logits = wkv_logits(w, u, kc)                                         # [B, L, L, C]
        past = o[:, None] + j * w                                             # [B, L, C]
        m = torch.maximum(past, logits.amax(dim=2))
        a = torch.exp(past - m)
        e = torch.exp(logits - m[:, :, None])
        ys.append((a * p[:, None] + torch.einsum("btic,bic->btc", e, vc))
                  / (a * q[:, None] + e.sum(dim=2)))
        age = (L - 1 - j) * w + kc                      # each token's logit at the chunk's end
        o_new = torch.maximum(o + L * w, age.amax(dim=1))
        a, e = torch.exp(o + L * w - o_new), torch.exp(age - o_new[:, None])
        p, q, o = a * p + (e * vc).sum(dim=1), a * q + e.sum(dim=1), o_new
    return torch.cat(ys, dim=1), (p, q, o)


def _decayed_sums(a: torch.Tensor, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """``S_t = sum_{i<t} a^{t-1-i} x_i`` (or, ``reverse``, ``sum_{s>t} a^{s-1-t} x_s``) for
    ``x`` ``[B, T, C]`` and a decay ``a`` ``[C]``: one multiply-add per token."""
    out = torch.zeros_like(x)
    acc = torch.zeros_like(x[:, 0])
    order = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in order:
        out[:, t] = acc
        acc = torch.addcmul(x[:, t], a, acc)
    return out


class _FusedWKV(torch.autograd.Function):
    """WKV with a hand-written backward pass (the role of RWKV's CUDA kernel), on a CPU.

    It works with the unshifted sums ``A_t = sum_{i<t} a^{t-1-i} e^{k_i} v_i`` and ``B_t`` (the
    same without ``v_i``), ``a = e^w``, in float64, where no realistic key overflows; then
    ``wkv_t = (A_t + e^{u+k_t} v_t) / (B_t + e^{u+k_t})``. Each sum is one multiply-add per token,
    and the gradients need four more such sums. Keys beyond +-600 fall back to the shifted scan.
    """

    @staticmethod
    def forward(ctx, w, u, k, v):
        w64, u64, k64, v64 = (t.double() for t in (w, u, k, v))
        a, ek, eu = torch.exp(w64), torch.exp(k64), torch.exp(u64)
        A, B = _decayed_sums(a, ek * v64), _decayed_sums(a, ek)
        now = eu * ek
        y = (A + now * v64) / (B + now)
        ctx.save_for_backward(a, eu, ek, v64, y, A, B)
        return y.to(k.dtype)

    @staticmethod
    def backward(ctx, gy):
        a, eu, ek, v, y, A, B = ctx.saved_tensors
        now = eu * ek
        g = gy.double() / (B + now)                     # dL/dnumerator at each token
        # d wkv_t / dw: the age-weighted sums C_t = sum_{i<t} (t-1-i) a^{t-1-i} e^{k_i} v_i, D_t
        C, D = _decayed_sums(a, a * A), _decayed_sums(a, a * B)
        gw = (g * (C - y * D)).sum(dim=(0, 1))
        # the future tokens s > t that saw token t: R1_t = sum_s a^{s-1-t} g_s, R2_t with g_s y_s
        R1, R2 = _decayed_sums(a, g, reverse=True), _decayed_sums(a, g * y, reverse=True)
        gv = now * g + ek * R1
        gk = now * g * (v - y) + ek * (v * R1 - R2)
        gu = (now * g * (v - y)).sum(dim=(0, 1))
        dtype = gy.dtype
        return gw.to(dtype), gu.to(dtype), gk.to(dtype), gv.to(dtype)


def wkv_fused(w, u, k, v) -> torch.Tensor:
    """:func:`wkv_recurrent` from an empty state with a hand-written backward pass: the same
    numbers (to float32 rounding), several times faster to train on a CPU.
    ``k``, ``v``: ``[B, T, C]`` -> ``[B, T, C]``."""
    if k.detach().abs().max() > 600:
        return wkv_recurrent(w, u, k, v)[0]
    return _FusedWKV.apply(w, u, k, v)


# ---------------------------------------------------------------- modules

def _ratios(layer_id: int, n_layer: int) -> tuple[float, float]:
    """RWKV-v4's depth ratios for its initialisation: 0 -> 1 and 1 -> almost 0."""
    return layer_id / max(n_layer - 1, 1), 1.0 - layer_id / n_layer


def _channel_ramp(dim: int) -> torch.Tensor:
    return torch.arange(dim, dtype=torch.float32) / dim


class TimeMix(nn.Module):
    """RWKV time mixing (its attention): token shift, ``k, v, r`` projections, WKV, gate, output.

    Initialised as RWKV-v4: decays spread from slow to fast across channels (``time_decay[c] =
    -5 + 8 (c / (C-1))^(0.7 + 1.3 depth)``), bonus ``log 0.3`` with a zigzag, and token-shift
    mixes that lean on the current token in early channels. ``wkv`` picks the sequence form
    used by ``forward``: ``"parallel"`` (masked softmax) or ``"recurrent"`` (the scan).
    """

    def __init__(self, dim: int, layer_id: int = 0, n_layer: int = 1, wkv: str = "fused"):
        super().__init__()
        if wkv not in WKV:
            raise ValueError(f"wkv must be one of {WKV}, got {wkv!r}")
        self.wkv = wkv
        r01, r10 = _ratios(layer_id, n_layer)
        c = torch.arange(dim, dtype=torch.float32)
        self.time_decay = nn.Parameter(-5 + 8 * (c / max(dim - 1, 1)) ** (0.7 + 1.3 * r01))
        zigzag = 0.5 * (((c + 1) % 3) - 1)
        self.time_first = nn.Parameter(math.log(0.3) + zigzag)
        ramp = _channel_ramp(dim)
        self.mix_k = nn.Parameter(ramp ** r10)
        self.mix_v = nn.Parameter(ramp ** r10 + 0.3 * r01)
        self.mix_r = nn.Parameter(ramp ** (0.5 * r10))
        self.key, self.value, self.receptance, self.output = (
            nn.Linear(dim, dim, bias=False) for _ in range(4))

    @property
    def w(self) -> torch.Tensor:
        """The decay per step, ``-exp(time_decay)`` ``[C]`` (negative)."""
        return -torch.exp(self.time_decay)

    def project(self, x, xx):
        """Keys, values and receptances ``[..., C]`` of tokens ``x`` whose previous tokens are
        ``xx`` (token shift, then the three projections)."""
        k = self.key(x * self.mix_k + xx * (1 - self.mix_k))
        v = self.value(x * self.mix_v + xx * (1 - self.mix_v))
        r = self.receptance(x * self.mix_r + xx * (1 - self.mix_r))
        return k, v, r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, T, C]`` -> ``[B, T, C]``."""
        k, v, r = self.project(x, token_shift(x))
        if self.wkv == "parallel":
            y = wkv_parallel(self.w, self.time_first, k, v)
        elif self.wkv == "fused":
            y = wkv_fused(self.w, self.time_first, k, v)
        elif self.wkv == "chunked":
            y = wkv_chunked(self.w, self.time_first, k, v)[0]
        else:
            y = wkv_recurrent(self.w, self.time_first, k, v)[0]
        return self.output(torch.sigmoid(r) * y)

    def step(self, x: torch.Tensor, state=None):
        """One token ``x`` ``[B, C]``; ``state = (previous token, (p, q, o))``."""
        last, wkv = state if state is not None else (torch.zeros_like(x), None)
        wkv = wkv_init_state(*x.shape, x.device, x.dtype) if wkv is None else wkv
        k, v, r = self.project(x, last)
        y, wkv = wkv_step(self.w, self.time_first, k, v, wkv)
        return self.output(torch.sigmoid(r) * y), (x, wkv)


class ChannelMix(nn.Module):
    """RWKV channel mixing (its MLP): token shift, squared-ReLU hidden layer of ``ffn_mult * C``
    units, gated by ``sigmoid(receptance)``."""

    def __init__(self, dim: int, layer_id: int = 0, n_layer: int = 1, ffn_mult: int = 4):
        super().__init__()
        _, r10 = _ratios(layer_id, n_layer)
        ramp = _channel_ramp(dim)
        self.mix_k = nn.Parameter(ramp ** r10)
        self.mix_r = nn.Parameter(ramp ** r10)
        self.key = nn.Linear(dim, ffn_mult * dim, bias=False)
        self.value = nn.Linear(ffn_mult * dim, dim, bias=False)
        self.receptance = nn.Linear(dim, dim, bias=False)

    def _mix(self, x, xx):
        k = torch.relu(self.key(x * self.mix_k + xx * (1 - self.mix_k))).square()
        r = self.receptance(x * self.mix_r + xx * (1 - self.mix_r))
        return torch.sigmoid(r) * self.value(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, T, C]`` -> ``[B, T, C]``."""
        return self._mix(x, token_shift(x))

    def step(self, x: torch.Tensor, state=None):
        """One token ``x`` ``[B, C]``; ``state`` is the previous token."""
        return self._mix(x, torch.zeros_like(x) if state is None else state), x


class SpikeLIF(nn.Module):
    """spikingjelly's multi-step LIF (``tau``, ``v_th``, hard reset to 0, ``decay_input``) along
    the token axis, with the arctan surrogate (``alpha``). ``forward(x)``: ``[B, T, C]`` ->
    binary spikes ``[B, T, C]``; ``step(x, h)``: ``[B, C]`` -> ``(spikes, membrane)``."""

    def __init__(self, tau: float = 2.0, v_th: float = 1.0, alpha: float = 2.0):
        super().__init__()
        if tau <= 1:
            raise ValueError(f"tau must be > 1 (beta = 1 - 1/tau in (0, 1)), got {tau}")
        self.tau = float(tau)
        self.lif = LIF(beta=1 - 1 / self.tau, threshold=v_th, reset="zero",
                       surrogate=ATan(alpha))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(x.transpose(0, 1) / self.tau)[0].transpose(0, 1)

    def step(self, x: torch.Tensor, h: torch.Tensor | None = None):
        return self.lif.step(x / self.tau, h)


class Block(nn.Module):
    """One RWKV block, or (``spiking=True``) one SpikeGPT block with a :class:`SpikeLIF` on each
    branch. The first block (``layer_id == 0``) also normalises its input (``LN0``)."""

    def __init__(self, dim: int, layer_id: int, n_layer: int, spiking: bool = False,
                 ffn_mult: int = 4, tau: float = 2.0, v_th: float = 1.0, wkv: str = "fused"):
        super().__init__()
        self.ln0 = nn.LayerNorm(dim) if layer_id == 0 else None
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.att = TimeMix(dim, layer_id, n_layer, wkv)
        self.ffn = ChannelMix(dim, layer_id, n_layer, ffn_mult)
        self.lif1 = SpikeLIF(tau, v_th) if spiking else None
        self.lif2 = SpikeLIF(tau, v_th) if spiking else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, T, C]`` -> ``[B, T, C]``."""
        if self.ln0 is not None:
            x = self.ln0(x)
        a = self.att(self.ln1(x))
        x = x + (a if self.lif1 is None else self.lif1(a))
        f = self.ffn(self.ln2(x))
        return x + (f if self.lif2 is None else self.lif2(f))

    def step(self, x: torch.Tensor, state: dict | None = None):
        """One token ``x`` ``[B, C]``; ``state``: dict of the branches' and neurons' states."""
        state = state or {}
        new = {}
        if self.ln0 is not None:
            x = self.ln0(x)
        a, new["att"] = self.att.step(self.ln1(x), state.get("att"))
        if self.lif1 is not None:
            a, new["lif1"] = self.lif1.step(a, state.get("lif1"))
        x = x + a
        f, new["ffn"] = self.ffn.step(self.ln2(x), state.get("ffn"))
        if self.lif2 is not None:
            f, new["lif2"] = self.lif2.step(f, state.get("lif2"))
        return x + f, new


class SpikeGPT(nn.Module):
    """A character (or token) language model: embedding, ``depth`` blocks, layer norm, head.

    ``spiking=True`` is SpikeGPT (binary embedding, LIF on every branch); ``spiking=False`` is its
    non-spiking twin, RWKV, with exactly the same parameters (the neurons and the binarisation
    have none). ``binary_embedding`` overrides the embedding's binarisation.

    ``forward(ids)``: ``[B, T]`` long -> logits ``[B, T, vocab]``, position t predicting t+1.
    ``step(ids_t, state)``: ``[B]`` -> ``(logits [B, vocab], state)``; the state's size does not
    depend on how many tokens came before, so there is no context limit.
    """

    def __init__(self, vocab: int, dim: int, depth: int, spiking: bool = True,
                 ffn_mult: int = 4, tau: float = 2.0, v_th: float = 1.0, wkv: str = "fused",
                 binary_embedding: bool | None = None):
        super().__init__()
        self.binary_embedding = spiking if binary_embedding is None else binary_embedding
        self.emb = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, i, depth, spiking, ffn_mult, tau, v_th, wkv)
                                    for i in range(depth))
        self.ln_out = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.binarize = ATan(2.0)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        return self.binarize(x) if self.binary_embedding else x

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_out(x))

    def step(self, ids: torch.Tensor, state: list | None = None):
        x = self.embed(ids)
        state = state or [None] * len(self.blocks)
        new = []
        for block, s in zip(self.blocks, state, strict=True):
            x, s = block.step(x, s)
            new.append(s)
        return self.head(self.ln_out(x)), new

    def with_neurons(self, tau: float, v_th: float) -> SpikeGPT:
        """A copy whose neurons have time constant ``tau`` and threshold ``v_th`` (same
        weights), to see what the trained network does with other neurons."""
        new = copy.deepcopy(self)
        for block in new.blocks:
            if block.lif1 is not None:
                block.lif1, block.lif2 = SpikeLIF(tau, v_th), SpikeLIF(tau, v_th)
        return new

    @torch.no_grad()
    def spikes(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run ``ids`` ``[B, T]`` and return each neuron layer's spikes ``[B, T, C]``, by name
        (``"blocks.0.lif1"`` is block 0's time-mix branch); empty for the non-spiking twin."""
        found, hooks = {}, []
        for name, module in self.named_modules():
            if isinstance(module, SpikeLIF):
                hooks.append(module.register_forward_hook(
                    lambda _m, _a, out, name=name: found.__setitem__(name, out.detach())))
        try:
            self(ids)
        finally:
            for h in hooks:
                h.remove()
        return found

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, n: int, generator: torch.Generator | None = None,
                 temperature: float = 1.0) -> torch.Tensor:
        """Append ``n`` symbols sampled at ``temperature`` to ``ids`` ``[B, N0]`` (``N0 >= 1``),
        streaming: the prompt is read token by token, then each sample is fed back."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        state = None
        for t in range(ids.shape[1]):
            logits, state = self.step(ids[:, t], state)
        out = [ids]
        for _ in range(n):
            probs = (logits / temperature).softmax(-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(ids.device)
            out.append(nxt)
            logits, state = self.step(nxt[:, 0], state)
        return torch.cat(out, dim=1)

