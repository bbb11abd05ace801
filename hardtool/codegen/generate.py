"""`codegen` as a function from files to files: int8 .tflite + memplan.json + a template name →
a self-contained C project (model.c/.h with weights in flash and one static arena laid out by
the plan, the kernel library, and the template's board files), written atomically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2

from hardtool import __version__
from hardtool.codegen import mlperf as MLPERF
from hardtool.codegen import stage as ST
from hardtool.codegen.model_io import ModelIO, model_io
from hardtool.codegen.registry import emit_layer, unsupported
from hardtool.core.boards import (
    DEFAULT_STACK_BYTES,
    Board,
    boards,
    chip_limits,
    core_for,
    emulated_board_for,
    get_board,
    get_core,
    get_target,
    link_script,
    with_chip,
)
from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_dir, check_input_file, json_text
from hardtool.core.graph import Graph, load_tflite, lower, unsupported_op_error, validate_graph
from hardtool.core.graph.ir import describe_op
from hardtool.core.resources import firmware_dir, templates_dir
from hardtool.core.uart import check_baud, default_baud
from hardtool.memplan.contract import check_plan
from hardtool.memplan.lifetimes import concat_slices
from hardtool.ops.cgen import EmitContext, Layer, c_float, c_string
from hardtool.ops.concat import relocate
from hardtool.ops.conv_flash import FilterFlash, mark_int8_filters, plan_filter_flash
from hardtool.ops.tables import CONCAT_OPS

COPY_PATTERNS = ("*.o", "fuzz_*", "__pycache__", "build")
COPY_IGNORE = shutil.ignore_patterns(*COPY_PATTERNS)


def templates() -> list[str]:
    return sorted(p.name for p in templates_dir().iterdir() if (p / "template.json").is_file())


def load_template(name: str) -> dict:
    path = templates_dir() / name / "template.json"
    if not path.is_file():
        raise HardtoolError(f"unknown template '{name}'; choose one of {', '.join(templates())}")
    return json.loads(path.read_text()) | {"name": name}


PROTOCOLS = ("hardtool", "mlperf-tiny")


def _board_defines(board: str) -> list[str]:
    """The -D switches of the board's cflags (board.json), for IDE projects that list symbols."""
    if board not in boards():
        return []
    return [f[2:] for f in get_board(board).cflags if f.startswith("-D")]


def app_files(copy: list[str], protocol: str) -> list[str]:
    """The template's firmware subtrees for the serial protocol: hardtool's bench app (app/ +
    protocol/) or the MLPerf Tiny DUT firmware (mlperf/)."""
    if protocol == "hardtool":
        return copy
    return [("mlperf" if rel == "app" else rel) for rel in copy if rel != "protocol"]


def protocol_defines(protocol: str, mlperf_input: str | None, io: ModelIO, mlperf_model: str | None) -> dict:
    """Build switches of the MLPerf Tiny firmware (hardtool.codegen.mlperf)."""
    if protocol == "hardtool":
        return {}
    return MLPERF.protocol_defines(io, mlperf_model, mlperf_input)


def firmware_baud(board: str, baud: int | None, defines: dict) -> int:
    """The UART rate the firmware is built for, checked against the board: by default the board's
    (its USB-serial bridge's fastest reliable rate), or for MLPerf Tiny firmware the rate of the
    runner's devices file for that benchmark."""
    if board not in boards():
        if baud is not None and baud <= 0:
            raise HardtoolError(f"--baud {baud}: a baud rate must be a positive number of bits per second")
        return baud or 115200
    b = boards()[board]
    if baud is None:
        name = str(defines.get("MLPERF_MODEL_NAME", "")).strip('"')
        baud = MLPERF.RUNNER_BAUD.get(name, MLPERF.RUNNER_BAUD["*"]) if defines else default_baud(b)
    return check_baud(b, baud)


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


def _layout(plan: dict) -> tuple[dict[int, int], dict[int, tuple[int, int]], dict[int, dict]]:
    """tensor index → arena offset; op index → (scratch offset, size); tensor → strided view."""
    tensors, scratch, views = {}, {}, {}
    for b in plan["buffers"]:
        if b.get("kind") == "scratch":
            if b["size"] > 0:
                scratch[int(b["op"])] = (int(b["offset"]), int(b["size"]))
        elif b.get("tensor") is not None:
            tensors[int(b["tensor"])] = int(b["offset"])
            if b.get("view") is not None:
                views[int(b["tensor"])] = b["view"]
    return tensors, scratch, views


