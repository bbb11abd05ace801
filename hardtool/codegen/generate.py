"""`codegen` as a function from files to files: int8 .tflite + memplan.json + a template name →
a self-contained C project (model.c/.h with weights in flash and one static arena laid out by
the plan, the kernel library, and the template's board files), written atomically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2
import numpy as np

from hardtool import __version__
from hardtool.codegen.emit import c_float, c_string
from hardtool.codegen.layers import Layer, LayerWriter
from hardtool.errors import HardtoolError
from hardtool.fsutil import atomic_dir
from hardtool.graph import load_tflite, lower

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
FIRMWARE = ROOT / "firmware"
DEVICE_BOARDS = ("qemu_mps2_an500", "stm32f746g_disco")  # built by `hardtool build`


def templates() -> list[str]:
    return sorted(p.name for p in TEMPLATES.iterdir() if (p / "template.json").is_file())


def _template(name: str) -> dict:
    path = TEMPLATES / name / "template.json"
    if not path.is_file():
        raise HardtoolError(f"unknown template '{name}'; choose one of {', '.join(templates())}")
    return json.loads(path.read_text())


def load_plan(plan_path: Path, graph_sha: str, model: Path) -> dict:
    plan_path = Path(plan_path)
    if not plan_path.is_file():
        raise HardtoolError(f"plan {plan_path} not found; make it with: hardtool memplan {model} --out DIR")
    try:
        plan = json.loads(plan_path.read_text())
    except json.JSONDecodeError as e:
        raise HardtoolError(f"plan {plan_path} is not valid JSON ({e.msg}); rerun hardtool memplan") from None
    if plan.get("model_sha256") != graph_sha:
        raise HardtoolError(
            f"plan {plan_path.name} belongs to another model (sha256 {str(plan.get('model_sha256'))[:12]}…, "
            f"model {graph_sha[:12]}…); rerun: hardtool memplan {model}"
        )
    return plan


def _layout(plan: dict) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """tensor index → arena offset; op index → (scratch offset, size)."""
    tensors, scratch = {}, {}
    for b in plan["buffers"]:
        if b.get("kind") == "scratch":
            if b["size"] > 0:
                scratch[int(b["op"])] = (int(b["offset"]), int(b["size"]))
        elif b.get("tensor") is not None:
            tensors[int(b["tensor"])] = int(b["offset"])
    return tensors, scratch


def build_layers(graph, plan: dict) -> tuple[list[Layer], dict]:
    offsets, scratch = _layout(plan)
    missing = [
        t
        for op in graph.ops
        for t in (*op.inputs, *op.outputs)
        if t >= 0
        and not graph.tensors[t].is_constant
        and t not in offsets
        and not (op.name in ("HARD_RESIZE_ARGMAX", "ARG_MAX") and t in op.outputs)
    ]
    if missing:
        raise HardtoolError(
            f"plan has no buffer for tensor {graph.tensors[missing[0]].name}; rerun hardtool memplan"
        )

    def ptr(t: int) -> str:
        return f"A({offsets[t]})"

    def scr(op: int):
        s = scratch.get(op)
        return None if s is None else (f"hard_arena + {s[0]}", s[1])

    w = LayerWriter(graph, ptr, scr, "labels")
    order = [int(i) for i in plan["order"]]
    layers = [w.layer(step, graph.ops[i]) for step, i in enumerate(order)]
    inp = graph.tensors[graph.inputs[0]]
    out = graph.tensors[graph.outputs[0]]
    info = {
        "input_offset": offsets[inp.index],
        "input_bytes": inp.nbytes,
        "input_shape": list(inp.shape),
        "input_scale": float(inp.quant.scale[0]),
        "input_zero_point": int(inp.quant.zero_point[0]),
        "labels_offset": offsets.get(out.index),
        "labels_bytes": int(np.prod(out.shape[1:3])) if len(out.shape) >= 3 else out.nbytes,
        "num_classes": int(
            next(
                (op.options.get("num_classes") for op in graph.ops if op.name == "HARD_RESIZE_ARGMAX"),
                graph.tensors[graph.ops[order[-1]].inputs[0]].shape[-1],
            )
        ),
    }
    if info["labels_offset"] is None:
        raise HardtoolError("plan has no label-map buffer; rerun hardtool memplan")
    return layers, info


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def generate(
    model: Path,
    plan_path: Path,
    template: str,
    out: Path,
    force: bool = False,
    name: str | None = None,
    uart_baud: int = 115200,
    stack_size: int | None = None,
) -> dict:
    """Render the project; returns a summary (layers, arena, weights bytes, files)."""
    model = Path(model)
    tpl = _template(template)
    if not model.is_file():
        raise HardtoolError(f"model {model} not found")
    graph = lower(load_tflite(model))
    plan = load_plan(plan_path, graph.sha256, model)
    layers, info = build_layers(graph, plan)
    if stack_size is None:  # reserve what memplan budgets for the stack, so the link checks the same total
        stack_size = int(plan.get("peak", {}).get("parts", {}).get("stack", {}).get("bytes", 8192))
    h, w, c = info["input_shape"][1:4]
    weights = sum(t.nbytes for t in graph.tensors if t.is_constant)
    name = name or model.parent.name or model.stem
    ctx = {
        "name": name,
        "version": __version__,
        "sha256": graph.sha256,
        "layers": layers,
        "arena_size": int(plan["arena_size"]),
        "input_h": h,
        "input_w": w,
        "input_c": c,
        "num_classes": info["num_classes"],
        "input_offset": info["input_offset"],
        "input_bytes": info["input_bytes"],
        "labels_offset": info["labels_offset"],
        "labels_bytes": info["labels_bytes"],
        "input_scale": c_float(info["input_scale"]),
        "input_zero_point": info["input_zero_point"],
        "layer_names": [c_string(L.name) for L in layers],
        "macs": sum(L.macs for L in layers),
        "board": tpl["board"],
        "template": template,
        "uart_baud": uart_baud,
        "stack_size": stack_size,
        "weights_bytes": weights,
        "model_file": model.name,
    }
    env = _env()
    with atomic_dir(Path(out), force=force) as tmp:
        files = []
        for src in ("common/model.h.j2", "common/model.c.j2", "common/README.md.j2"):
            dst = tmp / Path(src).name[:-3]
            dst.write_text(env.get_template(src).render(**ctx))
            files.append(dst.name)
        for rel in tpl.get("render", []):
            dst = tmp / rel.removesuffix(".j2")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(env.get_template(f"{template}/{rel}").render(**ctx))
            files.append(str(Path(rel.removesuffix(".j2"))))
        for rel in tpl.get("copy", []):  # firmware/ subtrees: kernels, protocol, app, bsp/...
            src = FIRMWARE / rel
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.o", "fuzz_*", "__pycache__"))
            else:
                shutil.copy2(src, dst)
        shutil.copy2(model, tmp / "model_int8.tflite")
        shutil.copy2(plan_path, tmp / "memplan.json")
        if tpl["board"] in DEVICE_BOARDS:
            sources = ["model.c"] + sorted(
                str(p.relative_to(tmp)) for p in tmp.rglob("*.c") if p.name != "model.c"
            )
            manifest = {
                "version": 1,
                "name": name,
                "board": tpl["board"],
                "sources": sources,
                "include_dirs": [".", "kernels", "protocol", "bsp/include", "bsp/common"],
                "linker_script": f"bsp/{tpl['board']}/link.ld",
                "uart_baud": uart_baud,
                "stack_size": stack_size,
                "build_id": graph.sha256[:12],
                "app": False,
            }
            (tmp / "hardtool_build.json").write_text(json.dumps(manifest, indent=2) + "\n")
        summary = {
            "template": template,
            "board": tpl["board"],
            "layers": len(layers),
            "arena_size": ctx["arena_size"],
            "weights_bytes": weights,
            "macs": ctx["macs"],
            "model_sha256": graph.sha256,
            "files": sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()),
        }
        (tmp / "codegen.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
