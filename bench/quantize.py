"""`make bench` → bench/quantize.json: quantize time and float vs int8 mIoU of the demo checkpoint."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import DEMO_CKPT, bench_data, write_result


def run_bench(out_dir: Path, work: Path) -> dict:
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
    res = write_result(out_dir / "quantize.json", res)
    return res
