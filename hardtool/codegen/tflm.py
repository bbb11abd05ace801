"""`hardtool codegen --runtime tflm`: the int8 .tflite as a C array for a TensorFlow Lite Micro
project, an op resolver holding exactly the model's ops, and an arena size measured with the
tflite-micro interpreter (plus a stated margin for the target's kernels).

With ``offline_plan`` our planner lays out the *file's* tensors in the order TFLM runs them (TFLM
executes the file's ops: PADs and full-resolution logits included, unlike our lowered graph) and
the layout goes into the model as TFLM's offline plan (metadata ``OfflineMemoryAllocation``). The
planned model is run in TFLM against the unplanned one before anything is written."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from hardtool import __version__
from hardtool.codegen.emit import c_float
from hardtool.codegen.generate import _env, load_plan
from hardtool.errors import HardtoolError
from hardtool.fsutil import atomic_dir, check_clobber
from hardtool.graph import Graph, load_tflite_bytes, lower
from hardtool.memplan.lifetimes import blocks_for_order, live_profile, static_groups
from hardtool.memplan.place import ALIGN, align, place
from hardtool.memplan.schedule import file_order
from hardtool.memplan.scratch import cmsis_nn_estimate
from hardtool.memplan.targets import DEFAULT_TARGET, get_target
from hardtool.memplan.tflm import measure
from hardtool.quantize.metadata import read_metadata

OFFLINE_METADATA = "OfflineMemoryAllocation"
OFFLINE_VERSION = 0
PROBE_TAIL_BYTES = 1024  # tail bytes for each extra output of the check (a TfLiteTensor and its dims)
# builtin → tflite::MicroMutableOpResolver method (tensorflow/lite/micro/micro_mutable_op_resolver.h)
RESOLVER = {
    "ADD": "AddAdd",
    "ARG_MAX": "AddArgMax",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "EXPAND_DIMS": "AddExpandDims",
    "FULLY_CONNECTED": "AddFullyConnected",
    "HARD_SWISH": "AddHardSwish",
    "LEAKY_RELU": "AddLeakyRelu",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MAXIMUM": "AddMaximum",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MUL": "AddMul",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "QUANTIZE": "AddQuantize",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "SOFTMAX": "AddSoftmax",
    "SQUEEZE": "AddSqueeze",
    "SUB": "AddSub",
    "TANH": "AddTanh",
    "TRANSPOSE_CONV": "AddTransposeConv",
}
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


def arena_margin(graph: Graph) -> dict:
    """Bytes added to the host measurement for the Cortex-M7 build: the largest CMSIS-NN scratch
    buffer (an estimate: TFLM places it in the head, at most once per op) and the arena's own
    alignment (TFLM aligns its start to 16 bytes)."""
    g = lower(graph)
    scratch = max((cmsis_nn_estimate(op, g) for op in g.ops if op.name in CMSIS_SCRATCH_OPS), default=0)
    return {"kernel_scratch": int(scratch), "kernel_scratch_kind": "estimate", "alignment": ALIGN}


def _file_blocks(graph: Graph) -> list:
    """Blocks with TFLM's lifetimes for the file's op order. In-place sharing is kept only where
    TFLM's kernels allow it: reshapes (TFLM skips the copy) and elementwise ops over an input that
    dies there (the kernels read element i before writing it); concatenation slices are not shared
    because TFLM's concat copies every input. TFLM's own scratch buffers are planned around these."""
    if graph.lowered:
        raise ValueError("TFLM runs the file's graph, not the lowered one")
    gr = static_groups(graph)
    gr.alias = {t: a for t, a in gr.alias.items() if a.reason == "reshape"}
    return blocks_for_order(graph, file_order(graph), gr, {})


def peak_live(graph: Graph) -> dict:
    """The step of the file's order with the most live activation bytes, and what is live there:
    no placement of TFLM's head can be smaller."""
    blocks = _file_blocks(graph)
    prof = live_profile(blocks, len(graph.ops))
    step = max(range(len(prof)), key=lambda i: (prof[i], -i))
    live = sorted((b for b in blocks if b.first <= step <= b.last), key=lambda b: -b.size)
    return {
        "op": step,
        "op_name": graph.ops[step].name,
        "bytes": prof[step],
        "tensors": [{"name": b.name, "bytes": b.size} for b in live],
    }


