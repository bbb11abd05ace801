"""RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, a final ARG_MAX and the fused resize → argmax tail
(HARD_RESIZE_ARGMAX, made by lower()), which writes the uint8 label map row by row."""

from __future__ import annotations

from hardtool.codegen.registry import EmitContext, Layer, dims, emits
from hardtool.core.graph.ir import Op
from hardtool.ops.cgen import c_struct


def _params(op: Op, p: str, extra: dict | None = None) -> str:
    o = op.options
    fields = {
        "align_corners": bool(o.get("align_corners")),
        "half_pixel_centers": bool(o.get("half_pixel_centers")),
    } | (extra or {})
    return c_struct("hard_resize_params", f"{p}_p", fields)


def _resize(e: EmitContext, op: Op, layer: Layer, p: str, fn: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    layer.decls.append(_params(op, p, e.stride_field(y.index)))
    layer.kernel = fn
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)}, out = {dims(y.shape)};\n"
        f"    st = {fn}(&{p}_p, &in, {e.ptr(x.index)}, &out, {e.ptr(y.index)}); }}"
    )


@emits("RESIZE_BILINEAR")
def resize_bilinear(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    _resize(e, op, layer, p, "hard_resize_bilinear_s8")


@emits("RESIZE_NEAREST_NEIGHBOR")
def resize_nearest_neighbor(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    _resize(e, op, layer, p, "hard_resize_nearest_s8")


@emits("ARG_MAX")
def arg_max(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x = e.t(op.inputs[0])  # a final ARG_MAX (kernels.support checks it): a uint8 label map
    layer.kernel = "hard_argmax_c_s8"
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)};\n"
        f"    st = hard_argmax_c_s8(&in, {e.ptr(x.index)}, {e.typed(op.outputs[0], 'uint8_t')}); }}"
    )


@emits("HARD_RESIZE_ARGMAX")
def hard_resize_argmax(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x = e.t(op.inputs[0])
    o = op.options
    layer.decls.append(_params(op, p))
    out = dims((1, o["output_height"], o["output_width"], o["num_classes"]))
    layer.kernel = "hard_resize_bilinear_argmax_s8"
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)}, out = {out};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = hard_resize_bilinear_argmax_s8(&ctx, &{p}_p, &in, {e.ptr(x.index)}, &out, {e.typed(op.outputs[0], 'uint8_t')}); }}"
    )
