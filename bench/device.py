"""`make bench` → bench/device.json: HARD-Edge on the emulated board — instructions per image and
per layer, instructions per MAC, the serial protocol's throughput and the measured peak SRAM, at
128×256 with every memplan technique (the input streamed row by row into the first layers) and
without streaming (the whole input in SRAM), and at 192×384 with every technique."""

from __future__ import annotations

from pathlib import Path

from bench.common import DEMO_CKPT, bench_data, demo_model, write_result

DEVICE_TARGET_BYTES = 100_000  # issue 11: HARD-Edge 128×256 measured peak SRAM on the device


def _model(work: Path, size: tuple[int, int]) -> Path:
    """The bundled checkpoint quantized at ``size`` (128×256: the quantize benchmark's model)."""
    from hardtool.quantize.pipeline import quantize

    if size == (128, 256):
        return demo_model(work)
    q = work / f"quantize_{size[0]}x{size[1]}"
    if not (q / "model_int8.tflite").is_file():
        quantize(DEMO_CKPT, bench_data(work), q, calib_images=16, input_size=size, force=True, progress=False)
    return q / "model_int8.tflite"


def measure(work: Path, size: tuple[int, int], stream: bool, n: int) -> dict:
    from hardtool.codegen.generate import generate
    from hardtool.flash_and_bench.run import flash_and_bench
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    model = _model(work, size)
    name = f"{size[0]}x{size[1]}_{'streamed' if stream else 'whole_input'}"
    folder = work / "device" / name
    doc, _, plan_json, _ = plan_to_files(
        model, folder, force=True, measure_tflm=False, options=PlanOptions(stream=stream)
    )
    proj = folder / "qemu"
    generate(model, plan_json, "qemu", proj, force=True)
    r = flash_and_bench(
        proj, bench_data(work), n=n, board="qemu", progress=False, log=lambda *_: None, force=True
    )
    macs = sum(row.get("macs", 0) for row in r["per_layer"])
    return {
        "model": f"hard_edge {size[0]}x{size[1]} (bundled demo checkpoint)",
        "stage": doc.get("stage"),
        "memplan_arena": doc["arena_size"],
        "images": r["completed"],
        "bit_exact": r["agreement"]["bit_exact"],
        "instructions_per_image": r["latency"],
        "macs_per_image": macs,
        "instructions_per_mac": r["latency"]["mean"] / macs if macs else None,
        "per_layer": r["per_layer"],
        "protocol": r["protocol"],
        "sram": r["sram"],
    }


def run_bench(out_dir: Path, work: Path, n: int = 4) -> dict:
    runs = {
        "hard_edge_128x256": measure(work, (128, 256), True, n),
        "hard_edge_128x256_whole_input": measure(work, (128, 256), False, n),
        "hard_edge_192x384": measure(work, (192, 384), True, 2),
    }
    edge, whole = runs["hard_edge_128x256"], runs["hard_edge_128x256_whole_input"]
    latency = edge["instructions_per_image"]["mean"] / whole["instructions_per_image"]["mean"]
    res = {
        "board": "qemu mps2-an500 (emulated Cortex-M7)",
        "unit": edge["instructions_per_image"]["unit"],
        "runs": runs,
        "streamed_vs_whole_input_latency": round(latency, 4),
        "goals": {
            "hard_edge_128x256_peak_le_100000": edge["sram"]["measured_peak"] <= DEVICE_TARGET_BYTES,
            "hard_edge_192x384_bit_exact_within_320KiB": runs["hard_edge_192x384"]["bit_exact"]
            and runs["hard_edge_192x384"]["sram"]["measured_peak"] <= 320 * 1024,
            "streamed_latency_within_10pct": latency <= 1.10,
            "all_bit_exact": all(r["bit_exact"] for r in runs.values()),
        },
    }
    res = write_result(out_dir / "device.json", res)
    return res