def relocations(graph: Graph, plan: dict) -> dict[int, list[tuple[int, int]]]:
    """Step -> (concat op, input) the plan relocates there: a concat input whose life ends before
    its concat is copied into its slice at that step, before the op there writes (the contract
    check proved it legal)."""
    pos = {op: s for s, op in enumerate(plan["order"])}
    last = {b["tensor"]: b["last_step"] for b in plan["buffers"] if b.get("tensor") is not None}
    out: dict[int, list[tuple[int, int]]] = {}
    for op in graph.ops:
        if op.name in CONCAT_OPS:
            for t in op.inputs:
                if t in last and last[t] < pos[op.index]:
                    out.setdefault(last[t], []).append((op.index, t))
    return out


def _emit_context(graph: Graph, plan: dict, moves: dict, dsp: bool) -> tuple[EmitContext, dict[int, int]]:
    """Where every buffer lives, which outputs go into a concat's channel slice (with their pixel
    stride) and which concat inputs are there already (in their slice, or relocated there by an
    earlier step: ``moves``, from ``relocations``; the contract check proved the offsets)."""
    offsets, scratch, views = _layout(plan)
    moved = {(op, t) for pairs in moves.values() for op, t in pairs}

    def scr(op: int) -> tuple[str, int] | None:
        s = scratch.get(op)
        return None if s is None else (f"hard_arena + {s[0]}", s[1])

    def out_stride(t: int) -> int:
        v = views.get(t)
        return 0 if v is None else v["row_bytes"] // graph.tensors[t].itemsize

    def in_slice(op, t: int) -> bool:
        y = op.outputs[0]
        return (op.index, t) in moved or any(
            i == t and offsets[t] == offsets[y] + off and views.get(t) == view
            for i, off, view in concat_slices(graph, op)
        )

    ctx = EmitContext(graph, lambda t: f"A({offsets[t]})", scr, out_stride, in_slice, dsp)
    return ctx, offsets


def check_supported(graph: Graph) -> None:
    """Every op the runtime cannot generate, one line each (index, name, shapes, why), in one error."""
    missing = unsupported(graph)
    if missing:
        raise unsupported_op_error(
            graph,
            missing,
            "that hardtool's int8 kernels cannot run (use --runtime tflm, or re-export the model without them)",
        )


def load_graph(model: Path) -> Graph:
    """The lowered graph, refused with every op the kernels cannot run listed at once."""
    graph = load_tflite(model, validate=False)
    # float models, then every field TFLite's Prepare functions check; ops without a kernel are
    # listed all at once below (check_supported), not one by one here
    validate_graph(graph, supported=None)
    graph = lower(graph)
    check_supported(graph)
    return graph


def build_layers(
    graph: Graph, plan: dict, dsp: bool = True
) -> tuple[list[Layer], ModelIO, ST.StageCode | None]:
    """The C of every layer in the plan's order (ops that need no code, such as aliased reshapes,
    left out), the model's inputs and outputs, and the first stage's code (or None). ``dsp``:
    the target has the DSP extension (the records' kernel choice may use it)."""
    check_supported(graph)
    moves = relocations(graph, plan)
    ctx, offsets = _emit_context(graph, plan, moves, dsp)
    stage = ST.rebuild(graph, plan.get("stage"))
    staged = set(stage.ops) if stage else set()
    layers, errors = [], []
    for step, i in enumerate(plan["order"]):
        op = graph.ops[int(i)]
        try:
            layer = emit_layer(ctx, len(layers), op)
            for concat, t in moves.get(step, []):  # copied into its slice before this op writes
                relocate(ctx, graph.ops[concat], t, layer, f"l{len(layers)}r{t}")
        except (HardtoolError, ValueError) as e:
            errors.append(f"{describe_op(graph, op)}: {e}")
            continue
        layer.stage = op.index in staged
        if layer.kernel:
            layers.append(layer)
    if errors:
        raise unsupported_op_error(graph, errors, "that codegen cannot generate")
    code = ST.stage_code(ctx, stage, [L for L in layers if L.stage], offsets) if stage else None
    return layers, model_io(graph, offsets), code


