"""What every chapter notebook calls first and last: parameters, checks and metrics.

A chapter's ``parameters`` cell holds plain values (papermill overrides them); the next cell calls
:func:`setup`, which validates them, fills the sizes that were left ``None`` from the mode's
preset, seeds everything and picks device and threads. :meth:`Run.check` turns the paper's claim
into code that fails loudly; :meth:`Run.save` writes ``metrics.json`` into ``out_dir``.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from .chapters import BOOK, find
from .train import resolve_device, save_metrics, seed_everything, set_threads

MODES = ("quick", "full")


class ClaimError(AssertionError):
    """The chapter's claim did not hold at this scale (with the numbers compared)."""


class Run:
    """The resolved settings of one chapter run, and what it measured.

    Attributes: ``chapter``, ``mode``, ``seed``, ``device``, ``data_root``, ``out_dir``, the
    generator ``gen``, and one attribute per preset knob. ``metrics`` and ``checks`` fill up as the
    chapter records them.
    """

    def __init__(self, chapter, mode, seed, device, data_root, out_dir, knobs):
        self.chapter, self.mode, self.seed = chapter, mode, seed
        self.device, self.data_root, self.out_dir = device, data_root, out_dir
        self.knobs = knobs
        self.metrics: dict = {}
        self.checks: dict = {}
        self.started = time.perf_counter()
        self.gen = seed_everything(seed)
        for k, v in knobs.items():
            setattr(self, k, v)

    def record(self, **metrics) -> None:
        """Store numbers (or small lists/dicts of numbers) for ``metrics.json``."""
        self.metrics.update(metrics)

    def check(self, name: str, passed: bool, detail: str) -> None:
        """Record a claim's check and raise :class:`ClaimError` if it failed. ``detail`` says
        which numbers were compared, e.g. ``"acc 0.91 >= 0.5"``."""
        self.checks[name] = {"passed": bool(passed), "detail": detail}
        print(f"[{'PASS' if passed else 'FAIL'}] {name}: {detail}")
        if not passed:
            self.save()
            raise ClaimError(f"{self.chapter.id} claim {name!r} failed: {detail}")

    def save(self) -> Path:
        """Write ``out_dir/metrics.json``: chapter, parameters, metrics, checks, wall time."""
        return save_metrics(self.out_dir, {
            "chapter": self.chapter.id, "slug": self.chapter.slug, "mode": self.mode,
            "seed": self.seed, "device": str(self.device), "params": self.knobs,
            "metrics": self.metrics, "checks": self.checks,
            "elapsed_s": round(time.perf_counter() - self.started, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "torch": torch.__version__,
        })

    def __repr__(self) -> str:
        knobs = ", ".join(f"{k}={v}" for k, v in self.knobs.items())
        return (f"Run({self.chapter.id}, mode={self.mode}, seed={self.seed}, "
                f"device={self.device}, {knobs})")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (what one chapter's kernel needs).

    On Linux it is ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` survives
    fork and exec, so a kernel started by a large process (a test worker, the CLI) would report
    its parent's peak. Elsewhere ``ru_maxrss``."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def output_roots() -> list[Path]:
    """Where a chapter may write: the working directory, the project, the home and temp folders,
    and the folders listed in ``SNNKIT_OUT_ROOTS`` (``os.pathsep``-separated)."""
    extra = [Path(p) for p in os.environ.get("SNNKIT_OUT_ROOTS", "").split(os.pathsep) if p]
    roots = [Path.cwd(), BOOK.parent, Path.home(), Path(tempfile.gettempdir()), *extra]
    return [r.resolve() for r in roots]


def _check_out_dir(out: Path) -> Path:
    """``out`` resolved, or a ValueError if it lies outside :func:`output_roots`."""
    where = out.expanduser().resolve()
    roots = output_roots()
    if not any(where.is_relative_to(r) for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise ValueError(f"parameter 'out_dir' must lie under one of: {allowed} (add a folder "
                         f"to SNNKIT_OUT_ROOTS to allow it), got {str(out)!r}")
    return where


def _validate(name, value, default, choices=None, limits=None):
    if choices is not None:
        if value not in choices:
            raise ValueError(f"parameter {name!r} must be one of {tuple(choices)}, got {value!r}")
        return value
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        if not isinstance(value, type(default)):
            raise ValueError(f"parameter {name!r} must be a {type(default).__name__}, "
                             f"got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter {name!r} must be a number, got {value!r}")
    if isinstance(default, int) and value != int(value):
        raise ValueError(f"parameter {name!r} must be a whole number, got {value!r}")
    lo, hi = limits if limits is not None else (0, math.inf)
    if not lo < value < hi:
        raise ValueError(f"parameter {name!r} must be in the open interval ({lo}, {hi}), "
                         f"got {value!r}")
    return type(default)(value)


def setup(chapter: str, *, mode="quick", seed=0, device="auto", data_root=None, out_dir=None,
          presets: dict[str, dict], overrides: dict | None = None,
          choices: dict[str, tuple] | None = None,
          limits: dict[str, tuple[float, float]] | None = None) -> Run:
    """Resolve a chapter's parameters.

    ``presets`` maps each mode to its knobs (``{"quick": {"epochs": 3}, "full": {"epochs": 30}}``);
    ``overrides`` holds the parameters cell's knobs, ``None`` meaning "from the preset".
    ``choices`` lists the allowed values of a knob that takes one of a few (e.g. a dataset name);
    ``limits`` gives a numeric knob's open interval ``(low, high)`` (default: positive).
    Bad values raise ``ValueError`` naming the parameter and what it accepts. Quick mode uses one
    torch thread (small models on busy cores run far faster so).
    """
    ch = find(chapter)
    if mode not in MODES:
        raise ValueError(f"parameter 'mode' must be one of {MODES}, got {mode!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"parameter 'seed' must be a non-negative int, got {seed!r}")
    if not isinstance(device, str):
        raise ValueError(f"parameter 'device' must be 'auto', 'cpu' or 'cuda[:n]', got {device!r}")
    try:
        dev = resolve_device(device)
    except RuntimeError as err:
        raise ValueError(f"parameter 'device': {err}") from None
    for name, value in (("data_root", data_root), ("out_dir", out_dir)):
        if value is not None and not isinstance(value, (str, Path)):
            raise ValueError(f"parameter {name!r} must be a path or None, got {value!r}")
    knobs = dict(presets[mode])
    for name, value in (overrides or {}).items():
        if name not in knobs:
            raise ValueError(f"parameter {name!r} is not a knob of {ch.id}; knobs: {list(knobs)}")
        if value is not None:
            knobs[name] = _validate(name, value, knobs[name], (choices or {}).get(name),
                                    (limits or {}).get(name))
    set_threads(1 if mode == "quick" else None)
    out = _check_out_dir(Path(out_dir) if out_dir is not None else Path("outputs") / ch.slug)
    return Run(ch, mode, seed, dev, data_root, out, knobs)
