"""Keeps the benchmarks from rotting: ``python -m bench.run --quick --no-write`` must run
every benchmark at tiny sizes and leave ``bench/RESULTS.md`` alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"


def test_quick_bench_runs_every_benchmark_without_writing_results() -> None:
    before = RESULTS.stat().st_mtime_ns if RESULTS.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,  # a guard against a hang, not a speed check: the machine is shared
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for number in range(1, 9):
        assert f"## {number}. " in done.stdout, f"benchmark {number} printed nothing"
    assert (RESULTS.stat().st_mtime_ns if RESULTS.exists() else None) == before
