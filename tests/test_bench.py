import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "lif.py"


def test_benchmark_runs_checks_equality_and_prints_ratios():
    done = subprocess.run([sys.executable, str(BENCH), "--shapes", "3x2x256,5x2x128",
                           "--repeat", "1"], capture_output=True, text=True, check=True)
    out = done.stdout
    assert "snnkit (fused, compiled) == snntorch == plain loop" in out
    for row in ("snnkit (fused)", "snnkit (compiled)", "snntorch Leaky loop", "plain PyTorch loop",
                "spikingjelly LIFNode (m)"):
        assert row in out
    assert out.strip().splitlines()[-1].startswith("min speed-up vs snntorch: ")
