"""Grouped CONV_2D (filter input channels = input channels / groups, groups > 1): the branch of
CONV_2D's record for what TFLite 2.19's converter emits from a torch Conv2d with groups > 1
that is not depthwise (ESPNetV2's EESP units). Reference: reference_integer_ops::ConvPerChannel.

On a DSP target the GEMM kernel runs: per pixel pair, each group's q15 im2col column against
that group's filter rows (SMLAD 2x2 blocks). Both kernels write pixels in raster order, every
channel of a pixel pair before the next pair, so the layer keeps CONV_2D's in-place rule and
its strided output. No RECORDS here: CONV_2D's record calls these."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.kernels import quant as Q
from hardtool.kernels.scratch_conv_ext import grouped_gemm_buffer_size
from hardtool.kernels.support import Refused
from hardtool.ops.cgen import (
    EmitContext,
    Layer,
    activation,
    c_array,
    c_struct,
    dims,
    padding,
    scale,
    tile,
    zp,
)
from hardtool.ops.record import Kernel

PORTABLE = "hard_convolve_grouped_s8"
SIMD = "hard_convolve_grouped_gemm_s8"


def groups(g: Graph, op: Op) -> int:
    """Input channels / filter input channels (1 for an ordinary convolution)."""
    x, w = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
    return max(1, int(x.shape[-1]) // max(1, int(w.shape[-1])))


def is_grouped(g: Graph, op: Op) -> bool:
    return op.name == "CONV_2D" and groups(g, op) > 1


def refuse(g: Graph, op: Op) -> None:
    """What TFLite's Prepare requires of the groups and what our kernels need of the tensors."""
    x, w, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    n = groups(g, op)
    if x.shape[-1] % w.shape[-1] or y.shape[-1] % n:
        raise Refused(f"{x.shape[-1]} input / {y.shape[-1]} output channels do not split into {n} groups")
    if w.dtype != "int8" or w.quant is None or any(z != 0 for z in w.quant.zero_point):
        raise Refused("grouped filter is not symmetric int8")


def choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    n = groups(g, op)
    if not dsp:
        return Kernel(PORTABLE, reason=f"{n} groups: portable loop")
    w = g.tensors[op.inputs[1]].shape
    why = f"{n} groups of {w[3]} channels, {w[1]}x{w[2]}: per-group q15 im2col + SMLAD GEMM"
    return Kernel(SIMD, None, grouped_gemm_buffer_size(w), why)


def emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    """CONV_2D's constants and params (hard_conv_params, output_stride too) and the call."""
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
        layer.decls.append(c_array(f"{p}_b", b.data.astype(np.int32).reshape(-1)))
    params = {
        "input_offset": -zp(x),
        "output_offset": zp(y),
        "stride": tile(op, "stride"),
        "dilation": tile(op, "dilation"),
        "padding": padding(op),
        "activation": activation(op, y),
    } | e.stride_field(y.index)
    layer.decls.append(c_struct("hard_conv_params", f"{p}_p", params))
    layer.kernel = layer.kernel or PORTABLE
    layer.macs = int(np.prod(y.shape)) * w.shape[1] * w.shape[2] * w.shape[3]
    bias = f"{p}_b" if b is not None else "NULL"
    layer.call = (
        f"{{ static const hard_per_channel_quant q = {{.multiplier = {p}_mult, .shift = {p}_shift}};\n"
        f"    static const hard_dims in = {dims(x.shape)}, f = {dims(w.shape)}, out = {dims(y.shape)};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {layer.kernel}(&ctx, &{p}_p, &q, &in, {e.ptr(x.index)}, &f, {p}_w, {bias}, &out, "
        f"{e.ptr(y.index)}); }}"
    )
