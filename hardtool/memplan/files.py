"""memplan as a function from files to files: MODEL.tflite → <stem>.memplan.json + <stem>.memplan.png.
MODEL is a full-int8 graph, or a float32 one (planned with float sizes; codegen refuses it).

The outputs are named after the model, so plans of several models in one folder never collide;
codegen looks for ``<stem>.memplan.json`` beside the model first (`default_plan`)."""

from __future__ import annotations

from pathlib import Path

from hardtool.core import interrupt
from hardtool.core.boards import DEFAULT_TARGET, get_target
from hardtool.core.errors import HardtoolError
from hardtool.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    check_clobber,
    check_parent,
    output_dir,
)
from hardtool.core.graph import Graph, load_tflite
from hardtool.memplan.plan import Plan, PlanOptions, plan_graph, technique_report, to_json

LEGACY_NAME = "memplan.json"  # what hardtool wrote before plans were named after their model


def plan_paths(model: Path, out_dir: Path | None = None, png: Path | None = None) -> tuple[Path, Path]:
    """(json, png) paths of MODEL's plan: ``<stem>.memplan.json`` / ``.png`` in ``out_dir`` (default:
    beside the model); ``png`` overrides the picture's path."""
    model = Path(model)
    folder = Path(out_dir) if out_dir is not None else model.parent
    json_path = folder / f"{model.stem}.memplan.json"
    return json_path, Path(png) if png is not None else folder / f"{model.stem}.memplan.png"


def default_plan(model: Path) -> Path:
    """The plan codegen reads when none is given: ``<stem>.memplan.json`` beside the model, else a
    ``memplan.json`` there (older hardtool, or named by hand); the first name when neither exists."""
    named = plan_paths(model)[0]
    legacy = Path(model).parent / LEGACY_NAME
    return legacy if not named.is_file() and legacy.is_file() else named


def plan_document(
    model: Path,
    target: str = DEFAULT_TARGET,
    budget: int | None = None,
    measure_tflm: bool = True,
    options: PlanOptions | None = None,
) -> tuple[dict, Plan, Graph]:
    """Plan MODEL (int8, or float32: planned with float sizes) for ``target``: (memplan.json document
    with the plan without each technique, plan, the file's graph); TFLite Micro's arena for the
    same file is measured unless told not to."""
    from hardtool.core import tflm_arena as tflm_mod
    from hardtool.memplan.tflm_layout import tflm_layout

    tgt = get_target(target)
    graph = load_tflite(model, float_ok=True)
    plan = plan_graph(graph, options=options)
    techniques = technique_report(graph, plan)
    tflm = tflm_mod.measure(model) if measure_tflm else None
    return to_json(plan, tgt, budget, tflm, tflm_layout(graph), techniques), plan, graph


def plan_to_files(
    model: Path,
    out_dir: Path | None = None,
    target: str = DEFAULT_TARGET,
    budget: int | None = None,
    png: Path | None = None,
    force: bool = False,
    measure_tflm: bool = True,
    options: PlanOptions | None = None,
) -> tuple[dict, Plan, Path, Path]:
    """Plan MODEL and write its plan JSON + timeline PNG; returns (doc, plan, json path, png path).
    The document also holds the plan without each technique (``techniques``). Every check (model,
    target, paths, existing outputs) runs before anything is written."""
    from hardtool.memplan.report import timeline_png

    get_target(target)
    json_path, png_path = plan_paths(model, out_dir, png)
    if png is not None:
        check_parent(png_path, "--png")
    for p in (json_path, png_path):
        check_clobber(p, force)
        if p.is_dir():
            raise HardtoolError(f"{p} is a folder; choose another --out or --png")
    with output_dir(json_path.parent):
        doc, plan, _ = plan_document(model, target, budget, measure_tflm, options)
        picture = timeline_png(doc, plan)
        with interrupt.commit():
            atomic_write_json(json_path, doc)
            atomic_write_bytes(png_path, picture)
    return doc, plan, json_path, png_path
