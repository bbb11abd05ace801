"""`make bench` stage for memplan: for each zoo variant at an MCU-sized input and for models not
from our zoo (Keras MobileNetV2 with random weights, a small U-Net, the HARD-like toy), our arena
and peak SRAM, TFLite Micro's measured arena, the lower bound and the planning time. Each zoo
model is also measured without its RESIZE_BILINEAR → ARG_MAX tail, where TFLM and our plan hold
exactly the same tensors. Every row plans with every technique that goes below the op-by-op bound
(in-place ops, concatenation slices and relocated concatenation inputs, the streamed input, the
band-by-band first stage) and records the arena without each of them, the op-by-op arena, both
lower bounds and the extra MACs, and the plan with lean kernels besides (``lean``: the
convolutions whose DSP scratch sets the peak run their portable path, with the MACs that run so);
the MLPerf Tiny files are read from the shared folder (never copied), and the streaming wake-word
model is compared with X-CUBE-AI's ram_size (inputs and outputs inside, as in our arena)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import mlperf_dir, model_builders, write_result
from hardtool.core import tflm_arena as tflm
from hardtool.core.graph import load_tflite
from hardtool.core.graph.edit import drop_tail
from hardtool.memplan.plan import PlanOptions, lean_ops, peak_parts, plan_graph, technique_report

ZOO = ("hard_xxs", "hard_xs", "hard_s", "hard_gpu", "hard_edge")
MCU_SIZE = (128, 256)
PAPER_HARD_EDGE_BYTES = 283_000  # the paper's 283 kB for HARD-Edge int8 at 128×256
KIB = 1024
ALL = PlanOptions(stream=True)  # every technique, as `hardtool run` plans for the board firmware
LEAN = PlanOptions(stream=True, lean_kernels=True)  # and speed traded for memory (--lean-kernels)
MLPERF_DIR = mlperf_dir() or Path("shared/mlperf-tiny")  # absent: those rows are left out
MLPERF_FILES = ("vww_96_int8", "resnet8_quant", "kws_ref_model", "ad01_int8", "strm_ww_int8")
XCUBEAI_STRM_WW_RAM = 5_836  # ram_size of strm_ww_int8.xcubeai_report.json (--allocate-inputs/outputs)


def measure(path: Path, options: PlanOptions | None = ALL) -> dict:
    g = load_tflite(path)
    t0 = time.perf_counter()
    p = plan_graph(g, options=options)
    seconds = time.perf_counter() - t0
    tech = technique_report(g, p)
    m = tflm.measure(path)
    peak = peak_parts(p)
    row = {
        "ops": len(g.ops),
        "ops_lowered": len(p.graph.ops),
        "arena_bytes": p.arena,
        "peak_sram_bytes": peak["total_bytes"],
        "lower_bound_bytes": p.lower_bound,
        "greedy_by_size_bytes": p.greedy_arena,
        "planning_s": round(seconds, 3),
        "scheduler": p.scheduler,
        "placer": p.placer,
        "scratch": p.scratch_kind,
        "tflm": m,
        "vs_lower_bound": round(p.arena / p.lower_bound, 4) if p.lower_bound else None,
        "op_by_op_arena_bytes": tech["op_by_op"]["arena"],
        "lower_bounds": tech["lower_bounds"],
        "techniques": {
            k: {"saved_bytes": v["saved_bytes"], "arena_without": v["arena_without"]}
            for k, v in tech["by_technique"].items()
            if v["enabled"]
        },
        "stage": None
        if p.stage is None
        else {"ops": len(p.stage.ops), "streamed": p.stage.streamed, "band_rows": p.stage.band_rows},
        "macs": tech["macs"]["model"],
        "recomputed_macs": tech["macs"]["recomputed"],
        "inplace_ops": sum(1 for b in p.blocks for a in b.members.values() if a.reason == "inplace"),
    }
    row["lean"] = _lean(g, p.arena)
    if "arena_bytes" in m:
        row["vs_tflm_arena"] = round(p.arena / m["arena_bytes"], 4)
        row["vs_tflm_head"] = round(p.arena / m["head_bytes"], 4) if m.get("head_bytes") else None
        row["lean"]["vs_tflm_arena"] = round(row["lean"]["arena_bytes"] / m["arena_bytes"], 4)
    return row


def _lean(g, arena: int) -> dict:
    """The same model planned with --lean-kernels: arena, the ops given no scratch, their MACs."""
    t0 = time.perf_counter()
    p = plan_graph(g, options=LEAN)
    seconds = time.perf_counter() - t0
    ops = lean_ops(p)
    return {
        "arena_bytes": p.arena,
        "saved_bytes": arena - p.arena,
        "lean_ops": [f"#{e['op']} {e['name']}" for e in ops],
        "portable_macs": sum(e["macs"] for e in ops),
        "planning_s": round(seconds, 3),
    }


def run_bench(out_dir: Path, work: Path) -> dict:
    mm = model_builders()
    work = Path(work) / "memplan"
    work.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    from hardtool.quantize import zoo_tflite

    for arch in ZOO:
        path = zoo_tflite(arch, MCU_SIZE, work / "zoo")
        rows[f"{arch}_{MCU_SIZE[0]}x{MCU_SIZE[1]}"] = measure(path)
        notail = work / f"{path.stem}_notail.tflite"
        notail.write_bytes(drop_tail(path.read_bytes(), 2))
        rows[f"{arch}_{MCU_SIZE[0]}x{MCU_SIZE[1]}_without_tail"] = measure(notail)
    others = {
        "keras_mobilenet_v2_a1.0_128x128": ("mobilenet_v2", {"size": 128, "alpha": 1.0}),
        "keras_mobilenet_v2_a0.35_96x96": ("mobilenet_v2", {"size": 96, "alpha": 0.35}),
        "unet_w16_128x128": ("unet", {"input_size": (128, 128), "width": 16}),
        "toy_hard_64x128": ("toy_hard", {}),
    }
    for name, (kind, kw) in others.items():
        rows[name] = measure(mm.build(kind, work / "models", **kw))
    for name in MLPERF_FILES:
        if (MLPERF_DIR / f"{name}.tflite").is_file():
            rows[f"mlperf_{name}"] = measure(MLPERF_DIR / f"{name}.tflite")
    goals = {}
    edge = rows.get("hard_edge_128x256")
    if edge is not None:
        bare = rows["hard_edge_128x256_without_tail"]
        goals = {
            "hard_edge_vs_tflm_le_0.5": edge.get("vs_tflm_arena", 9) <= 0.5,
            "hard_edge_without_tail_vs_tflm_le_0.8": bare.get("vs_tflm_arena", 9) <= 0.8,
            "hard_edge_fits_283kB": edge["peak_sram_bytes"] <= PAPER_HARD_EDGE_BYTES,
            "hard_edge_fits_320KiB": edge["peak_sram_bytes"] <= 320 * KIB,
        }
    goals["no_technique_costs_memory"] = all(
        r["arena_bytes"] <= r["op_by_op_arena_bytes"] for r in rows.values()
    )
    main = {k: r for k, r in rows.items() if "_without_tail" not in k}
    goals["vs_tflm_le_0.6"] = {k: r.get("vs_tflm_arena", 9) <= 0.6 for k, r in main.items()}
    goals["vs_tflm_le_0.6_lean_kernels"] = {
        k: r["lean"].get("vs_tflm_arena", 9) <= 0.6 for k, r in main.items()
    }
    ww = rows.get("mlperf_strm_ww_int8")
    if ww is not None:
        goals["strm_ww_le_xcubeai_5836"] = ww["arena_bytes"] <= XCUBEAI_STRM_WW_RAM
        goals["strm_ww_le_xcubeai_5836_lean_kernels"] = ww["lean"]["arena_bytes"] <= XCUBEAI_STRM_WW_RAM
    goals["all_planning_under_5s"] = all(
        r["planning_s"] < 5 and r["lean"]["planning_s"] < 5 for r in rows.values()
    )
    res = {
        "cores": os.cpu_count(),
        "models": rows,
        "goals": goals,
        "notes": "every row: all techniques on (streamed input included: the board firmware feeds "
        "rows); techniques.*.arena_without: the plan with that technique off; op_by_op: none; "
        "lean: the plan with --lean-kernels too (portable_macs run on the slower portable kernels). "
        "arena = activations + input + output + scratch (scratch: "
        f"{next(iter(rows.values()))['scratch'] if rows else '?'}); peak SRAM adds stack and runtime "
        "statics estimates; TFLM measured with the tflite-micro host build (64-bit: its persistent "
        "tail is larger than on a Cortex-M; 'head' is its activations + scratch).",
    }
    res = write_result(Path(out_dir) / "memplan.json", res)
    return res
