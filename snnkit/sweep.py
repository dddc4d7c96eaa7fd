"""Headless sweeps: one papermill execution per grid point, on local processes or a Dask cluster.

    snnkit sweep F2 --grid hidden=64,128 --grid seed=0,1,2 --executor dask --out runs/f2-sweep

Every point writes its executed notebook and ``metrics.json`` into ``OUT/pNNN/``; the table of all
points goes to ``OUT/results.jsonl`` (one JSON object per point) and ``OUT/results.csv`` (flat
columns). A point that fails is recorded with its error; the others still run.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import chapters

EXECUTORS = ("local", "dask")


def parse_grid(specs: list[str]) -> list[dict]:
    """``["hidden=64,128", "seed=0,1"]`` -> the 4 points of their product, values parsed as YAML
    (``64`` an int, ``0.5`` a float, ``digits`` a string), in row-major order."""
    import yaml

    axes = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"--grid takes NAME=V1,V2,...; got {spec!r}")
        axes[name.strip()] = [yaml.safe_load(v) for v in values.split(",")]
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def run_point(chapter_id: str, params: dict, out: str) -> dict:
    """Execute one chapter with ``params`` into folder ``out``; never raises. Returns the row:
    params, status ("ok" or "failed"), error, seconds, metrics, checks, notebook path."""
    import papermill as pm

    ch = chapters.find(chapter_id)
    folder = Path(out).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["SNNKIT_OUT_ROOTS"] = os.pathsep.join(
        p for p in (os.environ.get("SNNKIT_OUT_ROOTS"), str(folder)) if p)
    notebook = folder / ch.path.name
    row = {"chapter": ch.id, "params": params, "status": "ok", "error": None,
           "notebook": str(notebook)}
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(ch.path), str(notebook), cwd=str(ch.path.parent),
                            parameters={**params, "out_dir": str(folder)}, progress_bar=False)
    except pm.PapermillExecutionError as err:
        row.update(status="failed", error=f"cell {err.exec_count}: {err.ename}: {err.evalue}")
    except Exception as err:  # a dead kernel, a bad parameter name: record it, go on
        row.update(status="failed", error=f"{type(err).__name__}: {err}")
    row["seconds"] = round(time.perf_counter() - start, 2)
    metrics = folder / "metrics.json"
    saved = json.loads(metrics.read_text()) if metrics.is_file() else {}
    row["metrics"] = saved.get("metrics", {})
    row["checks"] = {k: c["passed"] for k, c in saved.get("checks", {}).items()}
    return row


def _flat(row: dict) -> dict:
    flat = {k: row[k] for k in ("chapter", "status", "error", "seconds", "notebook")}
    flat.update({f"param.{k}": v for k, v in row["params"].items()})
    flat.update({f"metric.{k}": json.dumps(v) if isinstance(v, (dict, list)) else v
                 for k, v in row["metrics"].items()})
    flat.update({f"check.{k}": v for k, v in row["checks"].items()})
    return flat


def write_table(rows: list[dict], out: Path) -> Path:
    """``out/results.jsonl`` and ``out/results.csv``; returns the JSON-lines path."""
    jsonl = out / "results.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    flats = [_flat(r) for r in rows]
    columns = list(dict.fromkeys(k for f in flats for k in f))
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(flats)
    return jsonl


def sweep(chapter_id: str, points: list[dict], out, executor: str = "local",
          scheduler: str | None = None, workers: int | None = None) -> list[dict]:
    """Run every point of the grid and write the results table; returns the rows in grid order.

    ``executor="local"``: a process pool of ``workers`` (default: CPU count). ``"dask"``: the
    Dask cluster at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``), or a ``LocalCluster`` of
    ``workers`` single-threaded processes on loopback when no scheduler is given.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    chapters.find(chapter_id)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    folders = [str(out / f"p{i:03d}") for i in range(len(points))]
    ids = [chapter_id] * len(points)
    workers = workers or os.cpu_count() or 1
    if executor == "local":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(run_point, ids, points, folders))
    else:
        from distributed import Client, LocalCluster

        cluster = None if scheduler else LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None)
        try:
            with Client(scheduler or cluster) as client:
                futures = client.map(run_point, ids, points, folders, pure=False)
                rows = client.gather(futures)
        finally:
            if cluster is not None:
                cluster.close()
    for i, row in enumerate(rows):
        row["point"] = i
    write_table(rows, out)
    return rows