def render_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _tensor_table(ts) -> list[dict]:
    return [
        {
            "name": t.name,
            "name_c": c_string(t.name),
            "type": t.type_enum,
            "rank": len(t.shape),
            "dims": list(t.shape),
            "bytes": t.nbytes,
            "scale": t.scale,
            "scale_c": c_float(t.scale),
            "zero_point": t.zero_point,
            "offset": t.offset,
            "dtype": t.dtype,
        }
        for t in ts
    ]


def _labels(io: ModelIO) -> dict | None:
    """Label map rows and columns: [1, H, W] → H x W; [1, N] → 1 x N; [1] → 1 x 1."""
    if io.labels is None:
        return None
    shape = io.labels.shape[1:] or (1,)
    w = shape[-1]
    return {"h": io.labels.nbytes // w, "w": w, "num_classes": io.num_classes, "offset": io.labels.offset}


def plan_end(plan: dict) -> int:
    """Where the plan's last buffer ends in the arena (largest offset + bytes), for the runtime's
    plan check (a constant the compiler compares with the arena's size)."""
    return max((int(b["offset"]) + int(b["size"]) for b in plan["buffers"] if int(b["size"]) > 0), default=0)


def _context(model: Path, graph: Graph, plan: dict, built: tuple, settings: dict) -> dict:
    """Everything the Jinja2 templates see."""
    layers, io, stage = built
    return {
        **settings,
        "version": __version__,
        "sha256": graph.sha256,
        "layers": layers,
        "arena_size": int(plan["arena_size"]),
        "plan_end": plan_end(plan),
        "inputs": [
            t | ({"offset": None} if stage and stage.streamed else {}) for t in _tensor_table(io.inputs)
        ],
        "outputs": _tensor_table(io.outputs),
        "max_rank": max(4, *(len(t.shape) for t in io.inputs + io.outputs)),
        "input_bytes": io.input_bytes,
        "output_bytes": io.output_bytes,
        "input_rows": io.input_rows,
        "input_row_bytes": io.input_row_bytes,
        "labels": _labels(io),
        "float_io": io.float_io,
        "defines": ({"HARD_FLOAT_IO": 1} if io.float_io else {}) | settings.get("protocol_defines", {}),
        "board_defines": _board_defines(settings.get("board", "")),
        "layer_names": [c_string(L.name) for L in layers],
        "macs": sum(L.macs for L in layers),
        "weights_bytes": sum(t.nbytes for t in graph.tensors if t.is_constant),
        "model_file": model.name,
        "stage": stage,
        "streamed": bool(stage and stage.streamed),
    }


def _render(tmp: Path, template: str, tpl: dict, ctx: dict) -> None:
    env = render_env()
    # the float kernels only where the model has float32 inputs or outputs (built with HARD_FLOAT_IO)
    ignore = COPY_IGNORE if ctx["float_io"] else shutil.ignore_patterns(*COPY_PATTERNS, "hard_float_io.c")
    for src in ("common/model.h.j2", "common/model.c.j2", "common/README.md.j2"):
        (tmp / Path(src).name[:-3]).write_text(env.get_template(src).render(**ctx))
    # IDE project files describe one board: left out when the project is for another
    for rel in tpl.get("render", []) if tpl.get("ide_board", ctx["board"]) == ctx["board"] else []:
        dst = tmp / rel.removesuffix(".j2")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(env.get_template(f"{template}/{rel}").render(**ctx))
    for rel in app_files(tpl.get("copy", []), ctx["protocol"]):  # firmware/ subtrees: kernels, app, bsp/...
        src, dst = firmware_dir() / rel, tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore)
        else:
            shutil.copy2(src, dst)
    if ctx["board"] in boards():
        _copy_board(tmp, device_board(ctx["board"], ctx["target"]))


def _copy_board(tmp: Path, board: Board) -> None:
    """The board's support code from the registry (its sources and the headers beside them, in
    its own folder and the shared ones it names) and its linker script, rendered."""
    fw = firmware_dir().resolve()
    for rel in board.firmware_sources:
        files = [fw / rel, *(fw / rel).parent.glob("*.h")]
        for f in files:
            dst = tmp / f.relative_to(fw)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copy2(f, dst)
    (tmp / "bsp" / board.name).mkdir(parents=True, exist_ok=True)
    (tmp / "bsp" / board.name / "link.ld").write_text(link_script(board))


