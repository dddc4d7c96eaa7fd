"""Datasets: a registry (name -> source, licence, files with SHA-256) and one loader per set."""

from .audio import load_fsdd, read_wav
from .eeg import load_eeg_imagery, read_edf
from .events import SENSOR, load_nmnist_small, mnist5k_index, read_nmnist
from .images import load_digits, load_mnist5k
from .registry import REGISTRY, DataError, data_root, fetch, verify
from .text import CharCorpus, load_shakespeare

__all__ = [
    "REGISTRY", "SENSOR", "CharCorpus", "DataError", "data_root", "fetch", "load_digits",
    "load_eeg_imagery", "load_fsdd", "load_mnist5k", "load_nmnist_small", "load_shakespeare",
    "mnist5k_index",
    "read_edf", "read_nmnist", "read_wav", "verify",
]
