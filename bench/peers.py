"""The ten peer models as published (tests/test_peers_deploy.py's seeded weights) on the emulated
board: `hardtool quantize` → memplan → codegen -t qemu → flash-and-bench, recorded in
bench/models.json under ``peers`` (size run, arena, instructions per inference, bit-exact).

Each runs at 128x256 where its plan fits the board's SRAM, else at the largest of ``SIZES`` that
does (tried in order; each size not fitting is recorded with its plan's peak). A model whose int8
weights alone exceed the board's flash fits at no input size: recorded as such, not run.
``python -m bench.peers [NAME ...]`` measures only these and keeps the rest of models.json."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import ROOT, _test_module
from hardtool.core.files import atomic_write_json

SIZES = ((128, 256), (64, 128), (48, 96), (32, 64))
SAMPLES, CALIB, INPUTS = 10, 8, 1


def _quantized(name: str, size: tuple[int, int], work: Path) -> Path:
    from hardtool.quantize import export
    from hardtool.quantize.pipeline import quantize

    peers = _test_module("test_peers_deploy")
    key = f"{name}_{size[0]}x{size[1]}"
    data = work / f"npy_{size[0]}x{size[1]}"
    if not data.is_dir():
        data.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(SAMPLES):
            np.save(data / f"{i:02d}.npy", rng.normal(size=(3, *size)).astype(np.float32))
    onnx_path = work / f"{key}.onnx"
    export.export_onnx(peers.peer_model(name), size, onnx_path)
    out = work / key
    quantize(onnx_path, data, out, calib_images=CALIB, force=True, progress=False, log=lambda s: None)
    return out / "model_int8.tflite"


def _run(tfl: Path, folder: Path) -> dict:
    """Generated for the emulated board and run on ``INPUTS`` random inputs."""
    from bench.models import _inputs
    from hardtool.codegen.generate import generate
    from hardtool.flash_and_bench.run import flash_and_bench

    cg = generate(tfl, folder / "model_int8.memplan.json", "qemu", folder / "qemu", force=True)
    data = _inputs(folder / "inputs", cg, seed=0)
    r = flash_and_bench(
        folder / "qemu", data, n=INPUTS, board="qemu", progress=False, log=lambda *_: None, force=True
    )
    mean = r["latency"]["mean"]
    return {
        "layers": cg["layers"],
        "macs": cg["macs"],
        "inputs_run": r["completed"],
        "bit_exact": r["agreement"]["bit_exact"],
        "instructions_per_inference": round(mean),
        "instructions_per_mac": round(mean / cg["macs"], 3) if cg["macs"] else None,
        "measured_sram": r["sram"]["measured_peak"],
        "flash_bytes": r["build"]["flash_used"],
        "weights_bytes": cg["weights_bytes"],
    }


def _compared(name: str, size: tuple[int, int]) -> dict | None:
    """The int8 plan `hardtool compare` measured at ``size`` (bench/compare.json), if it did."""
    path = ROOT / "bench" / "compare.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    q = doc.get("models", {}).get(name, {}).get("int8")
    if q is None or tuple(doc.get("input_size", ())) != tuple(size):
        return None
    return {
        "size": list(size),
        "plan_peak_bytes": q["plan_peak_bytes"],
        "fits": q["fits"],
        "weights_bytes": q["weights_bytes"],
        "source": "bench/compare.json",
    }


def _too_heavy(weights: int, flash: int) -> str:
    return f"its int8 weights ({weights:,} B) exceed the {flash:,} B flash at any input size"


def measure(name: str, work: Path) -> dict:
    """The first of ``SIZES`` whose plan fits the board, quantized, planned and run."""
    from hardtool.core.boards import emulated_board
    from hardtool.core.errors import HardtoolError
    from hardtool.core.graph import load_tflite
    from hardtool.memplan.files import plan_to_files

    chip = emulated_board().chip
    tried = []
    for size in SIZES:
        known = _compared(name, size)
        if known is not None and known["weights_bytes"] > chip.flash_bytes:
            return {"tried": [known], "error": _too_heavy(known["weights_bytes"], chip.flash_bytes)}
        if known is not None and not known["fits"]:
            tried.append(known)
            continue
        tfl = _quantized(name, size, work)
        doc, _, _, _ = plan_to_files(tfl, tfl.parent, force=True, measure_tflm=False)
        graph = load_tflite(tfl, validate=False)
        weights = sum(t.nbytes for t in graph.tensors if t.is_constant)
        row = {"size": list(size), "plan_peak_bytes": doc["peak"]["total_bytes"], "weights_bytes": weights}
        if weights > chip.flash_bytes:
            return {"tried": [row], "error": _too_heavy(weights, chip.flash_bytes)}
        if doc["verdict"]["fits"]:
            ops = Counter(op.name for op in graph.ops)
            rec = {
                "size": list(size),
                "tried": tried,
                "arena_bytes": doc["arena_size"],
                "ops": dict(ops.most_common()),
            }
            try:
                return rec | _run(tfl, tfl.parent)
            except HardtoolError as e:
                return rec | {"error": str(e)}
        tried.append(row)
    return {"tried": tried, "error": f"no size in {[list(s) for s in SIZES]} fits the {chip.name}'s SRAM"}


def run_bench(work: Path, names: list[str] | None = None) -> dict:
    from hardtool.models import PEERS

    return {
        "board": "qemu mps2-an500 (emulated Cortex-M7) with the STM32F746NG's 320 KB SRAM / 1 MB flash",
        "sizes": f"128x256 where the plan fits, else the first of {[f'{h}x{w}' for h, w in SIZES[1:]]} that does",
        "quantize": f"hardtool quantize on {SAMPLES} random .npy inputs, {CALIB} for calibration; {INPUTS} random int8 inputs run",
        "models": {
            name: measure(name, Path(work) / "peers") for name in (sorted(PEERS) if names is None else names)
        },
    }


def main(names: list[str]) -> int:
    """Measure the peers (all, or those named) and replace only their entries in bench/models.json,
    each as soon as it is measured."""
    from hardtool.models import PEERS

    path = ROOT / "bench" / "models.json"
    for name in names or sorted(PEERS):
        rec = measure(name, ROOT / "build" / "bench" / "peers")
        doc = json.loads(path.read_text()) if path.is_file() else {}
        peers = doc.get("peers") or run_bench(ROOT / "build" / "bench", names=[])
        peers["models"][name] = rec
        doc["peers"] = peers
        atomic_write_json(path, doc)
        print(json.dumps({name: rec.get("bit_exact", rec.get("error"))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
