"""`make bench` → bench/device.json: HARD-Edge on the emulated board — instructions per image and
per layer, instructions per MAC, and the serial protocol's throughput."""

from __future__ import annotations

from pathlib import Path

from bench.common import bench_data, demo_model
from hardtool.core.files import atomic_write_json


def run_bench(out_dir: Path, work: Path, n: int = 4) -> dict:
    from hardtool.codegen.generate import generate
    from hardtool.flash_and_bench.run import flash_and_bench
    from hardtool.memplan.files import plan_to_files

    model = demo_model(work)
    plan_json = plan_to_files(model, model.parent, force=True, measure_tflm=False)[2]
    proj = work / "device" / "qemu"
    generate(model, plan_json, "qemu", proj, force=True)
    r = flash_and_bench(proj, bench_data(work), n=n, board="qemu", progress=False, log=lambda *_: None)
    macs = sum(row.get("macs", 0) for row in r["per_layer"])
    res = {
        "model": "hard_edge 128x256 (bundled demo checkpoint)",
        "board": "qemu mps2-an500 (emulated Cortex-M7)",
        "unit": r["latency"]["unit"],
        "images": r["completed"],
        "bit_exact": r["agreement"]["bit_exact"],
        "instructions_per_image": r["latency"],
        "macs_per_image": macs,
        "instructions_per_mac": r["latency"]["mean"] / macs if macs else None,
        "per_layer": r["per_layer"],
        "protocol": r["protocol"],
        "sram": r["sram"],
    }
    atomic_write_json(out_dir / "device.json", res)
    return res
