"""One candidate on the targets: its exact plan (memplan's techniques), flash estimate and
instructions per frame on each target's emulated core, frames/s at the target's clock."""

from __future__ import annotations

from pathlib import Path

from hardtool.core.boards import Target, core_for
from hardtool.fit import counts
from hardtool.fit.candidates import Candidate

# flash beyond the weights: kernel code (16.6 KB with the DSP paths, bench/kernels.json) plus the
# bench firmware's runtime, protocol and layer tables (HARD-Edge's whole image is 110 KB)
CODE_ESTIMATE_BYTES = 32 * 1024
FLASH_METHOD = "estimate: int8 weights and biases (exact) + 32 KB kernel and runtime code (estimate)"
FPS_METHOD = "at the target's clock, one instruction per cycle"


def plan_row(path: Path, target: Target) -> dict:
    """SRAM of the exact plan for ``target`` (arena + stack + runtime statics) and the flash estimate."""
    from hardtool.memplan.files import plan_document

    doc, _, graph = plan_document(path, target.name, None, measure_tflm=False)
    weights = sum(t.nbytes for t in graph.tensors if t.is_constant)
    flash = weights + CODE_ESTIMATE_BYTES
    sram = int(doc["peak"]["total_bytes"])
    return {
        "sram_bytes": sram,
        "arena_bytes": int(doc["arena_size"]),
        "sram_budget": target.budget_bytes,
        "flash_bytes": flash,
        "flash_budget": target.flash_bytes,
        "fits_memory": sram <= target.budget_bytes and flash <= target.flash_bytes,
        "shortfall_bytes": max(0, sram - target.budget_bytes) + max(0, flash - target.flash_bytes),
    }


def speed_row(graph, target: Target) -> dict:
    """Instructions per frame on the target's emulated core (estimated) and frames/s, or missing."""
    match = core_for(target)
    row = {"core": target.core, "emulated_core": match.core.name if match.core else None}
    row["core_note"] = "" if match.exact else match.note
    per_layer = counts.layer_counts(graph, match.core.name) if match.core else None
    if per_layer is None:
        return row | {"instructions": None, "fps": None, "instructions_kind": "missing"}
    n, left_out = counts.frame_instructions(graph, per_layer)
    row |= {"instructions": n, "fps": target.mhz * 1e6 / n, "instructions_kind": "estimated"}
    return row | {"ops_not_counted": left_out}


def evaluate(c: Candidate, path: Path, targets: list[Target]) -> dict:
    """The candidate's row: per target its plan, flash, instructions and frames/s."""
    from hardtool.core.graph import load_tflite

    graph = load_tflite(path)
    row = {"name": c.name, "arch": c.arch, "width": c.width, "input": list(c.size), "macs": c.macs}
    row["file"] = str(path)
    row["targets"] = {t.name: plan_row(path, t) | speed_row(graph, t) for t in targets}
    return row


def meets(row: dict, target: str, fps: float | None) -> bool:
    """The candidate fits the target's SRAM and flash and (with --fps) runs fast enough."""
    t = row["targets"][target]
    if not t["fits_memory"]:
        return False
    return fps is None or (t["fps"] is not None and t["fps"] >= fps)
