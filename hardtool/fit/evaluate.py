"""One candidate on the targets: its exact plan (memplan's techniques), flash estimate and
instructions per frame on each target's emulated core, frames/s at the target's clock."""

from __future__ import annotations

from pathlib import Path

from hardtool.core.boards import Target, core_for
from hardtool.fit import counts
from hardtool.fit.candidates import Candidate

# flash beyond the weights: the kernels' code, the generated model code and layer tables, the bench
# firmware's runtime and protocol, measured on HARD-Edge's linked images (64x128, the q15-filter
# kernels; 64x128 and 128x256 alike): 70,700-71,352 B with the DSP paths (Cortex-M4 / M7),
# 54,744 B with the portable ones (M3)
CODE_ESTIMATE_BYTES = {True: 69 * 1024, False: 54 * 1024}
ADD_TABLE_BYTES = 512 * 4  # hard_fused_add.table: a fused residual ADD's or a table ADD's input tables
TABLE_ADD = "hard_elementwise_add_table_s8"
FLASH_METHOD = (
    "estimate: the weights in the layouts the core's kernels read (exact: int8, q15 filters on DSP cores, "
    "the ADDs' input tables) "
    "+ 69 KB (DSP) / 54 KB (portable) of kernel, model and runtime code (HARD-Edge's images)"
)
FPS_METHOD = "at the target's clock, one instruction per cycle"


def plan_for(path: Path, target: Target):
    """memplan's (document, plan, graph) for ``target`` with the techniques `hardtool run` plans
    with (the input streamed row by row into the first stage), so the figures are the run's."""
    from hardtool.memplan.files import plan_document
    from hardtool.memplan.plan import PlanOptions

    return plan_document(path, target.name, None, measure_tflm=False, options=PlanOptions(stream=True))


def plan_row(path: Path, target: Target, planned=None) -> dict:
    """SRAM of the exact plan for ``target`` (arena + stack + runtime statics) and the flash estimate."""
    doc, _, graph = planned or plan_for(path, target)
    match = core_for(target)
    dsp = match.core is None or match.core.dsp
    flash = weights_flash(graph, dsp) + CODE_ESTIMATE_BYTES[dsp]
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


def weights_flash(graph, dsp: bool) -> int:
    """Bytes of constants in flash as codegen writes them for a core: the filters its kernels read
    re-laid out (q15 on a DSP core: hardtool.kernels.weights) in place of the int8 ones, and the
    input tables of each residual ADD fused into a convolution and each table ADD."""
    import numpy as np

    from hardtool.core.graph import lower
    from hardtool.kernels import weights
    from hardtool.ops.tables import choose

    g = lower(graph)
    total = sum(t.nbytes for t in g.tensors if t.is_constant)
    for op in g.ops:
        if op.name in counts.CONVS:
            k, w = choose(g, op, dsp), g.tensors[op.inputs[1]]
            if k.layout:
                total += getattr(weights, k.layout)(np.zeros(w.shape, np.int8)).nbytes - w.nbytes
        if "fused_add" in op.options or (op.name == "ADD" and choose(g, op, dsp).symbol == TABLE_ADD):
            total += ADD_TABLE_BYTES
    return total


def speed_row(graph, target: Target, stage=None) -> dict:
    """Instructions per frame on the target's emulated core (estimated; the plan's first ``stage``
    counted band by band, as it runs) and frames/s, or missing."""
    match = core_for(target)
    row = {"core": target.core, "emulated_core": match.core.name if match.core else None}
    row["core_note"] = "" if match.exact else match.note
    per_layer = counts.layer_counts(graph, match.core.name, stage=stage) if match.core else None
    if per_layer is None:
        return row | {"instructions": None, "fps": None, "instructions_kind": "missing"}
    n, left_out = counts.frame_instructions(graph, per_layer, match.core.dsp, stage)
    row |= {"instructions": n, "fps": target.mhz * 1e6 / n, "instructions_kind": "estimated"}
    return row | {"ops_not_counted": left_out}


def evaluate(c: Candidate, path: Path, targets: list[Target]) -> dict:
    """The candidate's row: per target its plan, flash, instructions and frames/s."""
    from hardtool.core.graph import load_tflite

    graph = load_tflite(path)
    row = {"name": c.name, "arch": c.arch, "width": c.width, "input": list(c.size), "macs": c.macs}
    row["file"] = str(path)
    row["targets"] = {}
    for t in targets:
        planned = plan_for(path, t)
        row["targets"][t.name] = plan_row(path, t, planned) | speed_row(graph, t, planned[1].stage)
    return row


def meets(row: dict, target: str, fps: float | None) -> bool:
    """The candidate fits the target's SRAM and flash and (with --fps) runs fast enough."""
    t = row["targets"][target]
    if not t["fits_memory"]:
        return False
    return fps is None or (t["fps"] is not None and t["fps"] >= fps)
