"""One small spiking transformer with swappable parts, and a fair benchmark over them (STEP,
Shen et al. 2025, arXiv:2505.11151).

:class:`SpikingTransformer` is a Spikformer-style classifier: a convolutional stem turns an image
into tokens, ``depth`` blocks of spiking self-attention and a spiking MLP follow, and a linear
head reads out the spikes averaged over tokens and time steps. Every part is a string:

- ``stem``: ``"sps4"`` (Spikformer's 4-conv spiking patch splitting), ``"sps2"`` (2 convs) or
  ``"sps1"`` (one strided conv and a learned position embedding, as a ViT);
- ``attn``: ``"ssa"`` (Spikformer: ``Q (K^T V) * scale``, no softmax), ``"sdsa"`` (spike-driven
  transformer: ``Q * SN(sum_tokens K * V)``) or ``"random"`` (SSA with frozen random Q, K weights);
- ``neuron``: ``"lif"``, ``"if"``, ``"plif"`` (:mod:`snnkit.neurons`), ``"ielif"`` (multi-bit
  spikes, :class:`snnkit.quant.IELIF`) or ``"relu"`` (the ANN twin);
- ``surrogate``: a name from :mod:`snnkit.functional.surrogate`; ``encoding``: ``"direct"``,
  ``"rate"`` or ``"latency"`` (:mod:`snnkit.encoding`); ``bits``: weight bits (32 = float).

Blocks use membrane shortcuts (the residual stream carries real values and every branch starts
with a neuron), so every synaptic layer after the first convolution receives spikes.
:func:`benchmark` trains a list of variants with the same seeds, data, epochs and optimiser and
returns one table.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import encoding as enc
from ..functional import surrogate as sg
from ..neurons import IF, LIF, PLIF
from ..quant import IELIF, conv2d, linear

NEURONS = ("lif", "if", "plif", "ielif", "relu")
STEMS = ("sps4", "sps2", "sps1")
ATTENTIONS = ("ssa", "sdsa", "random")
ENCODINGS = ("direct", "rate", "latency")

# STEP's yml keys -> SpikingTransformer arguments (cls/configs/*/*.yml)
STEP_KEYS = {"embed_layer": "stem", "attn_layer": "attn", "node_type": "neuron",
             "act_function": "surrogate", "tau": "tau", "threshold": "threshold", "step": "T",
             "encode_type": "encoding", "embed_dim": "dim", "depths": "depth",
             "num_heads": "heads", "mlp_ratio": "mlp_ratio"}


class ReLUNeuron(nn.Module):
    """The ANN stand-in for a neuron: ``(relu(x), x)`` for ``x`` ``[T, B, ...]``."""

    def forward(self, x):
        return torch.relu(x), x


@dataclass
class NeuronSpec:
    """How to build the neurons of one model: kind, LIF time constant ``tau`` (decay
    ``1 - 1/tau`` per step), ``threshold``, surrogate name, and ``D`` spike levels for IE-LIF."""

    kind: str = "lif"
    tau: float = 2.0
    threshold: float = 1.0
    surrogate: str = "atan"
    D: int = 4

    def __call__(self, channels: int, attention: bool = False, channel_dim: int = -1):
        """A neuron for ``channels`` features. ``attention``: it fires on the attention output,
        where no normalisation precedes it (half threshold as Spikformer; IE-LIF rectifies and
        scales by ``2/D`` as QSD-Transformer)."""
        beta, th = 1 - 1 / self.tau, self.threshold * (0.5 if attention else 1.0)
        if self.kind == "lif":
            return LIF(beta, th, reset="zero", surrogate=self.surrogate)
        if self.kind == "if":
            return IF(th, reset="zero", surrogate=self.surrogate)
        if self.kind == "plif":
            return PLIF(beta, th, reset="zero", surrogate=self.surrogate)
        if self.kind == "ielif":
            return IELIF(self.D, beta, rectify=attention, num_features=channels,
                         channel_dim=channel_dim, out_scale=2 / self.D if attention else None)
        if self.kind == "relu":
            return ReLUNeuron()
        raise ValueError(f"neuron must be one of {NEURONS}, got {self.kind!r}")


class SeqBN(nn.Module):
    """Batch norm over the last (channel) axis of ``[..., C]``."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x):
        return self.bn(x.reshape(-1, x.shape[-1])).view(x.shape)


