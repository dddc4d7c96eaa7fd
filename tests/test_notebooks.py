"""Every chapter, executed once by papermill with a parameter overridden.

The executed copies go to build/executed/, where the book build reads them, so each chapter runs
once per test session, with networking unavailable to its kernel (tests/offline). Quick-mode wall
time and the kernel's peak memory are listed at the end of the run (time is not asserted: no
timed assertions)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from snnkit import chapters, cli

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "build" / "executed"
NBCHECK = ROOT.parent / "shared" / "tools" / "nbcheck.py"
CLASS_MEMORY_MIB = 24 * 1024


@pytest.mark.parametrize("chapter", chapters.CHAPTERS, ids=lambda c: c.id)
def test_chapter_runs_headless_and_its_claims_hold(chapter, tmp_path):
    nb = nbformat.read(chapter.path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be parameters"
    assert not any(c.outputs for c in code), "commit notebooks with outputs cleared"
    declared = pm.inspect_notebook(str(chapter.path))
    assert {"mode", "seed", "device", "data_root", "out_dir"} <= set(declared)

    EXECUTED.mkdir(parents=True, exist_ok=True)
    out = EXECUTED / chapter.path.name
    start = time.perf_counter()
    pm.execute_notebook(str(chapter.path), str(out), cwd=str(chapter.path.parent),
                        parameters={"seed": 1, "out_dir": str(tmp_path)}, progress_bar=False,
                        execution_timeout=600)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    seconds = time.perf_counter() - start
    with (EXECUTED / "quick_runs.tsv").open("a") as f:          # printed by conftest's summary
        f.write(f"{chapter.id}\t{seconds:.1f}\t{metrics['peak_rss_mb']:.0f}\n")
    assert metrics["chapter"] == chapter.id and metrics["seed"] == 1 and metrics["mode"] == "quick"
    # a hosted class: 8 students' kernels running this chapter at once fit in 24 GiB
    assert 8 * metrics["peak_rss_mb"] < CLASS_MEMORY_MIB
    assert metrics["checks"] and all(c["passed"] for c in metrics["checks"].values())
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert any(o.output_type == "display_data" and "image/png" in o.get("data", {})
               for c in executed.cells if c.cell_type == "code" for o in c.outputs)


def test_static_notebook_checks():
    assert NBCHECK.is_file()
    done = subprocess.run([sys.executable, str(NBCHECK), str(ROOT / "book")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bad_parameter_value_fails_run_with_clear_message(tmp_path, capsys):
    code = cli.main(["run", "F1", "-p", "mode", "fast", "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "'mode' must be one of ('quick', 'full'), got 'fast'" in err
    assert (tmp_path / "f1_lif_neuron.ipynb").is_file()


def test_a_claim_can_fail(tmp_path, capsys):
    """A crippled F2 (one hidden neuron, one epoch, one seed) must fail its learning check."""
    args = ["run", "F2", "-p", "hidden", "1", "-p", "epochs", "1", "-p", "n_seeds", "1",
            "--out", str(tmp_path)]
    assert cli.main(args) == 1
    assert "ClaimError" in capsys.readouterr().err
    checks = json.loads((tmp_path / "metrics.json").read_text())["checks"]
    assert not checks["SNN learns: accuracy far above chance"]["passed"]
