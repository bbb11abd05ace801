"""Which ops of a lowered graph the int8 kernel library can run, and the kernel parameters that
depend on shapes and constant operands (slice windows, broadcast shapes, reduction axes, pad
amounts), derived once here for both the refusal list and codegen.

A refusal names the op (index, name, tensor shapes) and why, so codegen can list every op it
cannot take in one error and memplan can warn about them before anything is generated."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Tensor, describe_op
from hardtool.kernels import layout
from hardtool.kernels import quant as Q

# dtype pairs (input, output) of the edge conversions
QUANTIZE_TYPES = {("int8", "int8"), ("float32", "int8"), ("uint8", "int8"), ("int8", "uint8")}
RELUS = ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1")
BROADCASTING = ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM")
RESHAPES = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
MAX_CLASSES = 256  # labels are uint8


class Refused(ValueError):
    """An op the kernels cannot run, with the reason."""


def _need(cond: bool, why: str) -> None:
    if not cond:
        raise Refused(why)


def _t(g: Graph, op: Op, i: int, outputs: bool = False) -> Tensor:
    return g.tensors[(op.outputs if outputs else op.inputs)[i]]


def _const(g: Graph, op: Op, i: int, what: str) -> np.ndarray:
    _need(len(op.inputs) > i and op.inputs[i] >= 0, f"missing {what}")
    t = g.tensors[op.inputs[i]]
    _need(t.is_constant, f"its {what} is computed at run time; only constant {what} is supported")
    return t.data


def _int8(*ts: Tensor) -> None:
    for t in ts:
        _need(
            t.dtype == "int8" and t.quant is not None,
            f"tensor '{t.name}' is {t.dtype}; the kernels take int8",
        )


def _same_quant(a: Tensor, b: Tensor) -> None:
    _need(a.quant is not None and a.quant.same_as(b.quant), "input and output quantisation differ")


def scale(t: Tensor) -> float:
    return float(t.quant.scale[0])


def zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


# ------------------------------------------------------------ derivations (shared with codegen)


def broadcast_shapes(g: Graph, op: Op) -> tuple[layout.Shape4, layout.Shape4, layout.Shape4]:
    """4-D shapes (input 1, input 2, output) of a broadcasting binary op."""
    a, b, y = _t(g, op, 0), _t(g, op, 1), _t(g, op, 0, True)
    s1, s2, so = layout.broadcast_4d(a.shape, b.shape)
    _need(so == layout.to_4d(y.shape), f"output shape {list(y.shape)} is not the broadcast of its inputs")
    return s1, s2, so


def mean_axes(g: Graph, op: Op) -> tuple[layout.Shape4, int]:
    """(4-D input shape, HARD_AXIS_* mask) of a MEAN."""
    axes = [int(a) for a in np.ravel(_const(g, op, 1, "axes"))]
    return layout.mean_axes(_t(g, op, 0).shape, axes)


def mean_is_hw(g: Graph, op: Op) -> bool:
    """MEAN over H and W of an NHWC tensor, keeping dims: hard_mean_hw_s8 (one pass, 4 x C scratch)."""
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    if (
        len(x.shape) != 4
        or len(y.shape) != 4
        or not (len(op.inputs) > 1 and g.tensors[op.inputs[1]].is_constant)
    ):
        return False
    return mean_axes(g, op)[1] == layout.AXIS_BITS[1] | layout.AXIS_BITS[2]


def slice_spec(g: Graph, op: Op) -> layout.SliceSpec:
    """The 4-D strided window of a STRIDED_SLICE or SLICE."""
    shape = _t(g, op, 0).shape
    if op.name == "SLICE":
        return layout.slice_4d(shape, _const(g, op, 1, "begin"), _const(g, op, 2, "size"))
    o = op.options
    masks = {k: int(o.get(k, 0) or 0) for k in ("begin_mask", "end_mask", "shrink_axis_mask")}
    masks |= {k: int(o.get(k, 0) or 0) for k in ("ellipsis_mask", "new_axis_mask", "offset")}
    begin, end, strides = (_const(g, op, i, n) for i, n in ((1, "begin"), (2, "end"), (3, "strides")))
    return layout.strided_slice_4d(shape, begin, end, strides, **masks)


def pad_spec(g: Graph, op: Op) -> tuple[layout.Shape4, layout.Shape4, layout.Shape4, int]:
    """(4-D input shape, pads before, pads after, pad value) of a PAD / PADV2."""
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    pads = np.asarray(_const(g, op, 1, "paddings")).reshape(-1, 2).tolist()
    shape4, before, after = layout.pad_4d(x.shape, pads)
    value = zp(y)
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        v = _const(g, op, 2, "pad value")
        _need(v.size == 1 and v.dtype == np.int8, "its pad value is not one int8 constant")
        value = int(v.reshape(-1)[0])
    return shape4, before, after, value


def concat_layout(g: Graph, op: Op) -> tuple[int, list[int]]:
    """(rows, elements per row of each input) of a CONCATENATION along any axis: the inputs are
    interleaved row by row, a row being everything from the axis inwards."""
    y = _t(g, op, 0, True)
    axis = int(op.options.get("axis", -1)) % len(y.shape)
    widths = []
    for t in op.inputs:
        x = g.tensors[t]
        _need(len(x.shape) == len(y.shape), "inputs of different ranks")
        widths.append(int(np.prod(x.shape[axis:], dtype=np.int64)))
    return int(np.prod(y.shape[:axis], dtype=np.int64)), widths


def fc_params(g: Graph, op: Op) -> Q.FcParams:
    x, w, y = _t(g, op, 0), _t(g, op, 1), _t(g, op, 0, True)
    return Q.fc_params(scale(x), zp(x), w.quant.scale, scale(y), zp(y), filter_zp=int(w.quant.zero_point[0]))


def add_params(g: Graph, op: Op) -> Q.AddParams:
    a, b, y = _t(g, op, 0), _t(g, op, 1), _t(g, op, 0, True)
    fn = Q.sub_params if op.name == "SUB" else Q.add_params
    return fn(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))


def argmax_classes(g: Graph, op: Op) -> int:
    """Classes of a final ARG_MAX over the last axis (or the fused resize → argmax)."""
    if op.name == "HARD_RESIZE_ARGMAX":
        return int(op.options["num_classes"])
    x = _t(g, op, 0)
    axis = np.ravel(_const(g, op, 1, "axis"))
    _need(
        axis.size == 1 and int(axis[0]) % len(x.shape) == len(x.shape) - 1, "ARG_MAX not over the last axis"
    )
    return int(x.shape[-1])


# ------------------------------------------------------------ per-op checks


def _check_conv(g: Graph, op: Op) -> None:
    x, w, y = _t(g, op, 0), _t(g, op, 1), _t(g, op, 0, True)
    _int8(x, y)
    _const(g, op, 1, "filter")
    _need(len(x.shape) == 4, "input is not 4-D NHWC")
    if op.name == "CONV_2D":
        _need(
            w.shape[3] == x.shape[3],
            f"grouped ({x.shape[3]} input channels, filter {w.shape[3]}); "
            "re-quantize with hardtool quantize, which rewrites it as depthwise",
        )


def _check_fc(g: Graph, op: Op) -> None:
    x, w, y = _t(g, op, 0), _t(g, op, 1), _t(g, op, 0, True)
    _int8(x, y)
    _need(
        _const(g, op, 1, "weights").dtype == np.int8 and len(w.shape) == 2,
        "weights are not int8 [units, depth]",
    )
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        _need(_const(g, op, 2, "bias").dtype == np.int32, "bias is not int32")
    layout.fc_shape(x.shape, w.shape)
    fc_params(g, op)


def _check_softmax(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    _int8(x, y)
    _need(abs(scale(y) - 1 / 256) < 1e-9 and zp(y) == -128, "output is not scaled 1/256 with zero point -128")
    Q.softmax_params(float(op.options.get("beta", 1.0)), scale(x))


def _check_unary(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    _int8(x, y)
    if op.name == "HARD_SWISH":
        Q.hard_swish_params(scale(x), zp(x), scale(y), zp(y))


def _check_binary(g: Graph, op: Op) -> None:
    a, b, y = _t(g, op, 0), _t(g, op, 1), _t(g, op, 0, True)
    _int8(a, b, y)
    broadcast_shapes(g, op)
    if op.name in ("MAXIMUM", "MINIMUM"):
        _same_quant(a, y)
        _same_quant(b, y)
    elif op.name in ("ADD", "SUB"):
        add_params(g, op)


def _check_same_quant(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    _int8(x, y)
    _same_quant(x, y)
    if op.name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
        _need(len(x.shape) == 4 and len(y.shape) == 4, "input is not 4-D NHWC")
    elif op.name in ("PAD", "PADV2"):
        pad_spec(g, op)


def _check_mean(g: Graph, op: Op) -> None:
    _int8(_t(g, op, 0), _t(g, op, 0, True))
    mean_axes(g, op)


def _check_slice(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    _need(x.itemsize == 1 and x.dtype == y.dtype, f"tensor '{x.name}' is {x.dtype}; slices take 1-byte types")
    spec = slice_spec(g, op)
    _need(int(np.prod(spec.size)) == int(np.prod(y.shape)), "slice size disagrees with the output shape")


def _check_concat(g: Graph, op: Op) -> None:
    _need(
        op.options.get("fused_activation_function", "NONE") == "NONE", "fused activation on a concatenation"
    )
    y = _t(g, op, 0, True)
    _int8(y, *(g.tensors[t] for t in op.inputs))
    concat_layout(g, op)


def _check_quantize(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    pair = (x.dtype, y.dtype)
    _need(pair in QUANTIZE_TYPES, f"QUANTIZE {x.dtype} -> {y.dtype}; supported: int8/uint8/float32 <-> int8")
    _need(y.quant is not None and (x.dtype == "float32" or x.quant is not None), "unquantised tensor")


def _check_dequantize(g: Graph, op: Op) -> None:
    x, y = _t(g, op, 0), _t(g, op, 0, True)
    _int8(x)
    _need(y.dtype == "float32", f"DEQUANTIZE to {y.dtype}; only int8 -> float32 is supported")


def _check_argmax(g: Graph, op: Op) -> None:
    _int8(_t(g, op, 0))
    y = op.outputs[0]
    _need(
        y in g.outputs and len(g.outputs) == 1,
        "ARG_MAX inside the graph; only a final ARG_MAX (labels) is supported",
    )
    _need(argmax_classes(g, op) <= MAX_CLASSES, f"more than {MAX_CLASSES} classes")


def _check_reshape(g: Graph, op: Op) -> None:
    _need(_t(g, op, 0).nbytes == _t(g, op, 0, True).nbytes, "input and output sizes differ")


CHECKS: dict[str, Callable[[Graph, Op], None]] = {
    "CONV_2D": _check_conv,
    "DEPTHWISE_CONV_2D": _check_conv,
    "FULLY_CONNECTED": _check_fc,
    "SOFTMAX": _check_softmax,
    "LOGISTIC": _check_unary,
    "TANH": _check_unary,
    "LEAKY_RELU": _check_unary,
    "HARD_SWISH": _check_unary,
    **{name: _check_unary for name in RELUS},
    **{name: _check_binary for name in BROADCASTING},
    "AVERAGE_POOL_2D": _check_same_quant,
    "MAX_POOL_2D": _check_same_quant,
    "RESIZE_BILINEAR": _check_same_quant,
    "RESIZE_NEAREST_NEIGHBOR": _check_same_quant,
    "PAD": _check_same_quant,
    "PADV2": _check_same_quant,
    "MEAN": _check_mean,
    "STRIDED_SLICE": _check_slice,
    "SLICE": _check_slice,
    "CONCATENATION": _check_concat,
    "QUANTIZE": _check_quantize,
    "DEQUANTIZE": _check_dequantize,
    "ARG_MAX": _check_argmax,
    "HARD_RESIZE_ARGMAX": _check_argmax,
    **{name: _check_reshape for name in RESHAPES},
}
KERNEL_OPS = frozenset(CHECKS)


def refusal(graph: Graph, op: Op) -> str | None:
    """Why the kernels cannot run ``op`` of the lowered ``graph``, or None when they can."""
    check = CHECKS.get(op.name)
    if check is None:
        return "no int8 kernel"
    try:
        check(graph, op)
    except (ValueError, IndexError) as e:  # Refused, and the layout/quant helpers' ValueErrors
        return str(e)
    return None


def unsupported(graph: Graph) -> list[str]:
    """One line per op the kernels cannot run: index, name, tensor shapes and why."""
    lines = []
    for op in graph.ops:
        why = refusal(graph, op)
        if why is not None:
            lines.append(f"{describe_op(graph, op)}: {why}")
    return lines