def _per_step(module, x: torch.Tensor) -> torch.Tensor:
    """Apply an image module (or function) to ``[T, B, C, H, W]``, time folded into batch."""
    y = module(x.flatten(0, 1))
    return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class Stem(nn.Module):
    """Image ``[T, B, C, H, W]`` -> tokens ``[T, B, N, dim]`` (real-valued, pre-neuron).

    ``sps4``/``sps2``: 3x3 conv-BN-neuron layers widening to ``dim`` (the last without a neuron)
    with a ``patch x patch`` max-pool half-way (on spikes), then a relative position embedding
    ``x + BN(conv3x3(neuron(x)))``.
    ``sps1``: a single ``patch x patch`` strided conv and a learned position embedding.
    """

    def __init__(self, kind: str, in_channels: int, dim: int, img_size: int, neuron: NeuronSpec,
                 bits: int, patch: int = 2):
        super().__init__()
        if kind not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {kind!r}")
        self.kind = kind
        side = img_size // patch
        if kind == "sps1":
            self.proj = conv2d(in_channels, dim, patch, stride=patch, bits=bits)
            self.pos = nn.Parameter(torch.zeros(1, 1, side * side, dim))
            nn.init.trunc_normal_(self.pos, std=0.02)
            return
        n = 4 if kind == "sps4" else 2
        widths = [dim // 2 ** (n - 1 - i) for i in range(n)]
        ins = [in_channels, *widths[:-1]]
        self.convs = nn.ModuleList(conv2d(c, w, 3, padding=1, bias=False, bits=bits)
                                   for c, w in zip(ins, widths, strict=True))
        self.bns = nn.ModuleList(nn.BatchNorm2d(w) for w in widths)
        self.neurons = nn.ModuleList(neuron(w, channel_dim=1) for w in widths[:-1])
        self.pool = nn.MaxPool2d(patch)
        self.rpe_neuron = neuron(dim, channel_dim=1)
        self.rpe = nn.Sequential(conv2d(dim, dim, 3, padding=1, bias=False, bits=bits),
                                 nn.BatchNorm2d(dim))

    def forward(self, x):
        if self.kind == "sps1":
            tokens = _per_step(self.proj, x).flatten(3).transpose(2, 3)
            return tokens + self.pos
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            if i == len(self.convs) // 2:
                x = _per_step(self.pool, x)
            x = _per_step(lambda z, conv=conv, bn=bn: bn(conv(z)), x)
            if i < len(self.neurons):
                x = self.neurons[i](x)[0]
        x = x + _per_step(self.rpe, self.rpe_neuron(x)[0])
        return x.flatten(3).transpose(2, 3)


class SpikingAttention(nn.Module):
    """Spiking self-attention on tokens ``[T, B, N, dim]`` (see the module docstring for kinds).

    With ``keep_features`` the time-averaged ``q, k, v`` and attention output (``out``), each
    ``[B, N, dim]``, are kept in ``self.features`` (for distillation and entropy).
    """

    def __init__(self, dim: int, heads: int, kind: str, neuron: NeuronSpec, bits: int,
                 scale: float = 0.125):
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"attn must be one of {ATTENTIONS}, got {kind!r}")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.kind, self.heads, self.scale = kind, heads, scale
        self.pre = neuron(dim)
        self.q, self.k, self.v = (linear(dim, dim, bias=False, bits=bits) for _ in range(3))
        self.bn_q, self.bn_k, self.bn_v = SeqBN(dim), SeqBN(dim), SeqBN(dim)
        self.n_q, self.n_k, self.n_v = neuron(dim), neuron(dim), neuron(dim)
        self.n_attn = neuron(dim, attention=True)
        self.proj, self.bn_o = linear(dim, dim, bits=bits), SeqBN(dim)
        if kind == "random":        # STEP's random_attn: Q and K keep their random init
            for p in (*self.q.parameters(), *self.k.parameters()):
                p.requires_grad_(False)
        self.keep_features = False
        self.features: dict[str, torch.Tensor] = {}

    def _heads(self, x):                       # [T, B, N, C] -> [T, B, h, N, C/h]
        T, B, N, C = x.shape
        return x.view(T, B, N, self.heads, C // self.heads).transpose(2, 3)

    def forward(self, x):
        s = self.pre(x)[0]
        q = self.n_q(self.bn_q(self.q(s)))[0]
        k = self.n_k(self.bn_k(self.k(s)))[0]
        v = self.n_v(self.bn_v(self.v(s)))[0]
        qh, kh, vh = self._heads(q), self._heads(k), self._heads(v)
        T, B, N, C = x.shape
        if self.kind == "sdsa":
            kv = (kh * vh).sum(-2, keepdim=True).transpose(2, 3).reshape(T, B, 1, C)
            out = q * self.n_attn(kv)[0]
        else:
            a = qh @ (kh.transpose(-2, -1) @ vh) * self.scale      # = (q k^T) v, linear cost
            out = self.n_attn(a.transpose(2, 3).reshape(T, B, N, C))[0]
        if self.keep_features:
            self.features = {"q": q.mean(0), "k": k.mean(0), "v": v.mean(0), "out": out.mean(0)}
        return self.bn_o(self.proj(out))


class FeedForward(nn.Module):
    """Spiking MLP on tokens: neuron -> Linear -> BN -> neuron -> Linear -> BN."""

    def __init__(self, dim: int, hidden: int, neuron: NeuronSpec, bits: int):
        super().__init__()
        self.n1, self.fc1, self.bn1 = neuron(dim), linear(dim, hidden, bits=bits), SeqBN(hidden)
        self.n2, self.fc2, self.bn2 = neuron(hidden), linear(hidden, dim, bits=bits), SeqBN(dim)

    def forward(self, x):
        h = self.n2(self.bn1(self.fc1(self.n1(x)[0])))[0]
        return self.bn2(self.fc2(h))


class Block(nn.Module):
    """``x + attn(x)``, then ``x + mlp(x)`` on the real-valued residual stream."""

    def __init__(self, dim, heads, mlp_ratio, attn, neuron, bits):
        super().__init__()
        self.attn = SpikingAttention(dim, heads, attn, neuron, bits)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio), neuron, bits)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikingTransformer(nn.Module):
    """A Spikformer-style image classifier built from named parts (see the module docstring).

    ``forward(x)``: ``x`` ``[B, C, H, W]`` (encoded over ``T`` steps) or already time-first
    ``[T, B, C, H, W]``. Returns logits ``[B, num_classes]``: the head applied to the final
    neurons' spikes averaged over tokens, then averaged over time. The stem pools by ``patch``,
    so there are ``(img_size / patch)^2`` tokens.
    """

    def __init__(self, img_size=8, in_channels=1, num_classes=10, dim=64, depth=1, heads=4,
                 mlp_ratio=4.0, T=2, stem="sps4", attn="ssa", neuron="lif", surrogate="atan",
                 encoding="direct", bits=32, tau=2.0, threshold=1.0, D=4, patch=2):
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        if neuron not in NEURONS:
            raise ValueError(f"neuron must be one of {NEURONS}, got {neuron!r}")
        sg.get(surrogate)
        self.T, self.encoding = T, encoding
        self.config = dict(img_size=img_size, in_channels=in_channels, num_classes=num_classes,
                           dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, T=T, stem=stem,
                           attn=attn, neuron=neuron, surrogate=surrogate, encoding=encoding,
                           bits=bits, tau=tau, threshold=threshold, D=D, patch=patch)
        spec = NeuronSpec(neuron, tau, threshold, surrogate, D)
        self.stem = Stem(stem, in_channels, dim, img_size, spec, bits, patch)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, attn, spec, bits)
                                    for _ in range(depth))
        self.out_neuron = spec(dim)
        self.head = nn.Linear(dim, num_classes)

    @classmethod
    def from_config(cls, cfg: dict, **kwargs) -> SpikingTransformer:
        """Build from STEP-style keys (``embed_layer``, ``attn_layer``, ``node_type``,
        ``act_function``, ``tau``, ``threshold``, ``step``, ``encode_type``, ``embed_dim``,
        ``depths``, ``num_heads``) or this class's own argument names."""
        args = {STEP_KEYS.get(k, k): v for k, v in cfg.items()}
        return cls(**{**args, **kwargs})

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[T, B, C, H, W]`` with the model's encoding."""
        if x.dim() == 5:
            return x
        if self.encoding == "direct":
            return enc.direct(x, self.T)
        if self.encoding == "rate":
            return enc.rate(x, self.T)
        return enc.latency(x, self.T)

    def attention_layers(self) -> list[SpikingAttention]:
        return [b.attn for b in self.blocks]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(self.encode(x))
        for block in self.blocks:
            h = block(h)
        s = self.out_neuron(h)[0]
        return self.head(s.mean(2)).mean(0)


