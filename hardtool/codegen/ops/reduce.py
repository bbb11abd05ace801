"""MEAN over any axes: hard_mean_hw_s8 (one pass, 4 x C scratch) over H and W with keep_dims,
else the general hard_mean_s8."""

from __future__ import annotations

from hardtool.codegen.registry import EmitContext, Layer, dims, emits, scale, zp
from hardtool.core.graph.ir import Op
from hardtool.kernels import quant as Q
from hardtool.kernels import support
from hardtool.ops.cgen import c_struct


@emits("MEAN")
def mean(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    rp = Q.mean_params(scale(x), zp(x), scale(y), zp(y))
    params = {
        "input_offset": rp.input_offset,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
    }
    layer.decls.append(c_struct("hard_mean_params", f"{p}_p", params))
    shape4, mask = support.mean_axes(e.graph, op)
    if support.mean_is_hw(e.graph, op):
        layer.kernel = "hard_mean_hw_s8"
        layer.call = (
            f"{{ static const hard_dims in = {dims(x.shape)};\n    const hard_context ctx = {e.ctx(op)};\n"
            f"    st = hard_mean_hw_s8(&ctx, &{p}_p, &in, {e.ptr(x.index)}, {e.ptr(y.index)}); }}"
        )
        return
    layer.kernel = "hard_mean_s8"
    layer.call = (
        f"{{ static const hard_dims in = {dims(shape4)};\n"
        f"    st = hard_mean_s8(&{p}_p, &in, {mask}, {e.ptr(x.index)}, {e.ptr(y.index)}); }}"
    )
