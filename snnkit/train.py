"""Training helpers: seeding, device and threads, a fit/evaluate loop with progress, metrics."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

_threads_set = False


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; otherwise the named device (checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads once per process (switching back and forth slows later
    work). ``None`` leaves the default. Returns the number in use."""
    global _threads_set
    if n is not None and not _threads_set:
        torch.set_num_threads(n)
        _threads_set = True
    return torch.get_num_threads()


def batches(*tensors: torch.Tensor, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None):
    """Yield aligned minibatches (first dimension) of ``tensors``; a light DataLoader."""
    n = len(tensors[0])
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        yield tuple(t[idx] for t in tensors)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(-1) == y).float().mean().item()


def _to_model(xb: torch.Tensor, device, time_first: bool) -> torch.Tensor:
    xb = xb.to(device)
    return xb.transpose(0, 1) if time_first else xb


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
             device="cpu", time_first: bool = False) -> dict:
    """Mean cross-entropy loss and accuracy of ``model`` (logits ``[B, classes]``) on X, y.
    ``time_first``: X is stored ``[N, T, ...]`` and each batch goes to the model as
    ``[T, B, ...]``."""
    model.eval()
    loss, correct = 0.0, 0
    for xb, yb in batches(X, y, batch_size=batch_size):
        logits = model(_to_model(xb, device, time_first))
        loss += nn.functional.cross_entropy(logits, yb.to(device), reduction="sum").item()
        correct += (logits.argmax(-1).cpu() == yb).sum().item()
    return {"loss": loss / len(X), "acc": correct / len(X)}


def fit(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor] | None = None, epochs: int = 1,
        lr: float = 1e-3, batch_size: int = 64, seed: int = 0, device="cpu",
        progress: bool = True, desc: str = "train", time_first: bool = False,
        method: str | None = None, K: int | None = None) -> dict[str, list[float]]:
    """Train a classifier (logits ``[B, classes]``) with Adam.

    ``train``/``val``: ``(X, y)`` tensors, batched along the first dimension; with
    ``time_first`` X is stored ``[N, T, ...]`` and each batch goes to the model as
    ``[T, B, ...]`` (spike trains, event frames). Shows a tqdm bar per epoch when ``progress``.

    ``method``: ``None`` (default) back-propagates the cross-entropy of ``model(x)`` through
    everything (BPTT through the fused neurons). ``"bptt"``, ``"sltt"`` or ``"sltt-k"`` (with
    ``K``) run the network one step at a time with the instantaneous loss of
    :mod:`snnkit.methods.sltt`, so the three differ only in the gradient routes they keep; static
    input is encoded first with ``model.encode``.

    Returns the history: ``train_loss``, ``train_acc`` and (with ``val``) ``val_loss``,
    ``val_acc`` per epoch.
    """
    from tqdm.auto import tqdm

    from .methods.sltt import train_step

    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"train_loss": [], "train_acc": []}
    X, y = train
    for epoch in range(epochs):
        model.train()
        total, correct = 0.0, 0
        bar = tqdm(list(batches(X, y, batch_size=batch_size, shuffle=True, generator=gen)),
                   desc=f"{desc} {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for xb, yb in bar:
            xb, yb = _to_model(xb, device, time_first), yb.to(device)
            opt.zero_grad()
            if method is None:
                logits = model(xb)
                loss = nn.functional.cross_entropy(logits, yb)
                loss.backward()
                loss = loss.item()
            else:
                steps = xb if time_first else model.encode(xb)
                stats = train_step(model, steps, yb, method, K, generator=gen)
                logits, loss = stats.output, stats.loss
            opt.step()
            total += loss * len(yb)
            correct += (logits.argmax(-1) == yb).sum().item()
            bar.set_postfix(loss=f"{loss:.3f}")
        history["train_loss"].append(total / len(X))
        history["train_acc"].append(correct / len(X))
        if val is not None:
            result = evaluate(model, *val, device=device, time_first=time_first)
            history.setdefault("val_loss", []).append(result["loss"])
            history.setdefault("val_acc", []).append(result["acc"])
    return history


def save_metrics(out_dir: str | os.PathLike, metrics: dict, name: str = "metrics.json") -> Path:
    """Write ``metrics`` as JSON to ``out_dir/name`` (folders created); return the path."""
    path = Path(out_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    return path
