"""Linear attention with a fixed-size state, its gated form, and the conversion of a softmax
Transformer into it (SpikingBrain, Pan et al., 2025).

Causal softmax attention must keep every past key and value (the *KV cache*, ``2 d`` numbers per
token per layer) because each new query weighs all of them::

    o_t = sum_{i<=t} softmax_i(q_t . k_i / sqrt(d)) v_i

Linear attention (Katharopoulos et al., 2020) drops the softmax for a non-negative feature map
``phi`` (here ReLU). The sum then factorises through a ``d_k x d_v`` matrix per head, the
*state*, which is all that streaming needs::

    S_t = diag(g_t) S_{t-1} + phi(k_t)^T v_t,        o_t = phi(q_t) S_t

with an optional data-dependent forget gate ``g_t`` in (0, 1) per key channel (gated linear
attention, GLA; ``g = 1`` is plain linear attention). Unrolled, this is the *parallel* form used
for training::

    o_t = sum_{i<=t} sum_c phi(q_t)_c phi(k_i)_c (prod_{j=i+1..t} g_{j,c}) v_i

:func:`linear_attention_parallel` and :func:`linear_attention_recurrent` compute the two forms
and give the same numbers. As in SpikingBrain's released GLA layers, the gate comes from a
rank-16 projection, ``g = exp(logsigmoid(W_2 W_1 x) / 16)``, one per head, and each head's
output is normalised before the output projection (the release uses a layer norm and an output
gate; here an RMS norm), which keeps the unnormalised sum's scale in check.

Conversion (:func:`convert_to_linear`) copies a trained softmax layer's ``W_q, W_k, W_v, W_o``
into a :class:`LinearAttention` and leaves the rest of the network unchanged, so the linear model
starts from the Transformer's weights instead of from scratch. Converting only some layers gives
a hybrid (SpikingBrain-76B interleaves linear and softmax-family layers).

Streaming: :func:`lm_step` runs a :class:`~snnkit.models.CharLM` (softmax, linear or hybrid) one
token at a time with a KV cache for each softmax layer and a state for each linear one;
:func:`state_bytes` measures what it holds. Shapes: ``[B, N, dim]`` sequences, ``[B, dim]`` one
token; inside attention ``[B, heads, N, d_head]``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import MultiHeadAttention

# ---------------------------------------------------------------- pure functions


def linear_attention_parallel(q, k, v, log_g=None):
    """All outputs at once. ``q``, ``k``: ``[B, H, N, d_k]`` (already through the feature map),
    ``v``: ``[B, H, N, d_v]``, ``log_g``: log forget gates (<= 0), one per head ``[B, H, N, 1]``
    or one per key channel ``[B, H, N, d_k]``, or ``None``. Returns ``[B, H, N, d_v]``. Work
    O(N^2 d_k) per head; per-channel gates need an ``[N, N, d_k]`` decay tensor."""
    N = q.shape[2]
    causal = torch.ones(N, N, dtype=torch.bool, device=q.device).tril()
    if log_g is None:
        return (q @ k.transpose(-2, -1)).masked_fill(~causal, 0.0) @ v
    G = log_g.cumsum(dim=2)                                           # log prod_{j<=t} g_j
    if G.shape[-1] == 1:                                              # one gate per head
        decay = (G - G.transpose(-2, -1)).masked_fill(~causal, float("-inf")).exp()
        return ((q @ k.transpose(-2, -1)) * decay) @ v
    decay = G[:, :, :, None] - G[:, :, None, :]                       # [B, H, t, i, d_k]
    decay = decay.masked_fill(~causal[:, :, None], float("-inf")).exp()
    return torch.einsum("bhtc,bhic,bhtic->bhti", q, k, decay) @ v


def linear_attention_recurrent(q, k, v, log_g=None, state=None):
    """Token by token through the state ``S`` ``[B, H, d_k, d_v]`` (zeros if ``None``). Same
    arguments as :func:`linear_attention_parallel`; returns ``(o [B, H, N, d_v], S)``."""
    B, H, N, dk = q.shape
    S = q.new_zeros(B, H, dk, v.shape[-1]) if state is None else state
    outs = []
    for t in range(N):
        g = None if log_g is None else log_g[:, :, t].exp()
        o, S = linear_attention_step(q[:, :, t], k[:, :, t], v[:, :, t], g, S)
        outs.append(o)
    return torch.stack(outs, dim=2), S


def linear_attention_step(q, k, v, g, S):
    """One token: ``q``, ``k`` ``[B, H, d_k]``, ``v`` ``[B, H, d_v]``, gate ``g`` ``[B, H, d_k]``
    or ``[B, H, 1]`` (or ``None``), ``S`` ``[B, H, d_k, d_v]``. ``S <- diag(g) S + k^T v``,
    ``o = q S``. Returns ``(o, S)``."""
    if g is not None:
        S = g[..., None] * S
    S = S + k[..., :, None] * v[..., None, :]
    return (q[..., None, :] @ S)[..., 0, :], S


def softmax_attention_step(q, k, v, cache=None, window: int | None = None):
    """One token of causal softmax attention with a KV cache. ``q``, ``k``, ``v``: ``[B, H, d]``;
    ``cache = (K, V)``, each ``[B, H, t, d]``, grows by one row a token (kept to the last
    ``window`` rows for sliding-window attention). Returns ``(o [B, H, d], cache)``."""
    K, V = (k[:, :, None], v[:, :, None]) if cache is None else (
        torch.cat([cache[0], k[:, :, None]], 2), torch.cat([cache[1], v[:, :, None]], 2))
    if window is not None:
        K, V = K[:, :, -window:], V[:, :, -window:]
    w = (q[:, :, None] @ K.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1)
    return (w @ V)[:, :, 0], (K, V)


# ---------------------------------------------------------------- the layer


class LinearAttention(MultiHeadAttention):
    """Multi-head (gated) linear attention, causal, as SpikingBrain's GLA layer.

    Args:
        dim, heads: width and number of heads (``dim / heads`` per head).
        gate_rank: rank of the forget-gate projection ``W_2 W_1`` (one gate per head, shared
            by its channels, as in SpikingBrain's release); ``None`` for no gate.
        gate_temperature: the gate is ``exp(logsigmoid(W_2 W_1 x) / gate_temperature)``, close
            to 1 (slow forgetting) for a large temperature (SpikingBrain: 16).

    It inherits the projections ``q, k, v, out`` from :class:`~snnkit.nn.MultiHeadAttention`,
    so :meth:`from_softmax` copies them. ``forward(x, mask=None)``: ``[B, N, dim]`` ->
    ``[B, N, dim]`` (always causal; ``mask`` is accepted so the layer drops into a Transformer
    block).
    ``step(x, state)``: one token ``[B, dim]`` -> ``(y, state)``, the state ``[B, heads, d, d]``.
    """

    def __init__(self, dim: int, heads: int = 1, gate_rank: int | None = 16,
                 gate_temperature: float = 16.0, bias: bool = True):
        super().__init__(dim, heads, bias)
        self.gate = None if gate_rank is None else nn.Sequential(
            nn.Linear(dim, gate_rank, bias=False), nn.Linear(gate_rank, heads))
        self.gate_temperature = gate_temperature
        self.norm = nn.RMSNorm(dim // heads)

    def _project(self, x):
        """``x`` ``[..., dim]`` -> ``q, k, v`` ``[..., heads, dim/heads]``, ``log_g``
        ``[..., heads, 1]``."""
        split = lambda t: t.unflatten(-1, (self.heads, self.dim // self.heads))  # noqa: E731
        q, k, v = split(F.relu(self.q(x))), split(F.relu(self.k(x))), split(self.v(x))
        log_g = None if self.gate is None else (
            F.logsigmoid(self.gate(x)) / self.gate_temperature)[..., None]
        return q, k, v, log_g

    def _output(self, o):
        return self.out(self.norm(o).flatten(-2))

    def forward(self, x: torch.Tensor, mask=None, recurrent: bool = False) -> torch.Tensor:
        q, k, v, log_g = (None if t is None else t.transpose(1, 2) for t in self._project(x))
        if recurrent:
            o = linear_attention_recurrent(q, k, v, log_g)[0]
        else:
            o = linear_attention_parallel(q, k, v, log_g)
        return self._output(o.transpose(1, 2))

    def step(self, x: torch.Tensor, state: torch.Tensor | None = None):
        q, k, v, log_g = self._project(x)
        if state is None:
            state = q.new_zeros(*q.shape, v.shape[-1])
        o, state = linear_attention_step(q, k, v, None if log_g is None else log_g.exp(), state)
        return self._output(o), state

    @classmethod
    def from_softmax(cls, attn: MultiHeadAttention, gate_rank: int | None = 16,
                     gate_temperature: float = 16.0) -> LinearAttention:
        """A linear layer with ``attn``'s query, key, value and output weights (copied); a new
        gate, initialised so that ``g`` starts near ``exp(logsigmoid(0)/16) = 0.96``."""
        new = cls(attn.dim, attn.heads, gate_rank, gate_temperature,
                  bias=attn.q.bias is not None)
        new = new.to(attn.q.weight.device)
        for name in ("q", "k", "v", "out"):
            getattr(new, name).load_state_dict(getattr(attn, name).state_dict())
        return new


def convert_to_linear(model: nn.Module, layers=None, gate_rank: int | None = 16) -> nn.Module:
    """A copy of a Transformer model (anything with ``trunk.blocks[i].attn``, e.g.
    :class:`~snnkit.models.CharLM`) whose softmax attention in ``layers`` (indices; all when
    ``None``) is replaced by :meth:`LinearAttention.from_softmax`. The other weights are copied
    unchanged; a partial list gives a hybrid model."""
    new = copy.deepcopy(model)
    blocks = new.trunk.blocks
    for i in range(len(blocks)) if layers is None else layers:
        blocks[i].attn = LinearAttention.from_softmax(blocks[i].attn, gate_rank)
    return new


# ---------------------------------------------------------------- streaming a CharLM


def _attention_step(attn: nn.Module, x: torch.Tensor, state, window: int | None):
    if isinstance(attn, LinearAttention):
        return attn.step(x, state)
    split = lambda t: t.view(x.shape[0], attn.heads, attn.dim // attn.heads)  # noqa: E731
    o, cache = softmax_attention_step(split(attn.q(x)), split(attn.k(x)), split(attn.v(x)),
                                      state, window)
    return attn.out(o.flatten(1)), cache


@torch.no_grad()
def lm_step(model: nn.Module, ids: torch.Tensor, state: dict | None = None,
            window: int | None = None):
    """Advance a :class:`~snnkit.models.CharLM` (softmax, linear or hybrid) by one token.

    ``ids``: ``[B]`` long; ``state``: ``None`` at the start, then what the last call returned:
    ``{"t": position, "layers": [KV cache (K, V) or linear state, per block]}``. ``window``
    truncates the softmax caches (sliding-window attention). Returns ``(logits [B, vocab],
    state)``; over a sequence it gives the logits of ``model(ids)``, position by position.
    """
    trunk = model.trunk
    state = state or {"t": 0, "layers": [None] * len(trunk.blocks)}
    t = state["t"]
    if t >= trunk.pos.shape[0]:
        raise ValueError(f"position {t} is past the model's {trunk.pos.shape[0]} positions")
    x = model.embed(ids) + trunk.pos[t]
    layers = []
    for block, s in zip(trunk.blocks, state["layers"], strict=True):
        a, s = _attention_step(block.attn, block.norm1(x), s, window)
        x = x + a
        x = x + block.mlp(block.norm2(x))
        layers.append(s)
    return model.head(trunk.norm(x)), {"t": t + 1, "layers": layers}


def state_bytes(state) -> int:
    """Bytes held by the tensors of a (nested) recurrent state or KV cache."""
    if torch.is_tensor(state):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(state_bytes(s) for s in state.values())
    if isinstance(state, (list, tuple)):
        return sum(state_bytes(s) for s in state)
    return 0
