"""Checks that a .tflite is a deployable full-int8 graph: NHWC, native int8 builtins only, no
float tensors, no QUANTIZE/DEQUANTIZE pairs or transposes in the middle, dilation kept native,
and the RESIZE_BILINEAR → ARG_MAX tail that later stages fuse."""

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


def check_int8_graph(path: Path) -> dict:
    """Return the op histogram; raise with the list of offending ops otherwise."""
    it = load_interpreter(path)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = op_list(it)
    hist = Counter(op["op_name"] for op in ops)
    problems = []
    for i, op in enumerate(ops):
        name = op["op_name"]
        ins = [tensors[t] for t in op["inputs"] if t >= 0]
        outs = [tensors[t] for t in op["outputs"]]
        floats = [t["name"] for t in ins + outs if np.dtype(t["dtype"]).kind == "f"]
        if name not in NATIVE_INT8:
            problems.append(f"#{i} {name}")
        elif floats:
            problems.append(f"#{i} {name} (float tensor {floats[0]})")
        elif name == "QUANTIZE" and i not in (0, len(ops) - 1) and np.dtype(ins[0]["dtype"]) != np.int8:
            problems.append(f"#{i} QUANTIZE from {np.dtype(ins[0]['dtype']).name}")
    inp = it.get_input_details()
    if np.dtype(inp[0]["dtype"]) != np.int8:
        problems.append(f"input is {np.dtype(inp[0]['dtype']).name}, not int8")
    if problems:
        shown = ", ".join(problems[:8]) + (f" and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise HardtoolError(
            f"{Path(path).name} is not a full-int8 graph of native ops: {shown}; "
            "re-quantize with 'hardtool quantize' (full integer, TFLITE_BUILTINS_INT8)"
        )
    return dict(hist)


def check_tail(path: Path) -> None:
    """The deployed graph must end in RESIZE_BILINEAR → ARG_MAX so the epilogue can be fused."""
    ops = op_list(load_interpreter(path))
    names = [op["op_name"] for op in ops]
    if names[-2:] != ["RESIZE_BILINEAR", "ARG_MAX"]:
        raise HardtoolError(
            f"{Path(path).name} does not end in RESIZE_BILINEAR → ARG_MAX (ends in "
            f"{' → '.join(names[-2:])}); export the model with its label-map tail"
        )