def _manifest(tmp: Path, ctx: dict) -> dict:
    """hardtool_build.json of a device project: everything `hardtool build` needs is in the folder."""
    extra = {"defines": ctx["defines"]} if ctx["defines"] else {}
    extra |= {"target": ctx["target"]} if ctx["target"] else {}  # an emulated board's chip limits
    return {
        "version": 1,
        "name": ctx["name"],
        "board": ctx["board"],
        "sources": ["model.c"]
        + sorted(
            rel
            for rel in (p.relative_to(tmp).as_posix() for p in tmp.rglob("*.c"))
            if rel != "model.c" and not rel.startswith("bsp/")
        )
        + list(get_board(ctx["board"]).firmware_sources),
        "include_dirs": [
            d for d in (".", "kernels", "protocol", "bsp/include", "bsp/common") if (tmp / d).is_dir()
        ],
        "linker_script": f"bsp/{ctx['board']}/link.ld",
        "uart_baud": ctx["uart_baud"],
        "stack_size": ctx["stack_size"],
        "build_id": ctx["sha256"][:12],
        "app": False,
    } | extra


def _io_summary(t: dict) -> dict:
    return {k: t[k] for k in ("name", "dtype", "dims", "bytes", "scale", "zero_point", "offset")}


def _stage_summary(st: ST.StageCode | None) -> dict | None:
    """codegen.json's ``stage``: the first layers run per band (flash-and-bench folds their counts)."""
    if st is None:
        return None
    return {
        "layers": st.layers,
        "patches": st.patches,
        "streamed": st.streamed,
        "recomputed_macs": st.recomputed_macs,
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
        "protocol": ctx["protocol"],
        "defines": ctx["defines"],
        "inputs": [_io_summary(t) for t in ctx["inputs"]],
        "outputs": [_io_summary(t) for t in ctx["outputs"]],
        "labels": ctx["labels"],
        "input_rows": ctx["input_rows"],
        "input_row_bytes": ctx["input_row_bytes"],
        "layer_table": [
            {"name": L.name, "op": L.op, "kernel": L.kernel, "macs": L.macs, "elements": L.elements}
            | {"reason": L.path}
            | ({"tuned": L.tuned} if L.tuned else {})
            | ({"layout": L.layout} if L.layout else {})
            | ({"stage": True} if L.stage else {})
            | ({"fusion": L.fusion} if L.fusion else {})
            for L in ctx["layers"]
        ],
        "stage": _stage_summary(ctx["stage"]),
        "files": sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()),
    }


def board_has_dsp(board: str) -> bool:
    """The kernels' DSP choices for a board: an emulated core's own, else its chip's core's (the host
    template: the portable ones; a chip whose core has no DSP extension, e.g. a Cortex-M0+: the
    portable ones)."""
    if board not in boards():
        return False
    if get_board(board).core:
        return get_core(str(get_board(board).core)).dsp
    match = core_for(get_board(board).chip)
    return match.core is None or match.core.dsp


def device_board(board: str, target: str | None) -> Board:
    """A board of the registry, with ``target``'s limits when given (an emulated board)."""
    b = get_board(board)
    return with_chip(b, get_target(target)) if target else b


def _device_board(tpl: dict, board: str | None, target: str | None, plan: dict) -> tuple[str, str | None]:
    """(board, chip whose limits it takes or None: its own) for a device template: ``board`` (name
    or nickname); else the template's, or for an emulated template the emulated board of the
    chip's core, the chip ``target`` or else the plan's."""
    if tpl["board"] not in boards():
        if board is not None or target is not None:
            flag = "--board" if board is not None else "--target"
            raise HardtoolError(f"{flag} is for the device templates (qemu, baremetal), not {tpl['name']}")
        return tpl["board"], None
    if board is not None:
        name = get_board(board).name
    elif get_board(tpl["board"]).emulated and (target or plan.get("target")):
        target = target or plan["target"]
        name = emulated_board_for(get_target(str(target))).name
    else:
        name = tpl["board"]
    if target is not None:
        target = get_target(target).name
        device_board(name, target)  # a real board's chip, or memory the machine has: checked here
        target = None if get_board(name).chip.name == target else target
    return name, target


