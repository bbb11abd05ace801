"""The ten peer models as published (tests/test_peers_deploy.py's seeded weights) on the emulated
board: `hardtool quantize` → memplan → codegen -t qemu → flash-and-bench, recorded in
bench/models.json under ``peers`` (size run, arena, instructions per inference, bit-exact, flash).

Each runs at 128x256 where its plan fits the board's SRAM, else at the largest of ``SIZES`` that
does (tried in order; each size not fitting is recorded with its plan's peak). A model whose int8
weights (or linked image, every conv filter int8) exceed the F746's flash fits it at no input size:
it runs on the emulated board with the memory of the first larger-flash Cortex-M7 chip
(``LARGER_FLASH``) that holds it, recorded with that ``target`` and why not the F746 (``not_on``).
A model no listed chip's flash holds runs last with the emulated board's own memory (QEMU
mps2-an500's 4 MB code RAM and 4 MB RAM, ``board_memory``), a budget no real chip has, recorded
as such (``emulator_only``) with each chip's reason (``not_on``).
``python -m bench.peers [NAME ...]`` measures only these and keeps the rest of models.json."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import ROOT, _test_module, commit
from hardtool.core.files import atomic_write_json

SIZES = ((128, 256), (64, 128), (48, 96), (32, 64))
# the Cortex-M7 chips of firmware/targets with more flash than the STM32F746NG (2 MB each), tried
# in this order for a model the F746's flash cannot hold
LARGER_FLASH = ("stm32h743", "stm32f769ni")
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


def _run(tfl: Path, folder: Path, plan: Path, chip: str) -> dict:
    """Generated for the emulated board (with ``chip``'s limits) and run on ``INPUTS`` random inputs."""
    from bench.models import _inputs
    from hardtool.codegen.generate import generate
    from hardtool.core.boards import get_target
    from hardtool.core.errors import HardtoolError
    from hardtool.flash_and_bench.run import flash_and_bench

    cg = generate(tfl, plan, "qemu", folder / "qemu", force=True, target=chip)
    data = _inputs(folder / "inputs", cg, seed=0)
    run = lambda: flash_and_bench(  # noqa: E731
        folder / "qemu", data, n=INPUTS, board="qemu", progress=False, log=lambda *_: None, force=True
    )
    try:
        r = run()
    except HardtoolError as e:  # the code estimate fell short: the reserve the build names
        fix = re.search(r"--flash-reserve (\d+)", str(e))
        if fix is None:
            raise
        cg = generate(tfl, plan, "qemu", folder / "qemu", force=True, target=chip, flash_reserve=int(fix[1]))
        r = run()
    mean = r["latency"]["mean"]
    ff = cg.get("filter_flash") or {}
    return {
        "layers": cg["layers"],
        "macs": cg["macs"],
        "inputs_run": r["completed"],
        "bit_exact": r["agreement"]["bit_exact"],
        "instructions_per_inference": round(mean),
        "instructions_per_mac": round(mean / cg["macs"], 3) if cg["macs"] else None,
        "measured_sram": r["sram"]["measured_peak"],
        "flash_bytes": r["build"]["flash_used"],
        "flash_limit_bytes": get_target(chip).flash_bytes,
        "weights_bytes": cg["weights_bytes"],
        "q15_layers_kept_int8": ff.get("q15_layers_kept_int8"),
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


def _too_heavy(weights: int, chip) -> str:
    return (
        f"its int8 weights ({weights:,} B) exceed the {chip.name.upper()}'s {chip.flash_bytes:,} B "
        "flash at any input size"
    )


def _planned(name: str, size: tuple[int, int], work: Path, chip: str) -> tuple[Path, Path, dict, dict]:
    """(model, plan, plan document, the size's row) of the peer at ``size`` planned for ``chip``."""
    from hardtool.core.graph import load_tflite
    from hardtool.memplan.files import plan_to_files

    tfl = _quantized(name, size, work)
    doc, _, plan, _ = plan_to_files(tfl, tfl.parent / chip, target=chip, force=True, measure_tflm=False)
    graph = load_tflite(tfl, validate=False)
    weights = sum(t.nbytes for t in graph.tensors if t.is_constant)
    row = {"size": list(size), "plan_peak_bytes": doc["peak"]["total_bytes"], "weights_bytes": weights}
    doc["ops"] = dict(Counter(op.name for op in graph.ops).most_common())
    return tfl, plan, doc, row


def measure_on(name: str, work: Path, chip_name: str) -> dict:
    """The first of ``SIZES`` whose plan fits ``chip_name``'s SRAM, quantized, planned and run;
    ``flash_short`` when the model's flash (weights, or the linked image) exceeds the chip's."""
    from hardtool.core.boards import DEFAULT_TARGET, get_target
    from hardtool.core.errors import HardtoolError

    chip, tried = get_target(chip_name), []
    for size in SIZES:
        known = _compared(name, size)
        if known is not None and known["weights_bytes"] > chip.flash_bytes:
            return {"tried": [known], "error": _too_heavy(known["weights_bytes"], chip), "flash_short": True}
        if known is not None and not known["fits"] and chip.name == DEFAULT_TARGET:
            tried.append(known)
            continue
        tfl, plan, doc, row = _planned(name, size, work, chip.name)
        if row["weights_bytes"] > chip.flash_bytes:
            return {"tried": [row], "error": _too_heavy(row["weights_bytes"], chip), "flash_short": True}
        if doc["verdict"]["fits"]:
            rec = {"size": list(size), "tried": tried, "arena_bytes": doc["arena_size"], "ops": doc["ops"]}
            try:
                return rec | _run(tfl, plan.parent, plan, chip.name)
            except HardtoolError as e:
                return rec | {"error": str(e), "flash_short": "FLASH overflowed" in str(e)}
        tried.append(row)
    return {"tried": tried, "error": f"no size in {[list(s) for s in SIZES]} fits the {chip.name}'s SRAM"}


def board_memory():
    """The emulated board's own memory as limits (QEMU mps2-an500: its 4 MB code RAM as flash, its
    4 MB RAM at 0x20000000 as SRAM): no chip's budget, tried last for a model no chip holds."""
    from hardtool.core.boards import emulated_board, get_core, machine_target

    return machine_target(get_core(str(emulated_board().core)))


def measure(name: str, work: Path) -> dict:
    """On the emulated board with the STM32F746NG's memory; a model its flash cannot hold (the
    weights, or the linked image with every conv filter int8), on the first of ``LARGER_FLASH``
    with more flash than every chip tried, labelled with that chip and why (``target``); one no
    listed chip holds, with the emulated board's own memory, labelled as no chip's (``emulator_only``)."""
    from hardtool.core.boards import DEFAULT_TARGET, get_target

    short, largest = [], 0
    for chip in (DEFAULT_TARGET, *LARGER_FLASH):
        flash = get_target(chip).flash_bytes
        if flash <= largest:
            why = (
                f"its {flash:,} B flash is no more than that of {short[-1]['target']}, which does not hold it"
            )
            short.append({"target": chip, "error": why})
            continue
        rec = measure_on(name, work, chip)
        if not rec.pop("flash_short", False):
            return rec | ({"target": chip, "not_on": short} if short else {})
        short.append({"target": chip, "error": rec["error"], "tried": rec.get("tried", [])})
        largest = flash
    why = (
        "fits no listed Cortex-M7's flash (" + "; ".join(f"{s['target']}: {s['error']}" for s in short) + ")"
    )
    own = board_memory()
    rec = measure_on(name, work, own.name)
    if rec.pop("flash_short", False):
        short.append({"target": own.name, "error": rec["error"], "tried": rec.get("tried", [])})
        return {"not_on": short, "error": f"{why}; nor the emulated board's own memory ({rec['error']})"}
    label = (
        f"the emulated board's own memory (QEMU {own.name}: {own.flash_bytes:,} B code RAM as flash, "
        f"{own.budget_bytes:,} B RAM), no real chip's budget: the model {why}"
    )
    return rec | {"target": own.name, "emulator_only": label, "not_on": short}


def run_bench(work: Path, names: list[str] | None = None) -> dict:
    from hardtool.models import PEERS

    return {
        "board": "qemu mps2-an500 (emulated Cortex-M7) with the STM32F746NG's 320 KB SRAM / 1 MB flash; "
        f"a model whose flash exceeds it: with the first of {list(LARGER_FLASH)} whose memory holds it "
        "(the entry's target; not_on: why not the F746); one no listed chip holds: with the emulated "
        f"board's own memory, no chip's (target {board_memory().name}, emulator_only: why)",
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
        # measured alone, so stamped alone: the file's own commit is that of its last full run
        rec = {"commit": commit()} | measure(name, ROOT / "build" / "bench" / "peers")
        doc = json.loads(path.read_text()) if path.is_file() else {}
        peers = run_bench(ROOT / "build" / "bench", names=[])  # the header as this code runs them
        peers["models"] = (doc.get("peers") or {}).get("models", {}) | {name: rec}
        doc["peers"] = peers
        atomic_write_json(path, doc)
        print(json.dumps({name: rec.get("bit_exact", rec.get("error"))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
