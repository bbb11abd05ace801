"""`make bench` → bench/compare.json: `hardtool compare` on its defaults (HARD-Edge and every peer
at 128×256, STM32F746NG), its wall time against the 5-minute goal, and whether HARD-Edge is the only
model that fits in int8."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import write_result

GOAL_S = 300.0


def _summary(doc: dict) -> dict:
    """Per model: peak SRAM (ours, TFLM) in FP32 and int8, whether it fits, or its error."""
    rows = {}
    for r in doc["models"]:
        if "error" in r:
            rows[r["name"]] = {"error": r["error"]}
            continue
        rows[r["name"]] = {
            dt: {
                "plan_peak_bytes": r[dt]["plan"]["peak_sram_bytes"],
                "tflm_arena_bytes": (r[dt].get("tflm") or {}).get("arena_bytes"),
                **({"tflm_error": r[dt]["tflm"]["error"]} if "error" in (r[dt].get("tflm") or {}) else {}),
                "fits": r[dt]["plan"]["fits"],
                "weights_bytes": r[dt]["weights_bytes"],
            }
            for dt in ("float32", "int8")
        } | {"params": r["params"], "macs": r["macs"], "seconds": r.get("seconds")}
    return rows


def run_bench(out_dir: Path, work: Path) -> dict:
    """Benchmark entry: the default comparison, timed, → bench/compare.json."""
    from hardtool.compare.run import CompareOptions, compare_models

    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    doc = compare_models(Path(work) / "compare", CompareOptions(), force=True, progress=False)
    total = time.perf_counter() - t0
    fits_int8 = sorted(n for n, r in _summary(doc).items() if "int8" in r and r["int8"]["fits"])
    res = {
        "input_size": doc.get("input_size"),
        "target": doc.get("target"),
        "models": _summary(doc),
        "failed": doc["failed"],
        "fits_int8": fits_int8,
        "only_hard_edge_fits_int8": fits_int8 == ["hard_edge"],
        "paper": doc.get("paper"),
        "total_s": round(total, 1),
        "goal_total_s": GOAL_S,
        "goal_met": total < GOAL_S,
        "cpu_cores": os.cpu_count(),
        "load_average_1min": {"start": round(load0, 2), "end": round(os.getloadavg()[0], 2)},
    }
    res = write_result(Path(out_dir) / "compare.json", res)
    return res