def _filter_flash(
    graph: Graph, plan: dict, board: str, chip: str | None, dsp: bool, reserve: int | None
) -> tuple[Graph, FilterFlash | None, tuple | None]:
    """q15 filter copies only as far as the chip's flash holds them with every other array and the
    code (DSP device boards): the layers generated with every copy, then (when some must keep
    int8) again with the marks. Returns the graph, the plan and the layers when already final."""
    if not dsp or board not in boards():
        return graph, None, None
    built = build_layers(graph, plan, dsp=dsp)
    flash = plan_filter_flash(graph, built[0], device_board(board, chip).chip.flash_bytes, reserve)
    if not flash.int8_layers:
        return graph, flash, built
    return mark_int8_filters(graph, flash), flash, None


def _check_protocol(protocol: str, tpl: dict, template: str) -> None:
    if protocol not in PROTOCOLS:
        raise HardtoolError(f"unknown protocol '{protocol}'; choose one of {', '.join(PROTOCOLS)}")
    if protocol != "hardtool" and tpl["board"] not in boards():
        raise HardtoolError(
            f"--protocol {protocol} is for the device templates (qemu, baremetal), not {template}"
        )


def generate(
    model: Path,
    plan_path: Path,
    template: str,
    out: Path,
    force: bool = False,
    name: str | None = None,
    uart_baud: int | None = None,
    stack_size: int | None = None,
    protocol: str = "hardtool",
    mlperf_input: str | None = None,
    mlperf_model: str | None = None,
    board: str | None = None,
    dsp: bool | None = None,
    target: str | None = None,
    flash_reserve: int | None = None,
) -> dict:
    """Render the project; returns the summary written to codegen.json. ``protocol``: the device
    firmware's serial protocol, hardtool's bench protocol or the MLPerf Tiny runner's. ``board``:
    a board of the registry for a device template (default: the template's; the qemu template's:
    the emulated board of ``target``'s core, default the plan's target, with that chip's limits).
    ``dsp``: False chooses the general (portable) kernels on a DSP board too; default: the board's
    core. ``flash_reserve``: flash bytes kept for code when budgeting the q15 filter copies
    (default: the estimate, hardtool.ops.conv_flash)."""
    model = Path(model)
    tpl = load_template(template)
    _check_protocol(protocol, tpl, template)
    check_input_file(model, "model", "an int8 .tflite file")
    graph = load_graph(model)
    plan = load_plan(plan_path, graph, model)
    dev, chip = _device_board(tpl, board, target, plan)
    tpl = tpl | {"board": dev}
    dsp = board_has_dsp(tpl["board"]) and dsp is not False
    graph, flash, built = _filter_flash(graph, plan, tpl["board"], chip, dsp, flash_reserve)
    layers, info, stage = built or build_layers(graph, plan, dsp=dsp)
    st = ST.rebuild(graph, plan.get("stage"))
    if st is not None:
        ST.check_runnable(graph, st, tpl, protocol, (info.input_rows, info.input_row_bytes))
    if stack_size is None:  # reserve what memplan budgets for the stack, so the link checks the same total
        stack_size = int(plan["peak"].get("parts", {}).get("stack", {}).get("bytes", DEFAULT_STACK_BYTES))
    settings = {"name": name or model.parent.name or model.stem, "board": tpl["board"], "template": template}
    settings["target"] = chip
    settings["protocol_defines"] = protocol_defines(protocol, mlperf_input, info, mlperf_model)
    uart_baud = firmware_baud(tpl["board"], uart_baud, settings["protocol_defines"])
    settings |= {"uart_baud": uart_baud, "stack_size": stack_size, "protocol": protocol}
    settings["chip_limits"] = (
        chip_limits(device_board(tpl["board"], chip)) if tpl["board"] in boards() else ""
    )
    ctx = _context(model, graph, plan, (layers, info, stage), settings)
    with atomic_dir(Path(out), force=force) as tmp:
        _render(tmp, template, tpl, ctx)
        shutil.copy2(model, tmp / "model_int8.tflite")
        shutil.copy2(plan_path, tmp / "memplan.json")
        if tpl["board"] in boards():
            (tmp / "hardtool_build.json").write_text(json_text(_manifest(tmp, ctx)) + "\n")
        summary = _summary(tmp, ctx)
        if flash is not None:
            summary["filter_flash"] = flash.summary()
        (tmp / "codegen.json").write_text(json_text(summary) + "\n")
    return summary
