"""``snnkit``: list and run the book's chapters, manage data, write the table of contents.

    snnkit list
    snnkit params CHAPTER
    snnkit run CHAPTER [-p NAME VALUE]... [--out DIR]
    snnkit sweep CHAPTER --grid NAME=V1,V2 ... [--executor local|dask] [--scheduler ADDRESS]
    snnkit data list | verify [NAME...] | fetch NAME... [--root DIR]
    snnkit toc [--check]
    snnkit book [--executed DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import chapters


def _list(_args) -> int:
    print(f"{'id':<4} {'part':<4} {'quick':>6}  {'slug':<22} title — paper")
    for c in chapters.CHAPTERS:
        print(f"{c.id:<4} {c.part:<4} {c.quick_seconds:>5}s  {c.slug:<22} {c.title} — {c.paper}")
    return 0


def _params(args) -> int:
    try:
        ch = chapters.find(args.chapter)
        presets = ch.presets()
    except (KeyError, ValueError) as err:
        print(f"snnkit params: {err.args[0]}", file=sys.stderr)
        return 2
    quick, full = presets["quick"], presets["full"]
    print(f"{ch.id} {ch.title}: knobs by mode (override with `snnkit run {ch.id} -p NAME VALUE`)")
    print(f"{'knob':<16} {'quick':<24} full")
    for name in quick:
        print(f"{name:<16} {quick[name]!r:<24} {full.get(name)!r}")
    print("also: mode ('quick' | 'full'), seed, device ('auto' | 'cpu' | 'cuda'), data_root, "
          "out_dir")
    return 0


def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def _run(args) -> int:
    import papermill as pm

    try:
        ch = chapters.find(args.chapter)
    except KeyError as err:
        print(f"snnkit run: {err.args[0]}", file=sys.stderr)
        return 2
    declared = pm.inspect_notebook(str(ch.path))
    params = {}
    for name, value in args.param:
        if name not in declared:
            print(f"snnkit run: {ch.id} has no parameter {name!r}; its parameters: "
                  f"{', '.join(declared)}", file=sys.stderr)
            return 2
        params[name] = _parse_value(value)
    from .harness import _check_out_dir

    try:
        out = _check_out_dir(Path(args.out or Path("runs") / ch.slug))
    except ValueError as err:
        print(f"snnkit run: {err}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    # the kernel runs in the chapter's folder: let it write where this command was allowed to
    os.environ["SNNKIT_OUT_ROOTS"] = os.pathsep.join(
        p for p in (os.environ.get("SNNKIT_OUT_ROOTS"), str(out)) if p)
    params["out_dir"] = str(out)
    executed = out / ch.path.name
    try:
        pm.execute_notebook(str(ch.path), str(executed), parameters=params, cwd=str(ch.path.parent),
                            progress_bar=False, log_output=args.verbose)
    except pm.PapermillExecutionError as err:
        print(f"snnkit run: {ch.id} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
              f"executed notebook: {executed}", file=sys.stderr)
        return 1
    metrics = out / "metrics.json"
    print(f"executed notebook: {executed}\nmetrics: {metrics}")
    if metrics.is_file():
        checks = json.loads(metrics.read_text()).get("checks", {})
        for name, c in checks.items():
            print(f"  [{'PASS' if c['passed'] else 'FAIL'}] {name}: {c['detail']}")
    return 0


def _sweep(args) -> int:
    from . import sweep

    try:
        ch = chapters.find(args.chapter)
        points = sweep.parse_grid(args.grid)
    except (KeyError, ValueError) as err:
        print(f"snnkit sweep: {err.args[0]}", file=sys.stderr)
        return 2
    out = Path(args.out or Path("runs") / f"{ch.slug}-sweep")
    start = time.perf_counter()
    rows = sweep.sweep(ch.id, points, out, args.executor, args.scheduler, args.workers)
    failed = [r for r in rows if r["status"] != "ok"]
    for r in rows:
        print(f"  p{r['point']:03d} {r['status']:<6} {r['seconds']:7.1f}s {r['params']}"
              + (f"  {r['error']}" if r["error"] else ""))
    print(f"{len(rows)} points, {len(failed)} failed, {time.perf_counter() - start:.1f} s wall; "
          f"table: {out.resolve() / 'results.jsonl'} (and results.csv)")
    return 1 if failed else 0


def _data(args) -> int:
    from . import data

    if args.action == "list":
        for d in data.REGISTRY.values():
            where = f"{d.folder}/ under the data root" if d.folder else "ships with a package"
            print(f"{d.name:<16} {d.description}\n{'':<16} source: {d.source}; licence: "
                  f"{d.licence}; {where}")
        print(f"data root: {data.data_root(args.root)}")
        return 0
    names = args.names or [n for n, d in data.REGISTRY.items() if d.folder]
    for name in names:
        try:
            folder = (data.fetch if args.action == "fetch" else data.verify)(name, args.root)
        except (data.DataError, ValueError, OSError) as err:
            print(f"snnkit data {args.action}: {err}", file=sys.stderr)
            return 1
        print(f"{name}: ok ({folder})")
    return 0


def _toc(args) -> int:
    path = chapters.BOOK / "_toc.yml"
    text = chapters.toc()
    if args.check:
        if not path.is_file() or path.read_text() != text:
            print(f"{path} is out of date: run `snnkit toc`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


def _book(args) -> int:
    """Build the HTML book. With ``--executed DIR``, stage a copy of book/ whose notebooks are the
    executed ones in DIR (named like the sources) and build it without executing again."""
    import shutil
    import subprocess

    source = chapters.BOOK
    if args.executed:
        executed = Path(args.executed)
        missing = [c.id for c in chapters.CHAPTERS if not (executed / c.path.name).is_file()]
        if missing:
            print(f"snnkit book: no executed notebook in {executed} for {missing}",
                  file=sys.stderr)
            return 1
        source = Path("build") / "book"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(chapters.BOOK, source, ignore=shutil.ignore_patterns("_build"))
        for c in chapters.CHAPTERS:
            shutil.copy(executed / c.path.name, source / c.notebook)
        config = source / "_config.yml"
        config.write_text(config.read_text().replace("execute_notebooks: cache",
                                                     "execute_notebooks: \"off\""))
    jupyter_book = Path(sys.executable).with_name("jupyter-book")  # beside this Python
    done = subprocess.run([str(jupyter_book), "build", "--all", "-W", "-n", "--keep-going",
                           str(source)])
    if done.returncode != 0:
        return done.returncode
    html = source / "_build" / "html"
    if args.executed:
        missing = _pages_without_figures(html)
        if missing:
            print(f"snnkit book: no executed figure on the pages of {missing}", file=sys.stderr)
            return 1
    print(f"book: {(html / 'index.html').resolve()}")
    return 0


def _pages_without_figures(html: Path) -> list[str]:
    """Chapter ids whose built page shows no output image that exists on disk."""
    import re

    missing = []
    for c in chapters.CHAPTERS:
        page = html / Path(c.notebook).with_suffix(".html")
        text = page.read_text() if page.is_file() else ""
        images = re.findall(r'<img[^>]*src="([^"]+\.png)"', text)
        if not any((page.parent / src).is_file() for src in images):
            missing.append(c.id)
    return missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="snnkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="chapters, parts, papers and quick-mode times").set_defaults(
        func=_list)
    params = sub.add_parser("params", help="a chapter's knobs with their quick and full values")
    params.add_argument("chapter", help="chapter id (F2) or slug (surrogate-gradients)")
    params.set_defaults(func=_params)
    run = sub.add_parser("run", help="execute a chapter headless with papermill")
    run.add_argument("chapter", help="chapter id (F2) or slug (surrogate-gradients)")
    run.add_argument("-p", "--param", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="override a parameter (YAML value)")
    run.add_argument("--out", help="output folder (default runs/SLUG)")
    run.add_argument("-v", "--verbose", action="store_true", help="stream the cells' output")
    run.set_defaults(func=_run)
    swp = sub.add_parser("sweep", help="one headless run per grid point, locally or on Dask")
    swp.add_argument("chapter", help="chapter id (F2) or slug (surrogate-gradients)")
    swp.add_argument("--grid", action="append", required=True, metavar="NAME=V1,V2",
                     help="a parameter and its values (repeat for a product grid)")
    swp.add_argument("--executor", choices=["local", "dask"], default="local")
    swp.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    swp.add_argument("--workers", type=int, help="processes (default: CPU count)")
    swp.add_argument("--out", help="output folder (default runs/SLUG-sweep)")
    swp.set_defaults(func=_sweep)
    dat = sub.add_parser("data", help="list, verify or fetch the datasets")
    dat.add_argument("action", choices=["list", "verify", "fetch"])
    dat.add_argument("names", nargs="*")
    dat.add_argument("--root", help="data root (default $SNNKIT_DATA, then ~/.cache/snnkit/data)")
    dat.set_defaults(func=_data)
    toc = sub.add_parser("toc", help="write book/_toc.yml from the chapter registry")
    toc.add_argument("--check", action="store_true", help="fail if _toc.yml is out of date")
    toc.set_defaults(func=_toc)
    book = sub.add_parser("book", help="build the HTML book with Jupyter Book")
    book.add_argument("--executed", help="reuse executed notebooks from this folder")
    book.set_defaults(func=_book)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
