"""`make bench` → bench/speed.json: batch-1 FPS of the HARD variants on this machine's CPU (the
paper's Table 2 measured here), with the load and scheduling it was measured under."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import write_result
from hardtool.models.speed import PAPER_SOURCE, bench, order


def _autogroup() -> str | None:
    """The scheduler group's niceness (Linux autogroups share the CPU per group, not per process)."""
    try:
        return Path("/proc/self/autogroup").read_text().strip()
    except OSError:
        return None


def run_bench(out_dir: Path, work: Path) -> dict:
    """Benchmark entry: the HARD variants on this machine's CPU, with 2 threads and with 1 (one
    thread is the steadier number on a shared machine) → bench/speed.json."""
    from hardtool.models import registry

    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    runs = {
        str(n): order(bench(list(registry.VARIANTS), "cpu", warmup=3, runs=30, budget_s=10.0, threads=n))
        for n in (2, 1)
    }
    res = {
        "timed": runs["2"]["timed"],
        "paper_source": PAPER_SOURCE,
        "load_average_1min": {"start": round(load0, 2), "end": round(os.getloadavg()[0], 2)},
        "niceness": os.nice(0),
        "autogroup": _autogroup(),
        "total_s": round(time.perf_counter() - t0, 1),
        "goal_total_s": 180.0,
        "by_threads": runs,
    }
    res = write_result(Path(out_dir) / "speed.json", res)
    return res
