"""TRANSPOSE_CONV (torch's ConvTranspose2d, the U-Net upsampler): any stride, SAME or VALID,
with or without bias, per-channel int8 weights.

TFLite's reference scatters every input pixel into an int32 buffer the size of the output; our
kernels gather (each output pixel sums the taps that reach it), so they need no such buffer.
On a DSP target the SIMD kernel runs: two output pixels of one stride phase share a q15
column of their taps, multiplied with SMLAD; its scratch is that column (a few hundred bytes)."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.core.graph.validate import PADDINGS, Check
from hardtool.kernels import quant as Q
from hardtool.kernels.scratch_conv_ext import transpose_conv_gemm_buffer_size
from hardtool.kernels.support import Refused
from hardtool.ops.cgen import EmitContext, Layer, activation, c_array, c_struct, dims, scale, zp
from hardtool.ops.record import Kernel, Memory, OpRecord

PORTABLE = "hard_transpose_conv_s8"
SIMD = "hard_transpose_conv_gemm_s8"


def _prepare(c: Check) -> None:
    shape, w, x, y = c.inp(0), c.inp(1), c.inp(2), c.out()
    s = c.const(shape, "output shape")
    c.ensure(
        tuple(int(v) for v in np.ravel(s)) == y.shape,
        f"output shape operand {s.tolist()} is not {list(y.shape)}",
    )
    c.const(w, "filter")
    for t in (x, w, y):
        c.rank(t, 4)
    c.ensure(w.shape[3] == x.shape[3] and w.shape[0] == y.shape[3], f"filter {list(w.shape)} does not fit")
    c.int_option("stride_h")
    c.int_option("stride_w")
    c.ensure(c.o.get("padding") in PADDINGS, f"padding {c.o.get('padding')!r} is not SAME or VALID")
    c.activation()
    c.same_type(x, y)
    if x.quant is not None and w.quant is not None and y.quant is not None:
        q, cout = w.quant, w.shape[0]
        c.ensure(len(q.scale) in (1, cout), f"filter has {len(q.scale)} scales for {cout} output channels")
        c.ensure(len(q.scale) == 1 or q.axis == 0, f"filter is quantised along dimension {q.axis}, not 0")
        for sc in (min(q.scale), max(q.scale)):
            c.multiplier(x.quant.scale[0] * sc / y.quant.scale[0], "input x filter / output")


def _refuse(g: Graph, op: Op) -> None:
    w, x, y = (g.tensors[i] for i in (op.inputs[1], op.inputs[2], op.outputs[0]))
    for t in (x, w, y):
        if t.dtype != "int8" or t.quant is None:
            raise Refused(f"tensor {t.index} is {t.dtype}, not int8")
    if any(z != 0 for z in w.quant.zero_point):
        raise Refused("filter zero point is not 0")
    b = g.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    if b is not None and (b.dtype != "int32" or not b.is_constant):
        raise Refused(f"bias is {b.dtype}{'' if b.is_constant else ', not a constant'}; int32 constants only")


def geometry(g: Graph, op: Op) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """(stride, (top, bottom, left, right) padding) as TFLite computes them from the output size."""
    w, y = g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    stride = (int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1)))
    mode = str(op.options.get("padding", "VALID"))
    t, b = Q.transpose_conv_padding(y.shape[1], w.shape[1], stride[0], mode)
    left, r = Q.transpose_conv_padding(y.shape[2], w.shape[2], stride[1], mode)
    return stride, (t, b, left, r)


def choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    if not dsp:
        return Kernel(PORTABLE, reason="gather form, portable (no output-sized int32 buffer)")
    w, x = g.tensors[op.inputs[1]].shape, g.tensors[op.inputs[2]].shape
    stride, _ = geometry(g, op)
    size = transpose_conv_gemm_buffer_size(x[3], w[1:3], stride, w[0])
    why = f"{w[1]}x{w[2]} stride {stride[0]}x{stride[1]}: q15 tap columns per stride phase + SMLAD"
    return Kernel(SIMD, None, size, why)


def macs(g: Graph, op: Op) -> int:
    """Products the reference computes that land inside the output."""
    w, x, y = (g.tensors[i].shape for i in (op.inputs[1], op.inputs[2], op.outputs[0]))
    stride, pads = geometry(g, op)

    def axis(n_in: int, k: int, s: int, n_out: int, pad: int) -> int:
        o = np.arange(n_in)[:, None] * s - pad + np.arange(k)[None, :]
        return int(np.count_nonzero((o >= 0) & (o < n_out)))

    hits = axis(x[1], w[1], stride[0], y[1], pads[0]) * axis(x[2], w[2], stride[1], y[2], pads[2])
    return x[0] * hits * x[3] * w[0]


def _weights(e: EmitContext, op: Op, layer: Layer, p: str) -> tuple[Tensor, Tensor, str, Tensor]:
    w, x, y = e.t(op.inputs[1]), e.t(op.inputs[2]), e.t(op.outputs[0])
    b = e.t(op.inputs[3]) if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
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
    return x, w, f"{p}_b" if b is not None else "NULL", y


def emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, w, bias, y = _weights(e, op, layer, p)
    stride, (t, b, left, r) = geometry(e.graph, op)
    params = {
        "input_offset": -zp(x),
        "output_offset": zp(y),
        "stride": {"h": stride[0], "w": stride[1]},
        "padding": {"top": t, "bottom": b, "left": left, "right": r},
        "activation": activation(op, y),
    }
    layer.decls.append(c_struct("hard_transpose_conv_params", f"{p}_p", params))
    layer.kernel = layer.kernel or PORTABLE
    layer.macs = macs(e.graph, op)
    layer.call = (
        f"{{ static const hard_per_channel_quant q = {{.multiplier = {p}_mult, .shift = {p}_shift}};\n"
        f"    static const hard_dims in = {dims(x.shape)}, f = {dims(w.shape)}, out = {dims(y.shape)};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {layer.kernel}(&ctx, &{p}_p, &q, &in, {e.ptr(x.index)}, &f, {p}_w, {bias}, &out, "
        f"{e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        "TRANSPOSE_CONV",
        arity=(3, 4, 1),
        prepare=_prepare,
        refuse=_refuse,
        memory=Memory.OWN,
        choose=choose,
        emit=emit,
        tflm="AddTransposeConv",
        summary="transposed convolution, per-channel int8 (gather form; SMLAD on DSP targets)",
    )
]