def file_order_offsets(graph: Graph) -> tuple[list[int], int, int]:
    """Arena offsets of the file's tensors for TFLM's execution order (each tensor live from its
    producer to its last reader): (offset per tensor or -1 for constants, head bytes, live-bytes
    lower bound)."""
    blocks = _file_blocks(graph)
    bound = max(live_profile(blocks, len(graph.ops)))
    placement, _ = place(blocks, bound)
    offsets = [-1] * len(graph.tensors)
    for b, off in zip(blocks, placement.offsets, strict=True):
        for t, a in b.members.items():
            offsets[t] = off + a.offset
    return offsets, placement.arena, bound


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def add_offline_plan(tflite: bytes, offsets: list[int]) -> bytes:
    """``tflite`` with ``offsets`` stored as TFLM's offline plan: int32 [version, number of
    subgraphs, number of tensors, offset of each tensor (-1: TFLM plans it)], replacing any
    earlier plan; the rest of the file is kept as written."""
    import flatbuffers

    s = _schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    if len(model.subgraphs) != 1 or len(model.subgraphs[0].tensors) != len(offsets):
        raise HardtoolError("offline plan does not match the model's tensors")
    buf = s.BufferT()
    buf.data = np.array([OFFLINE_VERSION, 1, len(offsets), *offsets], "<i4").view(np.uint8)
    model.buffers.append(buf)
    md = s.MetadataT()
    md.name = OFFLINE_METADATA
    md.buffer = len(model.buffers) - 1
    keep = [m for m in (model.metadata or []) if m.name not in (OFFLINE_METADATA, OFFLINE_METADATA.encode())]
    model.metadata = keep + [md]
    b = flatbuffers.Builder(len(tflite) + 4 * len(offsets) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def read_offline_plan(tflite: bytes) -> list[int] | None:
    """The offsets of the model's offline plan, or None if it has none."""
    s = _schema()
    m = s.Model.GetRootAsModel(bytearray(tflite), 0)
    for i in range(m.MetadataLength()):
        md = m.Metadata(i)
        if md.Name() and md.Name().decode() == OFFLINE_METADATA:
            words = m.Buffers(md.Buffer()).DataAsNumpy().view("<i4")
            return [int(v) for v in words[3 : 3 + int(words[2])]]
    return None


def last_op_inputs(graph: Graph) -> list[int]:
    """Activations read by the file's last op: making them extra graph outputs keeps every
    lifetime as it is (they already live to the end), so a checked plan is the shipped plan."""
    last = graph.ops[-1]
    return [
        t
        for t in dict.fromkeys(last.inputs)
        if t >= 0 and not graph.tensors[t].is_constant and t not in graph.outputs
    ]


def with_outputs(tflite: bytes, extra: list[int]) -> bytes:
    """``tflite`` with tensors ``extra`` appended to the subgraph's outputs (metadata kept)."""
    import flatbuffers

    s = _schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    sg = model.subgraphs[0]
    sg.outputs = [int(t) for t in sg.outputs] + [int(t) for t in extra]
    b = flatbuffers.Builder(len(tflite) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


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
    hardtool_arena = None
    if plan is not None:
        hardtool_arena = int(load_plan(Path(plan), graph.sha256, model)["arena_size"])
    margin = arena_margin(graph)
    peak = peak_live(graph)
    with tempfile.TemporaryDirectory() as td:
        data, offline = source, None
        if offline_plan and read_offline_plan(source) is not None:
            source = add_offline_plan(source, [-1] * len(graph.tensors))  # compare with TFLM planning alone
        plain_path = Path(td) / "plain.tflite"
        plain_path.write_bytes(source)
        plain = _measured(plain_path)
        if offline_plan:
            offsets, head, bound = file_order_offsets(graph)
            data = add_offline_plan(source, offsets)
            planned_path = Path(td) / "planned.tflite"
            planned_path.write_bytes(data)
            tflm = _measured(planned_path)
            checked = check_offline_plan(source, data, plain["arena_bytes"], tflm["arena_bytes"], graph)
            offline = {
                "planned_tensors": sum(o >= 0 for o in offsets),
                "plan_head_bytes": head,
                "live_bytes_lower_bound": bound,
                "arena_without_plan": plain["arena_bytes"],
                "head_without_plan": plain.get("head_bytes"),
                "checked_inputs": checked,
            }
        else:
            tflm = plain
    arena = align(tflm["arena_bytes"] + margin["kernel_scratch"] + margin["alignment"])
    sha = hashlib.sha256(data).hexdigest()
    meta = read_metadata(source)
    target = get_target(DEFAULT_TARGET)
    inp, outp = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    ctx = {
        "version": __version__,
        "model_file": model.name,
        "sha256": sha,
        "ops": ops,
        "data_len": len(data),
        "arena_size": arena,
        "tflm": tflm,
        "margin": margin,
        "offline": offline,
        "hardtool_arena": hardtool_arena,
        "input_shape": list(inp.shape),
        "input_dtype": inp.dtype,
        "input_scale": c_float(inp.quant.scale[0]) if inp.quant else "1.0f",
        "input_scale_text": f"{inp.quant.scale[0]:.9g}" if inp.quant else "1",
        "input_zero_point": int(inp.quant.zero_point[0]) if inp.quant else 0,
        "output_shape": list(outp.shape),
        "output_dtype": outp.dtype,
        "mean": [c_float(v) for v in meta.get("mean", [])],
        "std": [c_float(v) for v in meta.get("std", [])],
        "target": target.name.upper(),
        "budget_bytes": target.budget_bytes,
        "arena_fits": arena <= target.budget_bytes,
        "peak": peak,
    }
    env = _env()
    with atomic_dir(out, force=force) as tmp:
        (tmp / "model_int8.tflite").write_bytes(data)
        (tmp / "model_data.cc").write_text(
            env.get_template("tflm/model_data.cc.j2").render(**ctx, body=c_bytes(data))
        )
        for name in ("model_data.h", "model_tflm.h", "model_tflm.cc", "README.md"):
            (tmp / name).write_text(env.get_template(f"tflm/{name}.j2").render(**ctx))
        summary = {
            "template": "tflm",
            "runtime": "tflm",
            "layers": len(graph.ops),
            "arena_size": arena,
            "weights_bytes": len(data),
            "ops": [n for n, _ in ops],
            "model_sha256": sha,
            "source_sha256": graph.sha256,
            "arena": {
                "tflm_measured": tflm["arena_bytes"],
                "head_bytes": tflm.get("head_bytes"),
                "tail_bytes": tflm.get("tail_bytes"),
                "margin": margin,
                "tflite_micro_version": tflm.get("tflite_micro_version"),
                "peak": peak,
            },
            "offline_plan": offline,
            "hardtool_arena": hardtool_arena,
            "target": target.name,
            "budget_bytes": target.budget_bytes,
            "arena_fits": ctx["arena_fits"],
        }
        summary["files"] = sorted([p.name for p in tmp.iterdir() if p.is_file()] + ["codegen.json"])
        (tmp / "codegen.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
