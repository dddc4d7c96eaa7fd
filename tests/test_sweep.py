import csv
import json

import pytest

from snnkit import cli
from snnkit.sweep import parse_grid, sweep


def test_grid_is_the_product_of_parsed_values():
    assert parse_grid(["beta=0.5,0.9", "mode=quick"]) == [
        {"beta": 0.5, "mode": "quick"}, {"beta": 0.9, "mode": "quick"}]
    assert parse_grid(["steps=100,200", "seed=0,1"])[1] == {"steps": 100, "seed": 1}
    with pytest.raises(ValueError, match="NAME=V1,V2"):
        parse_grid(["beta"])


def test_sweep_on_a_local_dask_cluster_records_failures_and_finishes_the_rest(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = cli.main(["sweep", "F1", "--grid", "steps=100", "--grid", "beta=0.5,0.9,1.5",
                     "--executor", "dask", "--workers", "2", "--out", str(out)])
    assert code == 1                                  # one point failed
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["params"]["beta"] for r in rows] == [0.5, 0.9, 1.5]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert "parameter 'beta'" in rows[2]["error"]
    for r in rows[:2]:
        assert r["checks"] and all(r["checks"].values()) and r["seconds"] > 0
        assert (out / f"p{r['point']:03d}" / "f1_lif_neuron.ipynb").is_file()
    table = list(csv.DictReader(open(out / "results.csv")))
    assert [t["status"] for t in table] == ["ok", "ok", "failed"]
    assert "3 points, 1 failed" in capsys.readouterr().out


def test_sweep_on_local_processes(tmp_path):
    rows = sweep("F1", [{"steps": 100, "seed": 3}], tmp_path, executor="local", workers=1)
    assert rows[0]["status"] == "ok" and rows[0]["params"]["seed"] == 3
    saved = json.loads((tmp_path / "p000" / "metrics.json").read_text())
    assert saved["seed"] == 3 and saved["params"]["steps"] == 100
