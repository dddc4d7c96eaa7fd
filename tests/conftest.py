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
