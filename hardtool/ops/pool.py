"""AVERAGE_POOL_2D and MAX_POOL_2D (MEAN: ops/reduce.py)."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, spatial
from hardtool.kernels import support as S
from hardtool.kernels.scratch import kernel_scratch_bytes
from hardtool.ops.cgen import EmitContext, Layer, activation, c_struct, dims, padding, tile
from hardtool.ops.record import Kernel, Memory, OpRecord


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    c.rank(x, 4)
    c.rank(y, 4)
    c.same_type(x, y)
    kh, kw = c.int_option("filter_height"), c.int_option("filter_width")
    spatial(c, x, y, kh, kw, dilation=False)
    c.ensure(y.shape[3] == x.shape[3], f"output has {y.shape[3]} channels, the input {x.shape[3]}")
    c.activation()


def refuse_same_quant_4d(g: Graph, op: Op) -> None:
    """int8 in and out with the same quantisation, both 4-D NHWC (pools, resizes)."""
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.int8(x, y)
    S.same_quant(x, y)
    S.need(len(x.shape) == 4 and len(y.shape) == 4, "input is not 4-D NHWC")


def _choose_avg(g: Graph, op: Op, dsp: bool) -> Kernel:
    kernel = "hard_avgpool_s8"
    reason = "four channels per SXTAB16 inside (windows up to 255 taps)"
    return Kernel(kernel, None, kernel_scratch_bytes(kernel, g.tensors[op.inputs[0]].shape), reason)


def _choose_max(g: Graph, op: Op, dsp: bool) -> Kernel:
    return Kernel("hard_max_pool_s8")


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    o = op.options
    params = {"stride": tile(op, "stride"), "padding": padding(op), "activation": activation(op, y)}
    params |= e.stride_field(y.index)
    layer.decls.append(c_struct("hard_pool_params", f"{p}_p", params))
    window = dims((1, o["filter_height"], o["filter_width"], 1))
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)}, f = {window}, out = {dims(y.shape)};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {layer.kernel}(&ctx, &{p}_p, &in, {e.ptr(x.index)}, &f, &out, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        name,
        arity=(1, 1, 1),
        prepare=_prepare,
        refuse=refuse_same_quant_4d,
        memory=Memory.SPATIAL,
        strided_output=True,
        choose=choose,
        emit=_emit,
        tflm=tflm,
        summary=summary,
    )
    for name, choose, tflm, summary in (
        ("AVERAGE_POOL_2D", _choose_avg, "AddAveragePool2D", "average pooling"),
        ("MAX_POOL_2D", _choose_max, "AddMaxPool2D", "max pooling"),
    )
]
