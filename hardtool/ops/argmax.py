"""A final ARG_MAX over the last axis (a uint8 label map) and the fused resize -> argmax tail
HARD_RESIZE_ARGMAX (made by lower()), which writes the label map row by row."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, axis_values, tensor_label
from hardtool.kernels import support as S
from hardtool.kernels.scratch import kernel_scratch_bytes
from hardtool.ops.cgen import EmitContext, Layer, dims
from hardtool.ops.record import Kernel, OpRecord
from hardtool.ops.resize import resize_params

ARGMAX_FAST_CLASSES = 32  # the eight-pixel resize->argmax path keys up to 32 classes


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    (axis,) = axis_values(c, 1, len(x.shape))[:1]
    want = tuple(d for i, d in enumerate(x.shape) if i != axis)
    c.ensure(
        y.shape == want,
        f"output {tensor_label(y)} is {list(y.shape)}, reducing axis {axis} gives {list(want)}",
    )
    c.ensure(y.dtype in ("int32", "int64"), f"output is {y.dtype}, not int32 or int64")


def _refuse(g: Graph, op: Op) -> None:
    S.int8(S.tensor_of(g, op, 0))
    y = op.outputs[0]
    S.need(
        y in g.outputs and len(g.outputs) == 1,
        "ARG_MAX inside the graph; only a final ARG_MAX (labels) is supported",
    )
    S.need(S.argmax_classes(g, op) <= S.MAX_CLASSES, f"more than {S.MAX_CLASSES} classes")


def _choose_fused(g: Graph, op: Op, dsp: bool) -> Kernel:
    shape = g.tensors[op.inputs[0]].shape
    classes = shape[-1]
    fast = classes <= ARGMAX_FAST_CLASSES
    reason = (
        "blocks labelled from their corners, else eight pixels per SIMD key maximum over the classes that can win"
        if fast
        else f"{classes} classes: portable loop"
    )
    kernel = "hard_resize_bilinear_argmax_s8"
    return Kernel(kernel, None, kernel_scratch_bytes(kernel, shape), reason)


def arg_max(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x = e.t(op.inputs[0])  # a final ARG_MAX (its refusal rule checks it): a uint8 label map
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)};\n"
        f"    st = {layer.kernel}(&in, {e.ptr(x.index)}, {e.typed(op.outputs[0], 'uint8_t')}); }}"
    )


def hard_resize_argmax(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x = e.t(op.inputs[0])
    o = op.options
    layer.decls.append(resize_params(op, p))
    out = dims((1, o["output_height"], o["output_width"], o["num_classes"]))
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)}, out = {out};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {layer.kernel}(&ctx, &{p}_p, &in, {e.ptr(x.index)}, &out, {e.typed(op.outputs[0], 'uint8_t')}); }}"
    )


RECORDS = [
    OpRecord(
        "ARG_MAX",
        arity=(2, 2, 1),
        prepare=_prepare,
        refuse=_refuse,
        choose=lambda g, op, dsp: Kernel("hard_argmax_c_s8"),
        emit=arg_max,
        tflm="AddArgMax",
        summary="a final argmax over channels: the uint8 label map",
    ),
    OpRecord(
        "HARD_RESIZE_ARGMAX",
        arity=(1, 1, 1),
        refuse=_refuse,
        choose=_choose_fused,
        emit=hard_resize_argmax,
        lowered=True,
        summary="resize -> argmax fused by lower(): labels row by row",
    ),
]
