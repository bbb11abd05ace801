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
from hardtool.codegen import ops  # noqa: F401 - registers every op family's emitter
from hardtool.codegen.emit import c_float, c_string
from hardtool.codegen.registry import EmitContext, Layer, emit_layer, unsupported
from hardtool.core.boards import DEFAULT_STACK_BYTES, boards
from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_dir, check_input_file, json_text
from hardtool.core.graph import Graph, load_tflite, lower
from hardtool.core.resources import firmware_dir, templates_dir
from hardtool.memplan.contract import check_plan

COPY_IGNORE = shutil.ignore_patterns("*.o", "fuzz_*", "__pycache__", "build")


def templates() -> list[str]:
    return sorted(p.name for p in templates_dir().iterdir() if (p / "template.json").is_file())


def load_template(name: str) -> dict:
    path = templates_dir() / name / "template.json"
    if not path.is_file():
        raise HardtoolError(f"unknown template '{name}'; choose one of {', '.join(templates())}")
    return json.loads(path.read_text())


def load_plan(plan_path: Path, graph: Graph, model: Path) -> dict:
    """memplan.json for exactly this model, checked against its contract and the lowered graph."""
    plan_path = Path(plan_path)
    check_input_file(plan_path, "plan", f"the JSON that 'hardtool memplan {model}' writes")
    try:
        plan = json.loads(plan_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HardtoolError(f"plan {plan_path} is not valid JSON ({e}); rerun hardtool memplan") from None
    if not isinstance(plan, dict) or plan.get("model_sha256") != graph.sha256:
        sha = str(plan.get("model_sha256") if isinstance(plan, dict) else None)[:12]
        raise HardtoolError(
            f"plan {plan_path.name} belongs to another model (sha256 {sha}…, model {graph.sha256[:12]}…); "
            f"rerun: hardtool memplan {model}"
        )
    check_plan(plan, graph)
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


def check_supported(graph: Graph) -> None:
    """Every op the runtime has no kernel for, one line each, in one error."""
    missing = unsupported(graph)
    if missing:
        raise HardtoolError(
            f"{graph.name}: {len(missing)} op(s) have no int8 kernel in hardtool's runtime: "
            + "; ".join(missing)
            + " (use --runtime tflm, or re-export the model without them)"
        )


def build_layers(graph: Graph, plan: dict) -> tuple[list[Layer], dict]:
    """The C of every layer in the plan's order, and where the input and label map live."""
    check_supported(graph)
    offsets, scratch = _layout(plan)

    def scr(op: int) -> tuple[str, int] | None:
        s = scratch.get(op)
        return None if s is None else (f"hard_arena + {s[0]}", s[1])

    ctx = EmitContext(graph, lambda t: f"A({offsets[t]})", scr, "labels")
    layers = [emit_layer(ctx, step, graph.ops[int(i)]) for step, i in enumerate(plan["order"])]
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    fused = [op.options["num_classes"] for op in graph.ops if op.name == "HARD_RESIZE_ARGMAX"]
    last = graph.ops[int(plan["order"][-1])]
    info = {
        "input_offset": offsets[inp.index],
        "input_bytes": inp.nbytes,
        "input_shape": list(inp.shape),
        "input_scale": float(inp.quant.scale[0]),
        "input_zero_point": int(inp.quant.zero_point[0]),
        "labels_offset": offsets[out.index],
        "labels_bytes": int(np.prod(out.shape[1:3])) if len(out.shape) >= 3 else out.nbytes,
        "num_classes": int(fused[0] if fused else graph.tensors[last.inputs[0]].shape[-1]),
    }
    return layers, info


def render_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _context(model: Path, graph: Graph, plan: dict, layers: list[Layer], info: dict, settings: dict) -> dict:
    """Everything the Jinja2 templates see."""
    h, w, c = info["input_shape"][1:4]
    return {
        **settings,
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
        "weights_bytes": sum(t.nbytes for t in graph.tensors if t.is_constant),
        "model_file": model.name,
    }


def _render(tmp: Path, template: str, tpl: dict, ctx: dict) -> None:
    env = render_env()
    for src in ("common/model.h.j2", "common/model.c.j2", "common/README.md.j2"):
        (tmp / Path(src).name[:-3]).write_text(env.get_template(src).render(**ctx))
    for rel in tpl.get("render", []):
        dst = tmp / rel.removesuffix(".j2")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(env.get_template(f"{template}/{rel}").render(**ctx))
    for rel in tpl.get("copy", []):  # firmware/ subtrees: kernels, protocol, app, bsp/...
        src, dst = firmware_dir() / rel, tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=COPY_IGNORE)
        else:
            shutil.copy2(src, dst)


def _manifest(tmp: Path, ctx: dict) -> dict:
    """hardtool_build.json of a device project: everything `hardtool build` needs is in the folder."""
    return {
        "version": 1,
        "name": ctx["name"],
        "board": ctx["board"],
        "sources": ["model.c"]
        + sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*.c") if p.name != "model.c"),
        "include_dirs": [".", "kernels", "protocol", "bsp/include", "bsp/common"],
        "linker_script": f"bsp/{ctx['board']}/link.ld",
        "uart_baud": ctx["uart_baud"],
        "stack_size": ctx["stack_size"],
        "build_id": ctx["sha256"][:12],
        "app": False,
    }


def _summary(tmp: Path, ctx: dict) -> dict:
    """codegen.json: what was generated, layer by layer (names, kernels, MACs) for the bench."""
    return {
        "template": ctx["template"],
        "board": ctx["board"],
        "layers": len(ctx["layers"]),
        "arena_size": ctx["arena_size"],
        "weights_bytes": ctx["weights_bytes"],
        "macs": ctx["macs"],
        "model_sha256": ctx["sha256"],
        "layer_table": [
            {"name": L.name, "op": L.op, "kernel": L.kernel, "macs": L.macs} for L in ctx["layers"]
        ],
        "files": sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()),
    }


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
    """Render the project; returns the summary written to codegen.json."""
    model = Path(model)
    tpl = load_template(template)
    check_input_file(model, "model", "an int8 .tflite file")
    graph = lower(load_tflite(model))
    plan = load_plan(plan_path, graph, model)
    layers, info = build_layers(graph, plan)
    if stack_size is None:  # reserve what memplan budgets for the stack, so the link checks the same total
        stack_size = int(plan["peak"].get("parts", {}).get("stack", {}).get("bytes", DEFAULT_STACK_BYTES))
    settings = {"name": name or model.parent.name or model.stem, "board": tpl["board"], "template": template}
    settings |= {"uart_baud": uart_baud, "stack_size": stack_size}
    ctx = _context(model, graph, plan, layers, info, settings)
    with atomic_dir(Path(out), force=force) as tmp:
        _render(tmp, template, tpl, ctx)
        shutil.copy2(model, tmp / "model_int8.tflite")
        shutil.copy2(plan_path, tmp / "memplan.json")
        if tpl["board"] in boards():
            (tmp / "hardtool_build.json").write_text(json_text(_manifest(tmp, ctx)) + "\n")
        summary = _summary(tmp, ctx)
        (tmp / "codegen.json").write_text(json_text(summary) + "\n")
    return summary
