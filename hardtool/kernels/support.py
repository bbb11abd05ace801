"""The kernel parameters that depend on shapes and constant operands (slice windows, broadcast
shapes, reduction axes, pad amounts), derived once here for both the op records' refusal rules
and their emitters, and the small checks those rules are made of (``need``, ``const``,
``int8``, ``same_quant``): each raises ``Refused`` with the reason. Which op runs is the op
records' business (``hardtool.ops``); this module knows no op list."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.kernels import layout
from hardtool.kernels import quant as Q

MAX_CLASSES = 256  # labels are uint8


class Refused(ValueError):
    """An op the kernels cannot run, with the reason."""


def need(cond: bool, why: str) -> None:
    if not cond:
        raise Refused(why)


def tensor_of(g: Graph, op: Op, i: int, outputs: bool = False) -> Tensor:
    return g.tensors[(op.outputs if outputs else op.inputs)[i]]


def const(g: Graph, op: Op, i: int, what: str) -> np.ndarray:
    need(len(op.inputs) > i and op.inputs[i] >= 0, f"missing {what}")
    t = g.tensors[op.inputs[i]]
    need(t.is_constant, f"its {what} is computed at run time; only constant {what} is supported")
    return t.data


def int8(*ts: Tensor) -> None:
    for t in ts:
        need(
            t.dtype == "int8" and t.quant is not None,
            f"tensor '{t.name}' is {t.dtype}; the kernels take int8",
        )


def same_quant(a: Tensor, b: Tensor) -> None:
    need(a.quant is not None and a.quant.same_as(b.quant), "input and output quantisation differ")


def scale(t: Tensor) -> float:
    return float(t.quant.scale[0])


def zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


# ------------------------------------------------------------ derivations (shared with codegen)


def broadcast_shapes(g: Graph, op: Op) -> tuple[layout.Shape4, layout.Shape4, layout.Shape4]:
    """4-D shapes (input 1, input 2, output) of a broadcasting binary op."""
    a, b, y = tensor_of(g, op, 0), tensor_of(g, op, 1), tensor_of(g, op, 0, True)
    s1, s2, so = layout.broadcast_4d(a.shape, b.shape)
    need(so == layout.to_4d(y.shape), f"output shape {list(y.shape)} is not the broadcast of its inputs")
    return s1, s2, so


def mean_axes(g: Graph, op: Op) -> tuple[layout.Shape4, int]:
    """(4-D input shape, HARD_AXIS_* mask) of a MEAN."""
    axes = [int(a) for a in np.ravel(const(g, op, 1, "axes"))]
    return layout.mean_axes(tensor_of(g, op, 0).shape, axes)


def mean_is_hw(g: Graph, op: Op) -> bool:
    """MEAN over H and W of an NHWC tensor, keeping dims: hard_mean_hw_s8 (one pass, 4 x C scratch)."""
    x, y = tensor_of(g, op, 0), tensor_of(g, op, 0, True)
    if (
        len(x.shape) != 4
        or len(y.shape) != 4
        or not (len(op.inputs) > 1 and g.tensors[op.inputs[1]].is_constant)
    ):
        return False
    return mean_axes(g, op)[1] == layout.AXIS_BITS[1] | layout.AXIS_BITS[2]


def slice_spec(g: Graph, op: Op) -> layout.SliceSpec:
    """The 4-D strided window of a STRIDED_SLICE or SLICE."""
    shape = tensor_of(g, op, 0).shape
    if op.name == "SLICE":
        return layout.slice_4d(shape, const(g, op, 1, "begin"), const(g, op, 2, "size"))
    o = op.options
    masks = {k: int(o.get(k, 0) or 0) for k in ("begin_mask", "end_mask", "shrink_axis_mask")}
    masks |= {k: int(o.get(k, 0) or 0) for k in ("ellipsis_mask", "new_axis_mask", "offset")}
    begin, end, strides = (const(g, op, i, n) for i, n in ((1, "begin"), (2, "end"), (3, "strides")))
    return layout.strided_slice_4d(shape, begin, end, strides, **masks)


def pad_spec(g: Graph, op: Op) -> tuple[layout.Shape4, layout.Shape4, layout.Shape4, int]:
    """(4-D input shape, pads before, pads after, pad value) of a PAD / PADV2."""
    x, y = tensor_of(g, op, 0), tensor_of(g, op, 0, True)
    pads = np.asarray(const(g, op, 1, "paddings")).reshape(-1, 2).tolist()
    shape4, before, after = layout.pad_4d(x.shape, pads)
    value = zp(y)
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        v = const(g, op, 2, "pad value")
        need(v.size == 1 and v.dtype == np.int8, "its pad value is not one int8 constant")
        value = int(v.reshape(-1)[0])
    return shape4, before, after, value


def concat_layout(g: Graph, op: Op) -> tuple[int, list[int]]:
    """(rows, elements per row of each input) of a CONCATENATION along any axis: the inputs are
    interleaved row by row, a row being everything from the axis inwards."""
    y = tensor_of(g, op, 0, True)
    axis = int(op.options.get("axis", -1)) % len(y.shape)
    widths = []
    for t in op.inputs:
        x = g.tensors[t]
        need(len(x.shape) == len(y.shape), "inputs of different ranks")
        widths.append(int(np.prod(x.shape[axis:], dtype=np.int64)))
    return int(np.prod(y.shape[:axis], dtype=np.int64)), widths


def fc_params(g: Graph, op: Op) -> Q.FcParams:
    x, w, y = tensor_of(g, op, 0), tensor_of(g, op, 1), tensor_of(g, op, 0, True)
    return Q.fc_params(scale(x), zp(x), w.quant.scale, scale(y), zp(y), filter_zp=int(w.quant.zero_point[0]))


def add_params(g: Graph, op: Op) -> Q.AddParams:
    a, b, y = tensor_of(g, op, 0), tensor_of(g, op, 1), tensor_of(g, op, 0, True)
    fn = Q.sub_params if op.name == "SUB" else Q.add_params
    return fn(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))


def argmax_classes(g: Graph, op: Op) -> int:
    """Classes of a final ARG_MAX over the last axis (or the fused resize → argmax)."""
    if op.name == "HARD_RESIZE_ARGMAX":
        return int(op.options["num_classes"])
    x = tensor_of(g, op, 0)
    axis = np.ravel(const(g, op, 1, "axis"))
    need(axis.size == 1 and int(axis[0]) % len(x.shape) == len(x.shape) - 1, "ARG_MAX not over the last axis")
    return int(x.shape[-1])
