"""CONV_2D and DEPTHWISE_CONV_2D (PAD folded in by lower()), per-channel requantisation."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.registry import EmitContext, Layer, activation, dims, emits, padding, scale, tile, zp
from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Op, Tensor
from hardtool.kernels import quant as Q
from hardtool.ops.cgen import c_array, c_struct


def _weights(
    e: EmitContext, op: Op, layer: Layer, p: str, depthwise: bool
) -> tuple[Tensor, Tensor, str, Tensor]:
    """Declare weights, per-channel multipliers / shifts and bias; returns (x, w, bias expr, y)."""
    x, w, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    b = e.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    cout = y.shape[-1]
    fscales = list(w.quant.scale) if len(w.quant.scale) > 1 else [w.quant.scale[0]] * cout
    mult, shift = Q.conv_channel_params(scale(x), fscales, scale(y))
    layer.decls += [
        c_array(f"{p}_w", w.data.astype(np.int8)),
        c_array(f"{p}_mult", np.asarray(mult, np.int32)),
        c_array(f"{p}_shift", np.asarray(shift, np.int32)),
    ]
    if b is not None:
        layer.decls.append(c_array(f"{p}_b", b.data.astype(np.int32)))
    kh, kw = w.shape[1], w.shape[2]
    layer.macs = int(np.prod(y.shape)) * kh * kw * (1 if depthwise else w.shape[3])
    return x, w, f"{p}_b" if b is not None else "NULL", y


def _call(e: EmitContext, op: Op, p: str, fn: str, x: Tensor, w: Tensor, bias: str, y: Tensor) -> str:
    return (
        f"{{ static const hard_per_channel_quant q = {{.multiplier = {p}_mult, .shift = {p}_shift}};\n"
        f"    static const hard_dims in = {dims(x.shape)}, f = {dims(w.shape)}, out = {dims(y.shape)};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {fn}(&ctx, &{p}_p, &q, &in, {e.ptr(x.index)}, &f, {p}_w, {bias}, &out, {e.ptr(y.index)}); }}"
    )


@emits("CONV_2D")
def conv_2d(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, w, bias, y = _weights(e, op, layer, p, depthwise=False)
    if w.shape[3] != x.shape[3]:
        raise HardtoolError(
            f"op #{op.index} CONV_2D is grouped ({x.shape[3]} input channels, filter "
            f"{w.shape[3]}); re-quantize with hardtool quantize, which rewrites it as depthwise"
        )
    params = {
        "input_offset": -zp(x),
        "output_offset": zp(y),
        "stride": tile(op, "stride"),
        "dilation": tile(op, "dilation"),
        "padding": padding(op),
        "activation": activation(op, y),
    } | e.stride_field(y.index)
    layer.decls.append(c_struct("hard_conv_params", f"{p}_p", params))
    layer.kernel = "hard_convolve_s8"
    layer.call = _call(e, op, p, layer.kernel, x, w, bias, y)


@emits("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, w, bias, y = _weights(e, op, layer, p, depthwise=True)
    params = {
        "input_offset": -zp(x),
        "output_offset": zp(y),
        "ch_mult": y.shape[-1] // x.shape[-1],
        "stride": tile(op, "stride"),
        "dilation": tile(op, "dilation"),
        "padding": padding(op),
        "activation": activation(op, y),
    } | e.stride_field(y.index)
    layer.decls.append(c_struct("hard_dw_conv_params", f"{p}_p", params))
    layer.kernel = "hard_depthwise_conv_s8"
    layer.call = _call(e, op, p, layer.kernel, x, w, bias, y)
