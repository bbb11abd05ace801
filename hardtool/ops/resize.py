"""RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (4-D NHWC, same quantisation in and out)."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Op
from hardtool.core.graph.validate import Check, tensor_label
from hardtool.ops.cgen import EmitContext, Layer, c_struct, dims
from hardtool.ops.pool import refuse_same_quant_4d
from hardtool.ops.record import Kernel, OpRecord


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    c.rank(x, 4)
    c.rank(y, 4)
    c.same_type(x, y)
    size = c.const(c.inp(1), "size")
    c.ensure(size.dtype == np.int32 and size.shape == (2,), f"size {list(size.shape)} must be int32 [2]")
    want = (x.shape[0], int(size[0]), int(size[1]), x.shape[3])
    c.ensure(
        y.shape == want, f"output {tensor_label(y)} is {list(y.shape)}, the size operand gives {list(want)}"
    )
    c.ensure(
        c.op.name != "RESIZE_BILINEAR" or not (c.o.get("align_corners") and c.o.get("half_pixel_centers")),
        "align_corners and half_pixel_centers are both set",
    )


def resize_params(op: Op, p: str, extra: dict | None = None) -> str:
    """``hard_resize_params {p}_p``: align_corners, half_pixel_centers (and ``extra`` fields)."""
    o = op.options
    fields = {
        "align_corners": bool(o.get("align_corners")),
        "half_pixel_centers": bool(o.get("half_pixel_centers")),
    } | (extra or {})
    return c_struct("hard_resize_params", f"{p}_p", fields)


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    layer.decls.append(resize_params(op, p, e.stride_field(y.index)))
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)}, out = {dims(y.shape)};\n"
        f"    st = {layer.kernel}(&{p}_p, &in, {e.ptr(x.index)}, &out, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        name,
        arity=(2, 2, 1),
        prepare=_prepare,
        refuse=refuse_same_quant_4d,
        strided_output=True,
        choose=lambda g, op, dsp, k=kernel: Kernel(k),
        emit=_emit,
        tflm=tflm,
        summary=summary,
    )
    for name, kernel, tflm, summary in (
        ("RESIZE_BILINEAR", "hard_resize_bilinear_s8", "AddResizeBilinear", "bilinear resize"),
        ("RESIZE_NEAREST_NEIGHBOR", "hard_resize_nearest_s8", "AddResizeNearestNeighbor", "nearest resize"),
    )
]
