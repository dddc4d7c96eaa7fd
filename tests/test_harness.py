import json
from pathlib import Path

import pytest
import torch

from snnkit import chapters, cli
from snnkit.exercises import SOLVED, UNSOLVED, WRONG, check
from snnkit.harness import ClaimError, setup
from snnkit.models import MLP, SpikingMLP
from snnkit.train import evaluate, fit, resolve_device

PRESETS = {"quick": dict(epochs=2, hidden=8, lr=0.01, dataset="digits"),
           "full": dict(epochs=20, hidden=64, lr=0.001, dataset="mnist5k")}


def make(**kw):
    args = dict(mode="quick", presets=PRESETS, choices={"dataset": ("digits", "mnist5k")})
    args.update(kw)
    return setup("F2", **args)


def test_presets_and_overrides(tmp_path):
    run = make(out_dir=str(tmp_path), overrides=dict(epochs=None, hidden=16, lr=1))
    assert (run.epochs, run.hidden, run.lr) == (2, 16, 1.0)
    assert make(mode="full").epochs == 20


@pytest.mark.parametrize("kw, message", [
    (dict(mode="fast"), r"'mode' must be one of \('quick', 'full'\), got 'fast'"),
    (dict(seed=-1), "'seed' must be a non-negative int"),
    (dict(seed="1"), "'seed' must be a non-negative int"),
    (dict(overrides=dict(hidden=2.5)), "'hidden' must be a whole number"),
    (dict(overrides=dict(hidden="big")), "'hidden' must be a number"),
    (dict(overrides=dict(epochs=0)), r"'epochs' must be in the open interval \(0, inf\)"),
    (dict(overrides=dict(lr=1.0), limits=dict(lr=(0, 1))), r"'lr' must be in .* \(0, 1\)"),
    (dict(overrides=dict(dataset="cifar")), "'dataset' must be one of"),
    (dict(overrides=dict(width=3)), "'width' is not a knob of F2"),
    (dict(device=3), "'device' must be"),
    (dict(out_dir=5), "'out_dir' must be a path"),
    (dict(out_dir="/etc/snnkit-run"), "'out_dir' must lie under one of: .*got '/etc/snnkit-run'"),
])
def test_bad_parameters_are_named(kw, message):
    with pytest.raises(ValueError, match=message):
        make(**kw)


def test_check_records_and_fails_loudly(tmp_path):
    run = make(out_dir=str(tmp_path))
    run.check("holds", True, "1 < 2")
    run.record(acc=0.9)
    with pytest.raises(ClaimError, match="claim 'breaks' failed: 3 < 2"):
        run.check("breaks", False, "3 < 2")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["checks"]["holds"]["passed"] and not saved["checks"]["breaks"]["passed"]
    assert saved["metrics"]["acc"] == 0.9 and saved["params"]["hidden"] == 8
    assert saved["peak_rss_mb"] > 10


def test_more_output_places_can_be_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNKIT_OUT_ROOTS", "/srv/course")
    assert make(out_dir="/srv/course/run1").out_dir == Path("/srv/course/run1")


def test_exercise_checker_never_raises(capsys):
    def stub(x):
        ...

    def not_impl(x):
        raise NotImplementedError

    def buggy(x):
        return x.nope

    ref = lambda x: x * 2  # noqa: E731
    x = torch.arange(3.0)
    assert check(stub, ref, x) == UNSOLVED
    assert check(not_impl, ref, x) == UNSOLVED
    assert check(buggy, ref, x, hint="multiply") == WRONG
    assert check(lambda x: x * 3, ref, x) == WRONG
    assert check(lambda x: (x * 2, 1), lambda x: (x * 2, 1), x) == SOLVED
    assert check(..., 2.0) == UNSOLVED and check(2.0, 2.0) == SOLVED
    assert "not solved yet" in capsys.readouterr().out


def test_fit_learns_a_separable_problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 4, generator=g)
    y = (X[:, 0] > 0).long()
    for net in (MLP((4, 16, 2)), SpikingMLP((4, 16, 2), T=4)):
        history = fit(net, (X, y), (X, y), epochs=15, lr=0.02, batch_size=32, progress=False)
        assert history["train_loss"][-1] < history["train_loss"][0]
        assert evaluate(net, X, y)["acc"] > 0.85
    # sample-first storage of spike trains [N, T, in], handed to the model time-first
    spikes = (torch.rand(200, 6, 4, generator=g) < (X > 0).float()[:, None] * 0.8).float()
    net = SpikingMLP((4, 16, 2), T=6)
    history = fit(net, (spikes, y), (spikes, y), epochs=10, lr=0.02, batch_size=32,
                  progress=False, time_first=True)
    assert history["val_acc"][-1] > 0.85
    assert evaluate(net, spikes, y, time_first=True)["acc"] == history["val_acc"][-1]


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_registry_toc_and_notebooks_agree():
    assert (chapters.BOOK / "_toc.yml").read_text() == chapters.toc()
    assert all(c.path.is_file() for c in chapters.CHAPTERS)
    assert len({c.id for c in chapters.CHAPTERS}) == len(chapters.CHAPTERS)
    assert chapters.find("f2").slug == chapters.find("surrogate-gradients").slug
    with pytest.raises(KeyError, match="no chapter"):
        chapters.find("F9")


def test_cli_list_and_refusals(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(c.id in out and c.title in out for c in chapters.CHAPTERS)
    assert cli.main(["run", "F1", "-p", "widht", "3"]) == 2
    err = capsys.readouterr().err
    assert "F1 has no parameter 'widht'" in err and "steps" in err
    assert cli.main(["run", "F9"]) == 2
    assert cli.main(["data", "verify", "tinyshakespeare"]) == 0


@pytest.mark.parametrize("chapter", chapters.CHAPTERS, ids=lambda c: c.id)
def test_every_knob_has_a_quick_and_a_full_value_and_a_parameter(chapter):
    import papermill as pm

    presets = chapter.presets()
    assert set(presets) == {"quick", "full"}
    assert presets["quick"].keys() == presets["full"].keys()
    declared = pm.inspect_notebook(str(chapter.path))
    assert set(presets["quick"]) <= set(declared), "every knob is a parameter of the notebook"


def test_cli_params_shows_quick_and_full(capsys):
    assert cli.main(["params", "F2"]) == 0
    out = capsys.readouterr().out
    assert "hidden           128                      512" in out
    assert cli.main(["params", "F9"]) == 2


def test_book_check_finds_pages_without_executed_figures(tmp_path):
    first, second = chapters.CHAPTERS[:2]
    for c, body in ((first, '<img alt="" src="../_images/fig.png" />'), (second, "<p>text</p>")):
        page = tmp_path / c.notebook.replace(".ipynb", ".html")
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(body)
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "fig.png").write_bytes(b"png")
    missing = cli._pages_without_figures(tmp_path)
    assert first.id not in missing and second.id in missing


def test_peak_memory_is_the_process_own_not_its_parents():
    """A kernel started by a big process must not report the parent's peak (``ru_maxrss``
    survives fork and exec on Linux)."""
    import subprocess
    import sys

    ballast = bytearray(1024 * 2**20)               # 1 GiB, touched so it is resident
    ballast[::4096] = b"\1" * len(ballast[::4096])
    code = "from snnkit.harness import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout)
    del ballast
    assert 10 < child < 900                         # torch imported, but no inherited GiB
