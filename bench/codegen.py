"""`make bench` → bench/codegen.json: flash and RAM of the HARD-Edge firmware, codegen and build time."""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import demo_model, write_result


def run_bench(out_dir: Path, work: Path) -> dict:
    from hardtool.build.firmware import build_firmware
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    model = demo_model(work)
    # every technique, as `hardtool run` plans it for the board firmware (the input streamed)
    opts = PlanOptions(stream=True)
    doc, _, plan_json, _ = plan_to_files(model, model.parent, force=True, measure_tflm=False, options=opts)
    res: dict = {
        "model": "hard_edge 128x256 (bundled demo checkpoint)",
        "arena_size": doc["arena_size"],
        "memplan_peak": doc["peak"]["total_bytes"],
        "templates": {},
    }
    for template in ("qemu", "baremetal"):
        t0 = time.perf_counter()
        cg = generate(model, plan_json, template, work / "codegen" / template, force=True)
        t1 = time.perf_counter()
        b = build_firmware(work / "codegen" / template)
        t2 = time.perf_counter()
        res["templates"][template] = {
            "board": b.board,
            "ram_bytes": b.ram_used,
            "flash_bytes": b.flash_used,
            "ram_budget": b.ram_total,
            "flash_budget": b.flash_total,
            "weights_bytes": cg["weights_bytes"],
            "layers": cg["layers"],
            "ram_minus_memplan_peak": b.ram_used - doc["peak"]["total_bytes"],
            "statics_bytes": b.statics_bytes,
            "memplan_statics_estimate": doc["peak"]["parts"]["runtime_statics"]["bytes"],
            "codegen_s": round(t1 - t0, 3),
            "build_s": round(t2 - t1, 3),
        }
    res = write_result(out_dir / "codegen.json", res)
    return res
