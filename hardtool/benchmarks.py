"""`make bench`: every stage's speed and memory numbers, measured, as JSON under bench/.

Each stage that exists contributes one file: quantize.json (this module), memplan.json,
codegen.json and device.json (from the stages' own bench modules), kernels.json (bench/kernels.py:
the int8 kernels per layer class and the HARD-Edge frame, portable vs DSP, in exact instructions)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

from hardtool.fsutil import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
DEMO_CKPT = ROOT / "hardtool" / "zoo" / "hard_edge_synth.pt"


def bench_data(work: Path) -> Path:
    """The demo dataset (same seed and size as the README), generated once."""
    from hardtool.data.synth import generate

    root = work / "synth"
    if not (root / "leftImg8bit" / "val").is_dir():
        generate(root, 64, seed=0, splits=("train",))
        generate(root, 100, seed=0, splits=("val",))
    return root


def bench_quantize(out_dir: Path, work: Path) -> dict:
    from hardtool.quantize.pipeline import quantize

    data = bench_data(work)
    t0 = time.perf_counter()
    r = quantize(DEMO_CKPT, data, work / "quantize", calib_images=64, force=True, progress=False)
    total = time.perf_counter() - t0
    res = {
        "model": "hard_edge (bundled demo checkpoint)",
        "input_size": r["input_quant"]["size"],
        "cores": os.cpu_count(),
        "steps_s": r["timings_s"],
        "total_s": round(total, 2),
        "quantize_only_s": round(sum(v for k, v in r["timings_s"].items() if not k.startswith("eval")), 2),
        "goal_quantize_s": 60.0,
        "eval_images": r["eval"]["images"],
        "float_miou": r["eval"]["float"]["miou"],
        "int8_miou": r["eval"]["int8"]["miou"],
        "miou_drop_points": 100 * r["miou_drop"],
        "model_bytes": r["model_bytes"],
    }
    atomic_write_json(out_dir / "quantize.json", res)
    return res


STAGES = [
    ("quantize", "hardtool.benchmarks:bench_quantize"),
    ("memplan", "hardtool.memplan.bench:run_bench"),
    ("codegen", "hardtool.codegen.bench:run_bench"),
    ("device", "hardtool.bench.device_bench:run_bench"),
    ("kernels", "bench.kernels:run_bench"),
]


def main(argv: list[str] | None = None) -> int:
    out_dir = ROOT / "bench"
    work = ROOT / "build" / "bench"
    out_dir.mkdir(exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    only = set(argv or sys.argv[1:])
    failed = 0
    for name, target in STAGES:
        if only and name not in only:
            continue
        mod, fn = target.split(":")
        try:
            func = getattr(importlib.import_module(mod), fn)
        except (ModuleNotFoundError, AttributeError):
            print(f"[bench] {name}: stage not available, skipped")
            continue
        t0 = time.perf_counter()
        try:
            res = func(out_dir, work)
        except Exception as e:  # noqa: BLE001 - report and continue with the other stages
            failed += 1
            print(f"[bench] {name}: FAILED: {type(e).__name__}: {e}")
            continue
        print(f"[bench] {name} ({time.perf_counter() - t0:.1f} s) → bench/{name}.json")
        print(json.dumps(res, indent=2)[:3000])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
