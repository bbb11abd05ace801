"""Checks that a .tflite is a full-int8 graph (no op computing in float, int8 input), that its
quantisation scales are sane, and (for hardtool's own segmentation checkpoints) the
RESIZE_BILINEAR → ARG_MAX tail that later stages fuse. Whether hardtool's runtime has a kernel for
every op is codegen's question, not this one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.ops.tables import LOWERED, SUPPORTED

# the builtins hardtool deploys as int8 ops: everything its graph layer supports except float
# edges (DEQUANTIZE), the space-to-batch form of dilation (native dilation is wanted) and the
# ops that exist only after lowering
NATIVE_INT8 = set(SUPPORTED - LOWERED - {"DEQUANTIZE"})


def op_list(interp) -> list[dict]:
    return interp._get_ops_details()  # noqa: SLF001 - the interpreter's only op listing


def load_interpreter(path: Path, reference: bool = True):
    """tf.lite.Interpreter; ``reference`` selects the reference kernels, which equal TFLite Micro."""
    import tensorflow as tf

    kw = (
        {"experimental_op_resolver_type": tf.lite.experimental.OpResolverType.BUILTIN_REF}
        if reference
        else {}
    )
    try:
        it = tf.lite.Interpreter(model_path=str(path), **kw)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise HardtoolError(
            f"{path} is not a loadable TFLite model ({str(e).splitlines()[0][:160]})"
        ) from None
    return it


def _edge_op(op: dict, graph_in: set, graph_out: set) -> bool:
    """A float input's QUANTIZE or a float output's DEQUANTIZE: the model's float interface."""
    if op["op_name"] == "QUANTIZE":
        return op["inputs"][0] in graph_in
    return op["op_name"] == "DEQUANTIZE" and op["outputs"][0] in graph_out


def _problems(it, allow_float_edges: bool) -> list[str]:
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    graph_in = {d["index"] for d in it.get_input_details()}
    graph_out = {d["index"] for d in it.get_output_details()}
    ops = op_list(it)
    problems = []
    for i, op in enumerate(ops):
        if allow_float_edges and _edge_op(op, graph_in, graph_out):
            continue
        ins = [tensors[t] for t in op["inputs"] if t >= 0]
        outs = [tensors[t] for t in op["outputs"]]
        floats = [t for t in ins + outs if np.dtype(t["dtype"]).kind == "f"]
        if floats:
            t = floats[0]
            problems.append(f"#{i} {op['op_name']} (float32 tensor '{t['name'][:60]}' {list(t['shape'])})")
    for d in it.get_input_details():
        if np.dtype(d["dtype"]) not in (np.int8, np.float32) or (
            np.dtype(d["dtype"]) == np.float32 and not allow_float_edges
        ):
            problems.append(f"input is {np.dtype(d['dtype']).name}, not int8")
    return problems


def check_int8_graph(path: Path, allow_float_edges: bool = False) -> dict:
    """Return the op histogram of a full-int8 graph: every op computes on int8 / int16 / int32
    tensors, the input is int8 (with ``allow_float_edges``, a float input's QUANTIZE and a float
    output's DEQUANTIZE are accepted as the model's interface). Ops hardtool has no kernel for are
    not refused here: that is codegen's business. Raises with the ops computing in float."""
    it = load_interpreter(path)
    hist = Counter(op["op_name"] for op in op_list(it))
    problems = _problems(it, allow_float_edges)
    if problems:
        shown = ", ".join(problems[:6]) + (f" and {len(problems) - 6} more" if len(problems) > 6 else "")
        float_model = len(problems) >= len(op_list(it))
        fix = (
            "this is a float TFLite model, which hardtool cannot calibrate: quantize the .onnx or the "
            "checkpoint it came from instead"
            if float_model
            else "re-quantize it from its .onnx with 'hardtool quantize' (full integer, TFLITE_BUILTINS_INT8)"
        )
        raise HardtoolError(f"{Path(path).name} is not a full-int8 graph: {shown}; {fix}")
    return dict(hist)


ABSURD_SCALE = (1e-12, 1e6)


def _cause(bad: list[tuple[int, str, str, float]]) -> str:
    """The likely cause of absurd scales, from the ops that have them."""
    pads = [i for i, name, _, sc in bad if name == "PADV2" and sc > ABSURD_SCALE[1]]
    if pads:
        return (
            f"op #{pads[0]} PADV2 pads with a huge constant, as the converter pads a padded MaxPool "
            "with -FLT_MAX: quantize the .onnx with 'hardtool quantize' (it pads the pool with a finite "
            "value first), or pad explicitly (F.pad(x, p, value=0) after a ReLU) before an unpadded "
            "nn.MaxPool2d"
        )
    if max(sc for *_, sc in bad) > ABSURD_SCALE[1]:
        return (
            "the calibration saw values near 1e8 or more: check the input normalisation (--mean/--std) "
            "and unbounded activations (e.g. exp, division by a small number)"
        )
    return (
        "the tensor was constant (zero) on every calibration sample: calibrate on real data (more "
        "--calib-images), or remove the dead branch from the model"
    )


def check_scales(path: Path) -> list[dict]:
    """Every activation tensor's quantisation scale within ABSURD_SCALE; raises naming the first op
    whose output scale is absurd, with the likely cause and what to change. Returns [] (checked)."""
    it = load_interpreter(path)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = op_list(it)
    bad = []
    for i, op in enumerate(ops):
        for t in op["outputs"]:
            sc = tensors[t]["quantization_parameters"]["scales"]
            if len(sc) and not (ABSURD_SCALE[0] <= float(np.max(sc)) <= ABSURD_SCALE[1]):
                bad.append((i, op["op_name"], tensors[t]["name"], float(np.max(sc))))
    if bad:
        i, name, tname, sc = bad[0]
        more = f" ({len(bad) - 1} more tensors after it)" if len(bad) > 1 else ""
        raise HardtoolError(
            f"{Path(path).name}: op #{i} {name} has an absurd int8 output scale {sc:.3g} (tensor "
            f"'{tname[:60]}'){more}, so the int8 model computes nothing useful; likely cause: "
            f"{_cause(bad)}"
        )
    return []


def check_tail(path: Path) -> None:
    """The deployed graph must end in RESIZE_BILINEAR → ARG_MAX so the epilogue can be fused."""
    ops = op_list(load_interpreter(path))
    names = [op["op_name"] for op in ops]
    if names[-2:] != ["RESIZE_BILINEAR", "ARG_MAX"]:
        raise HardtoolError(
            f"{Path(path).name} does not end in RESIZE_BILINEAR → ARG_MAX (ends in "
            f"{' → '.join(names[-2:])}); export the model with its label-map tail"
        )
