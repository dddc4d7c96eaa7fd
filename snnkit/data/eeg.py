"""EEG motor imagery (PhysioNet EEGMMIDB, subject S001): an EDF+ reader and epochs.

Runs 4, 8 and 12 are motor imagery of the left (annotation T1) or right (T2) fist; T0 is rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from .registry import verify

IMAGERY_RUNS = (4, 8, 12)


@dataclass
class EDF:
    """An EDF/EDF+ recording: ``signals`` ``[channels, samples]`` in physical units (uV),
    ``sfreq`` in Hz, channel ``labels`` and EDF+ ``annotations``
    ``[(onset_s, duration_s, text)]``."""

    signals: np.ndarray
    sfreq: float
    labels: list[str]
    annotations: list[tuple[float, float, str]]


_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x14\x00", re.S)


def read_edf(path) -> EDF:
    """Read an EDF(+) file: the fixed ASCII header, the per-signal headers, 16-bit records,
    scaled to physical units; the "EDF Annotations" signal is parsed into onset/duration/text."""
    raw = open(path, "rb").read()

    def field(start, width, count):
        return [raw[start + i * width:start + (i + 1) * width].decode("ascii").strip()
                for i in range(count)]

    header_bytes, n_records = int(raw[184:192]), int(raw[236:244])
    record_s, ns = float(raw[244:252]), int(raw[252:256])
    at = 256
    cols = {}
    for key, width in [("label", 16), ("transducer", 80), ("unit", 8), ("pmin", 8),
                       ("pmax", 8), ("dmin", 8), ("dmax", 8), ("prefilter", 80),
                       ("samples", 8), ("reserved", 32)]:
        cols[key] = field(at, width, ns)
        at += width * ns
    samples = np.array(cols["samples"], dtype=int)
    data = np.frombuffer(raw, "<i2", offset=header_bytes).reshape(n_records, samples.sum())
    bounds = np.concatenate([[0], np.cumsum(samples)])
    signals, labels, annotations = [], [], []
    for i, label in enumerate(cols["label"]):
        chunk = data[:, bounds[i]:bounds[i + 1]]
        if label == "EDF Annotations":
            for onset, duration, text in _TAL.findall(chunk.tobytes()):
                for note in text.split(b"\x14"):
                    if note:
                        annotations.append((float(onset), float(duration or 0), note.decode()))
            continue
        pmin, pmax, dmin, dmax = (float(cols[k][i]) for k in ("pmin", "pmax", "dmin", "dmax"))
        gain = (pmax - pmin) / (dmax - dmin)
        signals.append((chunk.reshape(-1) - dmin) * gain + pmin)
        labels.append(label.rstrip("."))
    sfreq = samples[cols["label"].index(next(c for c in cols["label"] if c != "EDF Annotations"))]
    return EDF(np.stack(signals).astype(np.float32), sfreq / record_s, labels, annotations)


def load_eeg_imagery(root=None, runs=IMAGERY_RUNS, tmin: float = 0.0, tmax: float = 4.0):
    """Left- vs right-fist imagery epochs of subject S001.

    Each T1 (left) or T2 (right) annotation gives one epoch from ``tmin`` to ``tmax`` seconds
    after its onset. Returns ``(X, y, channels, sfreq)``: ``X`` ``[epochs, 64, samples]`` float32
    in uV, ``y`` LongTensor (0 left, 1 right), the channel names and the rate in Hz (160).
    """
    folder = verify("eegmmidb_S001", root)
    X, y = [], []
    for run in runs:
        edf = read_edf(folder / f"S001R{run:02d}.edf")
        n = int(round((tmax - tmin) * edf.sfreq))
        for onset, _, text in edf.annotations:
            if text not in ("T1", "T2"):
                continue
            start = int(round((onset + tmin) * edf.sfreq))
            if start >= 0 and start + n <= edf.signals.shape[1]:
                X.append(edf.signals[:, start:start + n])
                y.append(0 if text == "T1" else 1)
    return torch.from_numpy(np.stack(X)), torch.tensor(y), edf.labels, edf.sfreq
