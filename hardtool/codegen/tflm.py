"""`hardtool codegen --runtime tflm`: the int8 .tflite as a C array for a TensorFlow Lite Micro
project, an op resolver holding exactly the model's ops, and an arena size measured with the
tflite-micro interpreter (plus a stated margin for the target's kernels).

With ``offline_plan`` our planner lays out the *file's* tensors in the order TFLM runs them (TFLM
executes the file's ops: PADs and full-resolution logits included, unlike our lowered graph) and
the layout goes into the model as TFLM's offline plan (metadata ``OfflineMemoryAllocation``). The
planned model is run in TFLM against the unplanned one before anything is written."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from hardtool import __version__
from hardtool.codegen.generate import load_plan, render_env
from hardtool.core.boards import DEFAULT_TARGET, get_target
from hardtool.core.errors import HardtoolError
from hardtool.core.files import atomic_dir, check_clobber, json_text
from hardtool.core.graph import Graph, load_tflite_bytes, lower
from hardtool.core.graph.edit import read_metadata_entry, with_metadata, with_outputs
from hardtool.core.graph.metadata import read_metadata
from hardtool.core.tflm_arena import TFLM_ALIGN, measure
from hardtool.memplan.files import default_plan
from hardtool.ops.cgen import c_float
from hardtool.ops.tables import RESOLVER  # builtin -> MicroMutableOpResolver method (op records)

OFFLINE_METADATA = "OfflineMemoryAllocation"
OFFLINE_VERSION = 0
PROBE_TAIL_BYTES = 1024  # tail bytes for each extra output of the check (a TfLiteTensor and its dims)
# ops whose CMSIS-NN kernels (what TFLM uses on a Cortex-M7) ask for a scratch buffer that the
# host's reference kernels do not
CMSIS_SCRATCH_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D")


def resolver_ops(graph: Graph) -> list[tuple[str, str]]:
    """(builtin, resolver method) for every distinct op of the file, sorted by name."""
    names = sorted({op.name for op in graph.ops})
    missing = [n for n in names if n not in RESOLVER]
    if missing:
        raise HardtoolError(
            f"TFLite Micro has no builtin kernel for {', '.join(missing)}; "
            "use --runtime hardtool or re-export the model without it"
        )
    return [(n, RESOLVER[n]) for n in names]


def _cmsis_nn_scratch(op, graph: Graph) -> int:
    """Scratch bytes CMSIS-NN's wrappers (what TFLM uses on a Cortex-M7) ask for, DSP, no MVE."""
    pad = op.options.get("explicit_padding", (0, 0, 0, 0))
    if op.name == "CONV_2D":
        _, kh, kw, cin = graph.tensors[op.inputs[1]].shape
        # arm_convolve_1x1_s8(_fast): no buffer; arm_convolve_s8: two im2col columns of int16
        return 0 if kh == kw == 1 else 2 * ((kh * kw * cin + 3) // 4 * 4) * 2
    if op.name == "DEPTHWISE_CONV_2D":
        _, kh, kw, cout = graph.tensors[op.inputs[1]].shape
        cin = graph.tensors[op.inputs[0]].shape[-1]
        dil = int(op.options.get("dilation_h_factor", 1)) * int(op.options.get("dilation_w_factor", 1))
        if cin != cout or dil != 1 or (kh == kw == 3 and max(pad) <= 1):
            return 0  # generic arm_depthwise_conv_s8 / arm_depthwise_conv_3x3_s8: no buffer
        return cin * kh * kw * 2  # arm_depthwise_conv_s8_opt
    if op.name == "AVERAGE_POOL_2D":
        return graph.tensors[op.inputs[0]].shape[-1] * 4  # arm_avgpool_s8: int32 per channel
    return 0


def arena_margin(graph: Graph) -> dict:
    """Bytes added to the host measurement for the Cortex-M7 build: the largest CMSIS-NN scratch
    buffer (an estimate: TFLM places it in the head, at most once per op) and the arena's own
    alignment (TFLM aligns its start to 16 bytes)."""
    g = lower(graph)
    scratch = max((_cmsis_nn_scratch(op, g) for op in g.ops if op.name in CMSIS_SCRATCH_OPS), default=0)
    return {"kernel_scratch": int(scratch), "kernel_scratch_kind": "estimate", "alignment": TFLM_ALIGN}


def add_offline_plan(tflite: bytes, offsets: list[int]) -> bytes:
    """``tflite`` with ``offsets`` stored as TFLM's offline plan: int32 [version, number of
    subgraphs, number of tensors, offset of each tensor (-1: TFLM plans it)], replacing any
    earlier plan; the rest of the file is kept as written."""
    n = len(load_tflite_bytes(tflite, validate=False).tensors)
    if n != len(offsets):
        raise HardtoolError("offline plan does not match the model's tensors")
    words = np.array([OFFLINE_VERSION, 1, len(offsets), *offsets], "<i4")
    return with_metadata(tflite, OFFLINE_METADATA, words.tobytes())


def read_offline_plan(tflite: bytes) -> list[int] | None:
    """The offsets of the model's offline plan, or None if it has none."""
    raw = read_metadata_entry(tflite, OFFLINE_METADATA)
    if raw is None:
        return None
    words = np.frombuffer(raw, "<i4")
    return [int(v) for v in words[3 : 3 + int(words[2])]]


def last_op_inputs(graph: Graph) -> list[int]:
    """Activations read by the file's last op: making them extra graph outputs keeps every
    lifetime as it is (they already live to the end), so a checked plan is the shipped plan."""
    last = graph.ops[-1]
    return [
        t
        for t in dict.fromkeys(last.inputs)
        if t >= 0 and not graph.tensors[t].is_constant and t not in graph.outputs
    ]


def tflm_outputs(data: bytes, arena: int, inputs: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Every graph output of TFLM's interpreter (``arena`` bytes) for each input."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data, arena_size=arena)
    n = len(load_tflite_bytes(data, validate=False).outputs)
    res = []
    for x in inputs:
        it.set_input(x, 0)
        it.invoke()
        res.append([np.array(it.get_output(i)) for i in range(n)])
    return res


def check_inputs(graph: Graph, n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """The zero-point image and ``n - 1`` random int8 images."""
    inp = graph.tensors[graph.inputs[0]]
    zp = inp.quant.zero_point[0] if inp.quant else 0
    rng = np.random.default_rng(seed)
    return [np.full(inp.shape, zp, inp.dtype)] + [
        rng.integers(-128, 128, inp.shape).astype(inp.dtype) for _ in range(n - 1)
    ]


def check_offline_plan(
    plain: bytes, planned: bytes, arena_plain: int, arena_planned: int, graph: Graph, n_inputs: int = 3
) -> int:
    """Run both models in TFLM, also exposing the last op's inputs (the logits: a label map alone
    can hide a corrupted intermediate); refuse the plan if any value differs. Returns the number
    of inputs compared. Each extra output costs a tensor struct in the arena's tail; the head,
    where the plan lives, is laid out the same whatever the arena size."""
    extra = last_op_inputs(graph)
    xs = check_inputs(graph, n_inputs)
    more = PROBE_TAIL_BYTES * len(extra)
    want = tflm_outputs(with_outputs(plain, extra), arena_plain + more, xs)
    got = tflm_outputs(with_outputs(planned, extra), arena_planned + more, xs)
    for k, (ws, gs) in enumerate(zip(want, got, strict=True)):
        for w, g in zip(ws, gs, strict=True):
            if not np.array_equal(w, g):
                raise HardtoolError(
                    f"the offline plan changes TFLite Micro's results ({int((w != g).sum())} "
                    f"values differ on test input {k}); generate without --offline-plan"
                )
    return len(xs)


def _measured(path: Path) -> dict:
    res = measure(path)
    if "error" in res:
        raise HardtoolError(f"cannot measure the TFLite Micro arena: {res['error']}")
    return res


def c_bytes(data: bytes, per_line: int = 12) -> str:
    """Body of a byte array initialiser, ``per_line`` hex bytes a line."""
    hexes = [f"0x{b:02x}" for b in data]
    return "\n".join("  " + ", ".join(hexes[i : i + per_line]) + "," for i in range(0, len(hexes), per_line))


def _read_plan(model: Path, graph: Graph, plan: Path | None, offline_plan: bool) -> dict | None:
    """The plan (given, or `default_plan` beside the model): hardtool's arena to compare with, and the
    layout of the file's tensors in TFLM's order (its offline plan). Required with ``offline_plan``."""
    path = Path(plan) if plan is not None else default_plan(model)
    if plan is None and not path.is_file():
        if offline_plan:
            raise HardtoolError(
                f"--offline-plan needs memplan.json ({path.name}); make it with: hardtool memplan {model}"
            )
        return None
    doc = load_plan(path, lower(graph), model)
    if offline_plan and not isinstance(doc.get("tflm_layout"), dict):
        raise HardtoolError(
            f"{path} has no tflm_layout (made by an older hardtool); rerun: hardtool memplan {model}"
        )
    return doc


def _measure_both(source: bytes, graph: Graph, layout: dict | None) -> tuple[bytes, dict, dict | None]:
    """(model to ship, its TFLM measurement, offline-plan report): without a layout the model as it
    is; with one, the model carrying it, checked in TFLM against the same model without it."""
    with tempfile.TemporaryDirectory() as td:
        if layout is not None and read_offline_plan(source) is not None:
            source = add_offline_plan(source, [-1] * len(graph.tensors))  # compare with TFLM planning alone
        plain_path = Path(td) / "plain.tflite"
        plain_path.write_bytes(source)
        plain = _measured(plain_path)
        if layout is None:
            return source, plain, None
        offsets = layout["offsets"]
        data = add_offline_plan(source, offsets)
        planned_path = Path(td) / "planned.tflite"
        planned_path.write_bytes(data)
        tflm = _measured(planned_path)
    checked = check_offline_plan(source, data, plain["arena_bytes"], tflm["arena_bytes"], graph)
    offline = {
        "planned_tensors": sum(o >= 0 for o in offsets),
        "plan_head_bytes": layout["head_bytes"],
        "live_bytes_lower_bound": layout["live_bytes_lower_bound"],
        "arena_without_plan": plain["arena_bytes"],
        "head_without_plan": plain.get("head_bytes"),
        "checked_inputs": checked,
    }
    return data, tflm, offline


def _tensor_ctx(graph: Graph, source: bytes) -> dict:
    """Input / output description and preprocessing for the templates."""
    inp, outp = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    meta = read_metadata(source)
    return {
        "input_shape": list(inp.shape),
        "input_dtype": inp.dtype,
        "input_scale": c_float(inp.quant.scale[0]) if inp.quant else "1.0f",
        "input_scale_text": f"{inp.quant.scale[0]:.9g}" if inp.quant else "1",
        "input_zero_point": int(inp.quant.zero_point[0]) if inp.quant else 0,
        "output_shape": list(outp.shape),
        "output_dtype": outp.dtype,
        "mean": [c_float(v) for v in meta.get("mean", [])],
        "std": [c_float(v) for v in meta.get("std", [])],
    }


def _summary(ctx: dict, graph: Graph) -> dict:
    tflm = ctx["tflm"]
    return {
        "template": "tflm",
        "runtime": "tflm",
        "layers": len(graph.ops),
        "arena_size": ctx["arena_size"],
        "weights_bytes": ctx["data_len"],
        "ops": [n for n, _ in ctx["ops"]],
        "model_sha256": ctx["sha256"],
        "source_sha256": graph.sha256,
        "arena": {
            "tflm_measured": tflm["arena_bytes"],
            "head_bytes": tflm.get("head_bytes"),
            "tail_bytes": tflm.get("tail_bytes"),
            "margin": ctx["margin"],
            "tflite_micro_version": tflm.get("tflite_micro_version"),
            "peak": ctx["peak"],
        },
        "offline_plan": ctx["offline"],
        "hardtool_arena": ctx["hardtool_arena"],
        "target": ctx["target"].lower(),
        "budget_bytes": ctx["budget_bytes"],
        "arena_fits": ctx["arena_fits"],
    }


def generate_tflm(
    model: Path, out: Path, plan: Path | None, force: bool = False, offline_plan: bool = False
) -> dict:
    """Write model_data.cc/.h, model_tflm.cc/.h, README.md (and the .tflite they hold) into ``out``;
    returns a summary (template, arena_size, weights_bytes, ops, files, measurements)."""
    model, out = Path(model), Path(out)
    if not model.is_file():
        raise HardtoolError(f"model {model} not found")
    check_clobber(out, force)  # before the measurements, which take seconds
    source = model.read_bytes()
    graph = load_tflite_bytes(source, model.name)
    ops = resolver_ops(graph)
    doc = _read_plan(model, graph, plan, offline_plan)
    margin = arena_margin(graph)
    data, tflm, offline = _measure_both(source, graph, doc["tflm_layout"] if offline_plan else None)
    arena = (
        -(-(tflm["arena_bytes"] + margin["kernel_scratch"] + margin["alignment"]) // TFLM_ALIGN) * TFLM_ALIGN
    )
    target = get_target(DEFAULT_TARGET)
    ctx = {
        "version": __version__,
        "model_file": model.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "ops": ops,
        "data_len": len(data),
        "arena_size": arena,
        "tflm": tflm,
        "margin": margin,
        "offline": offline,
        "hardtool_arena": int(doc["arena_size"]) if doc else None,
        "target": target.name.upper(),
        "budget_bytes": target.budget_bytes,
        "arena_fits": arena <= target.budget_bytes,
        "peak": (doc.get("tflm_layout") or {}).get("peak") if doc else None,
        **_tensor_ctx(graph, source),
    }
    env = render_env()
    with atomic_dir(out, force=force) as tmp:
        (tmp / "model_int8.tflite").write_bytes(data)
        (tmp / "model_data.cc").write_text(
            env.get_template("tflm/model_data.cc.j2").render(**ctx, body=c_bytes(data))
        )
        for name in ("model_data.h", "model_tflm.h", "model_tflm.cc", "README.md"):
            (tmp / name).write_text(env.get_template(f"tflm/{name}.j2").render(**ctx))
        summary = _summary(ctx, graph)
        summary["files"] = sorted([p.name for p in tmp.iterdir() if p.is_file()] + ["codegen.json"])
        (tmp / "codegen.json").write_text(json_text(summary) + "\n")
    return summary
