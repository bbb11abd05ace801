"""memplan as a function from files to files: MODEL.tflite → memplan.json + memplan.png."""

from __future__ import annotations

from pathlib import Path

from hardtool.core.boards import DEFAULT_TARGET, get_target
from hardtool.core.files import atomic_write_bytes, atomic_write_json, check_clobber
from hardtool.core.graph import load_tflite
from hardtool.memplan.plan import Plan, PlanOptions, plan_graph, technique_report, to_json


def plan_to_files(
    model: Path,
    out_dir: Path,
    target: str = DEFAULT_TARGET,
    budget: int | None = None,
    png: Path | None = None,
    force: bool = False,
    measure_tflm: bool = True,
    options: PlanOptions | None = None,
) -> tuple[dict, Plan, Path, Path]:
    """Plan MODEL and write memplan.json + memplan.png; returns (doc, plan, json path, png path).
    The document also holds the plan without each technique (``techniques``)."""
    from hardtool.core import tflm_arena as tflm_mod
    from hardtool.memplan.report import timeline_png
    from hardtool.memplan.tflm_layout import tflm_layout

    tgt = get_target(target)
    json_path = Path(out_dir) / "memplan.json"
    png_path = Path(png) if png is not None else Path(out_dir) / "memplan.png"
    graph = load_tflite(model)
    for p in (json_path, png_path):
        check_clobber(p, force)
    plan = plan_graph(graph, options=options)
    techniques = technique_report(graph, plan)
    tflm = tflm_mod.measure(model) if measure_tflm else None
    doc = to_json(plan, tgt, budget, tflm, tflm_layout(graph), techniques)
    atomic_write_json(json_path, doc)
    atomic_write_bytes(png_path, timeline_png(doc, plan))
    return doc, plan, json_path, png_path
