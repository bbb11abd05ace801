"""AVERAGE_POOL_2D and MAX_POOL_2D (MEAN: ops/reduce.py)."""

from __future__ import annotations

from hardtool.codegen.registry import EmitContext, Layer, activation, dims, emits, padding, tile
from hardtool.core.graph.ir import Op
from hardtool.ops.cgen import c_struct


def _pool(e: EmitContext, op: Op, layer: Layer, p: str, fn: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    o = op.options
    params = {"stride": tile(op, "stride"), "padding": padding(op), "activation": activation(op, y)}
    params |= e.stride_field(y.index)
    layer.decls.append(c_struct("hard_pool_params", f"{p}_p", params))
    window = dims((1, o["filter_height"], o["filter_width"], 1))
    layer.kernel = fn
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)}, f = {window}, out = {dims(y.shape)};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {fn}(&ctx, &{p}_p, &in, {e.ptr(x.index)}, &f, &out, {e.ptr(y.index)}); }}"
    )


@emits("AVERAGE_POOL_2D")
def average_pool_2d(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    _pool(e, op, layer, p, "hard_avgpool_s8")


@emits("MAX_POOL_2D")
def max_pool_2d(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    _pool(e, op, layer, p, "hard_max_pool_s8")