# ---------------------------------------------------------------- the benchmark

@dataclass(repr=False)
class BenchmarkTable:
    """Results of :func:`benchmark`: one row per variant (``name``, ``acc_mean``, ``acc_std``,
    ``accs`` per seed, ``firing_rate``, ``params``, ``seconds`` per seed) and the settings every
    variant shared. ``models[name]`` is the variant's model trained with the last seed."""

    rows: list[dict]
    settings: dict
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> dict:
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"settings": self.settings, "rows": self.rows}

    def __str__(self) -> str:
        head = f"{'variant':<16}{'accuracy':>18}{'per seed':>24}{'fire rate':>11}{'params':>9}" \
               f"{'s/seed':>8}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            seeds = " ".join(f"{a:.3f}" for a in r["accs"])
            fr = "-" if r["firing_rate"] is None else f"{r['firing_rate']:.3f}"
            lines.append(f"{r['name'][:15]:<16}{r['acc_mean']:>11.3f} ± {r['acc_std']:.3f}"
                         f"{seeds:>24}{fr:>11}{r['params']:>9,}{r['seconds']:>8.1f}")
        s = self.settings
        other = "".join(f" ({n}: {v})" for n, v in s.get("seeds_for", {}).items())
        lines.append(f"same for all: seeds {s['seeds']}{other}, {s['epochs']} epochs, AdamW lr "
                     f"{s['lr']}, batch {s['batch_size']}, base {s['base']}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<pre>{self}</pre>"


def firing_rate(model: nn.Module, x: torch.Tensor) -> float | None:
    """STEP's firing rate: all spikes emitted by the model's neurons on ``x`` divided by all
    neuron-steps (multi-bit spikes count their ``D`` levels). ``None`` for an ANN."""
    spikes, slots, hooks = [0.0], [0], []

    def hook(module, args, out):
        s = out[0]
        if isinstance(module, IELIF):
            s = s / module.out_scale / module.D
        spikes[0] += float(s.sum())
        slots[0] += s.numel()

    for m in model.modules():
        if isinstance(m, (LIF, IELIF)):
            hooks.append(m.register_forward_hook(hook))
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return spikes[0] / slots[0] if slots[0] else None


def train(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], *, epochs: int,
          lr: float = 2e-3, batch_size: int = 64, seed: int = 0, device="cpu",
          extra_loss=None, progress: bool = False, desc: str = "train") -> list[float]:
    """STEP's recipe, shrunk: AdamW (weight decay 0.01) with a cosine learning-rate decay to zero
    over ``epochs`` epochs of cross-entropy on ``data = (X, y)``; ``seed`` fixes the batch order.
    ``extra_loss(model, xb)``, if given, is added to the loss (e.g. distillation). Parameters
    with ``requires_grad=False`` stay frozen. Returns the mean training loss per epoch."""
    from tqdm.auto import tqdm

    from ..train import batches

    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    fused = next(iter(params)).device.type in ("cpu", "cuda")   # one kernel for all tensors
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, fused=fused)
    X, y = data
    steps = epochs * -(-len(X) // batch_size)

    def cosine(i):
        return 0.5 * (1 + math.cos(math.pi * i / steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        model.train()
        total = 0.0
        for xb, yb in batches(X, y, batch_size=batch_size, shuffle=True, generator=gen):
            xb, yb = xb.to(device), yb.to(device)
            loss = nn.functional.cross_entropy(model(xb), yb)
            if extra_loss is not None:
                loss = loss + extra_loss(model, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(yb)
        losses.append(total / len(X))
    return losses


def benchmark(variants: dict[str, dict], data, *, base: dict | None = None, seeds=(0, 1, 2),
              seeds_for: dict | None = None, epochs: int = 6, lr: float = 2e-3,
              batch_size: int = 64, device="cpu", progress: bool = True) -> BenchmarkTable:
    """Train and test every variant under the same budget, in one call.

    ``variants``: name -> keyword arguments that differ from ``base`` (both passed to
    :meth:`SpikingTransformer.from_config`, so STEP's yml keys work too). ``data``:
    ``(X_train, y_train, X_test, y_test)``, images ``[N, C, H, W]``. Every variant trains with
    every seed in ``seeds`` (the seed fixes the initial weights and the batch order) under the
    same :func:`train` recipe (``epochs``, ``lr``, ``batch_size``); ``seeds_for`` gives some
    variants other seeds (e.g. fewer for swaps that are only reported). Returns a
    :class:`BenchmarkTable`.
    """
    from tqdm.auto import tqdm

    from ..train import evaluate, seed_everything

    base = dict(base or {})
    Xtr, ytr, Xte, yte = data
    rows, models = [], {}
    seeds_for = {name: list(v) for name, v in (seeds_for or {}).items()}
    unknown = set(seeds_for) - set(variants)
    if unknown:
        raise KeyError(f"seeds_for names {sorted(unknown)}, not variants {list(variants)}")
    jobs = [(name, s) for name in variants for s in seeds_for.get(name, seeds)]
    bar = tqdm(jobs, desc="benchmark", disable=not progress)
    accs: dict[str, list[float]] = {}
    secs: dict[str, list[float]] = {}
    for name, s in bar:
        bar.set_postfix_str(f"{name} seed {s}")
        seed_everything(s)
        model = SpikingTransformer.from_config({**base, **variants[name]})
        t0 = time.process_time()
        train(model, (Xtr, ytr), epochs=epochs, lr=lr, batch_size=batch_size, seed=s,
              device=device)
        accs.setdefault(name, []).append(evaluate(model, Xte, yte, device=device)["acc"])
        secs.setdefault(name, []).append(time.process_time() - t0)
        models[name] = model
    for name in variants:
        a = torch.tensor(accs[name])
        model = models[name]
        rows.append({"name": name, "config": variants[name], "acc_mean": a.mean().item(),
                     "acc_std": a.std().item() if len(a) > 1 else 0.0, "accs": accs[name],
                     "firing_rate": firing_rate(model, Xte[:256].to(device)),
                     "params": sum(p.numel() for p in model.parameters()),
                     "seconds": sum(secs[name]) / len(secs[name])})
    settings = {"seeds": list(seeds), "seeds_for": seeds_for, "epochs": epochs, "lr": lr,
                "batch_size": batch_size, "base": base, "n_train": len(Xtr), "n_test": len(Xte)}
    return BenchmarkTable(rows, settings, models)


__all__ = ["ATTENTIONS", "ENCODINGS", "NEURONS", "STEMS", "STEP_KEYS", "BenchmarkTable",
           "SpikingTransformer", "benchmark", "firing_rate", "train"]
