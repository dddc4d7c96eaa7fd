"""The offline guarantee: kernels run with networking unavailable (tests/offline), every chapter
completes so (tests/test_notebooks.py), corrupt data and bad parameters are refused clearly."""

import shutil

import nbformat
import papermill as pm

from snnkit import cli, data


def test_kernels_run_with_networking_unavailable(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('https://github.com', timeout=5)\n"
        "    print('reached the network')\n"
        "except OSError as err:\n"
        "    print('refused:', err)\n"
        "print('guard', os.environ.get('SNNKIT_OFFLINE_GUARD'))")]
    src, out = tmp_path / "probe.ipynb", tmp_path / "probe.out.ipynb"
    nbformat.write(nb, src)
    pm.execute_notebook(str(src), str(out), progress_bar=False, kernel_name="python3")
    text = nbformat.read(out, as_version=4).cells[0].outputs[0]["text"]
    assert "refused:" in text and "offline test guard" in text and "guard 1" in text


def test_corrupt_data_file_stops_a_chapter_with_the_sha256_error(tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(data.data_root() / "nmnist_small", root / "nmnist_small")
    victim = sorted((root / "nmnist_small").glob("*.bs2"))[0]
    victim.write_bytes(victim.read_bytes()[:-5] + b"\0\0\0\0\0")
    code = cli.main(["run", "F3", "-p", "data_root", str(root), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1
    assert "DataError" in err and victim.name in err and "is corrupt (SHA-256" in err


def test_wrong_type_and_forbidden_output_place_are_refused(tmp_path, capsys):
    assert cli.main(["run", "F1", "-p", "steps", "many", "--out", str(tmp_path)]) == 1
    assert "parameter 'steps' must be a number, got 'many'" in capsys.readouterr().err
    assert cli.main(["run", "F1", "--out", "/etc/snnkit-run"]) == 2
    err = capsys.readouterr().err
    assert "'out_dir' must lie under one of" in err and "SNNKIT_OUT_ROOTS" in err
