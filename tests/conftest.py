import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
os.environ.setdefault("SNNKIT_DATA", str(SHARED_DATA))

# Every process the tests start (each notebook kernel too) runs with networking made unavailable
# except loopback: see tests/offline/sitecustomize.py. A chapter that tried to download would fail.
OFFLINE = Path(__file__).resolve().parent / "offline"
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(OFFLINE), os.environ.get("PYTHONPATH")) if p)

# The notebook tests append one line per chapter (id, seconds, kernel peak MiB) here; the summary
# at the end of the run prints them, so `make test` shows every chapter's time and memory.
QUICK_RUNS = ROOT / "build" / "executed" / "quick_runs.tsv"


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):      # the controller, not an xdist worker
        QUICK_RUNS.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter):
    if not QUICK_RUNS.is_file():
        return
    rows = [line.split("\t") for line in QUICK_RUNS.read_text().splitlines()]
    terminalreporter.section("chapters: quick-mode wall time and kernel peak memory")
    for cid, secs, mib in sorted(rows, key=lambda r: -float(r[2])):
        terminalreporter.write_line(f"{cid:>4}  {float(secs):6.1f} s  {float(mib):6.0f} MiB")
    peak = max(float(r[2]) for r in rows)
    terminalreporter.write_line(f"largest peak {peak:.0f} MiB: 8 kernels need "
                                f"{8 * peak / 1024:.1f} GiB")
