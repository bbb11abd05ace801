"""`make bench` → bench/models.json: the MLPerf Tiny reference files (read where they are kept,
never copied into the repository) through memplan → codegen → build → the emulated board: every
output bit-exact with TFLite's reference kernels, exact instructions per inference on the
emulated Cortex-M7 next to the cycles X-CUBE-AI 8.0 needs on a Cortex-M7 (published MLPerf Tiny
v1.1 results), and our arena next to TFLite Micro's; where ``--lean-kernels`` changes the plan,
the lean build is run too (``lean``: its arena, measured SRAM and instructions, bit-exact).
``foreign_models``: the seven kinds of models users bring (bench/foreign.py); ``peers``: the ten
peer models as published on the emulated board (bench/peers.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from bench.common import mlperf_dir, write_result

MLPERF_DIR = mlperf_dir() or Path("shared/mlperf-tiny")  # absent: the tests that need it skip
FILES = {
    "vww_96_int8": "visual wake words (MobileNetV1 0.25, 96x96)",
    "resnet8_quant": "image classification (ResNet-8, CIFAR-10)",
    "kws_ref_model": "keyword spotting (DS-CNN)",
    "ad01_int8": "anomaly detection (FC autoencoder)",
    "strm_ww_int8": "streaming wake word (1-D DS-CNN)",
}
# MLPerf Tiny v1.1 closed division, X-CUBE-AI 8.0 on NUCLEO-H7A3ZI-Q (Cortex-M7 at 280 MHz)
XCUBE_MS = {"vww_96_int8": 50.3, "resnet8_quant": 54.9, "kws_ref_model": 16.4}
XCUBE_MHZ = 280
INPUTS = 3


def _inputs(folder: Path, summary: dict, seed: int) -> Path:
    """Random input files (the int8 range of the model's input): one raw file per sample."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(INPUTS):
        xs = [rng.integers(-128, 128, t["dims"]).astype(t["dtype"]) for t in summary["inputs"]]
        (folder / f"input{i}.bin").write_bytes(b"".join(x.tobytes() for x in xs))
    return folder


def _xcube(name: str, instructions: float) -> dict | None:
    if name not in XCUBE_MS:
        return None
    cycles = XCUBE_MS[name] * 1e-3 * XCUBE_MHZ * 1e6
    return {
        "ms": XCUBE_MS[name],
        "cycles_at_280mhz": round(cycles),
        "ours_instructions_per_xcube_cycle": round(instructions / cycles, 3),
        "note": "ours: instructions on the emulated Cortex-M7; X-CUBE-AI: cycles on a real one",
    }


def _lean(tfl: Path, folder: Path, data: Path, plain: dict) -> dict | None:
    """The model planned with --lean-kernels, built and run: None when that plan is the same."""
    from hardtool.codegen.generate import generate
    from hardtool.flash_and_bench.run import flash_and_bench
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    lean_dir = folder / "lean"
    lean_dir.mkdir(parents=True, exist_ok=True)
    opts = PlanOptions(lean_kernels=True)
    doc, _, _, _ = plan_to_files(tfl, lean_dir, force=True, measure_tflm=False, options=opts)
    if not doc["lean_ops"]:
        return None
    generate(tfl, lean_dir / "model_int8.memplan.json", "qemu", lean_dir / "qemu", force=True)
    r = flash_and_bench(
        lean_dir / "qemu", data, n=INPUTS, board="qemu", progress=False, log=lambda *_: None, force=True
    )
    mean = r["latency"]["mean"]
    return {
        "lean_ops": [f"#{e['op']} {e['name']}" for e in doc["lean_ops"]],
        "portable_macs": sum(e["macs"] for e in doc["lean_ops"]),
        "arena_bytes": doc["arena_size"],
        "measured_sram": r["sram"],
        "bit_exact": r["agreement"]["bit_exact"],
        "instructions_per_inference": r["latency"],
        "instructions_vs_default": round(mean / plain["latency"]["mean"], 3),
    }


def measure(name: str, work: Path) -> dict:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    tfl = folder / "model_int8.tflite"
    shutil.copy(MLPERF_DIR / f"{name}.tflite", tfl)
    return {"task": FILES[name], **measure_tflite(tfl, folder, name)}


def measure_tflite(tfl: Path, folder: Path, name: str = "") -> dict:
    """``folder``/model_int8.tflite planned (with TFLite Micro's arena), generated for the emulated
    board, run on ``INPUTS`` random inputs and again with --lean-kernels where that plan differs."""
    from hardtool.codegen.generate import generate
    from hardtool.flash_and_bench.run import flash_and_bench
    from hardtool.memplan.files import plan_to_files

    doc, _, _, _ = plan_to_files(tfl, folder, force=True, measure_tflm=True)
    cg = generate(tfl, folder / "model_int8.memplan.json", "qemu", folder / "qemu", force=True)
    data = _inputs(folder / "inputs", cg, seed=0)
    r = flash_and_bench(
        folder / "qemu", data, n=INPUTS, board="qemu", progress=False, log=lambda *_: None, force=True
    )
    mean = r["latency"]["mean"]
    lean = _lean(tfl, folder, data, r)
    tflm = doc.get("tflm_arena") or {}
    return {
        "layers": cg["layers"],
        "macs": cg["macs"],
        "inputs_run": r["completed"],
        "bit_exact": r["agreement"]["bit_exact"],
        "outputs": r["agreement"]["per_tensor"],
        "instructions_per_inference": r["latency"],
        "instructions_per_mac": round(mean / cg["macs"], 3) if cg["macs"] else None,
        "xcube_ai_8_cortex_m7": _xcube(name, mean),
        "arena_bytes": doc["arena_size"],
        "tflm_arena_bytes": tflm.get("arena_bytes"),
        "arena_vs_tflm": round(doc["arena_size"] / tflm["arena_bytes"], 4)
        if tflm.get("arena_bytes")
        else None,
        "tflm_error": tflm.get("error"),
        "memplan_peak_bytes": doc["peak"]["total_bytes"],
        "measured_sram": r["sram"],
        "flash_bytes": r["build"]["flash_used"],
        "weights_bytes": cg["weights_bytes"],
        "per_layer": r["per_layer"],
        "lean": lean,
    }


def _xcube_report() -> dict | None:
    """ST Edge AI Core's own report for strm_ww_int8 (activations with inputs and outputs)."""
    path = MLPERF_DIR / "strm_ww_int8.xcubeai_report.json"
    if not path.is_file():
        return None
    rep = json.loads(path.read_text())
    return {k: rep.get(k) for k in ("ram_size", "rom_size", "rom_n_macc", "cli_version_str")}


def run_bench(out_dir: Path, work: Path) -> dict:
    from bench import foreign, peers

    work = Path(work) / "models"
    present = [n for n in FILES if (MLPERF_DIR / f"{n}.tflite").is_file()]
    if not present:
        raise FileNotFoundError(f"no MLPerf Tiny files in {MLPERF_DIR} (set HARDTOOL_MLPERF_TINY)")
    res = {
        "board": "qemu mps2-an500 (emulated Cortex-M7), exact instruction counts",
        "inputs": f"{INPUTS} random int8 inputs per model",
        "models": {name: measure(name, work) for name in present},
        "strm_ww_xcube_ai_report": _xcube_report(),
        "foreign_models": foreign.run_bench(work),
        "peers": peers.run_bench(work),
    }
    res = write_result(out_dir / "models.json", res)
    return res
