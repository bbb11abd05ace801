"""AVERAGE_POOL_2D, MAX_POOL_2D and MEAN over H and W."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.emit import c_struct
from hardtool.codegen.registry import EmitContext, Layer, activation, dims, emits, padding, scale, tile, zp
from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Op
from hardtool.kernels import quant as Q


def _pool(e: EmitContext, op: Op, layer: Layer, p: str, fn: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    o = op.options
    params = {"stride": tile(op, "stride"), "padding": padding(op), "activation": activation(op, y)}
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


@emits("MEAN")
def mean(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    axes = sorted(int(a) % 4 for a in np.ravel(e.t(op.inputs[1]).data))
    if axes != [1, 2] or len(y.shape) != 4:
        raise HardtoolError(
            f"op #{op.index} MEAN over axes {axes} (keep_dims={len(y.shape) == 4}); "
            "only MEAN over H and W with keep_dims is supported"
        )
    rp = Q.mean_params(scale(x), zp(x), scale(y), zp(y))
    params = {
        "input_offset": rp.input_offset,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
    }
    layer.decls.append(c_struct("hard_mean_params", f"{p}_p", params))
    layer.kernel = "hard_mean_hw_s8"
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)};\n    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = hard_mean_hw_s8(&ctx, &{p}_p, &in, {e.ptr(x.index)}, {e.ptr(y.index)}); }}"
    )
