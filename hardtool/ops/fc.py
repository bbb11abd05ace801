"""FULLY_CONNECTED: per-tensor or per-channel int8 weights, the input flattened to [batches, depth]."""

from __future__ import annotations

import math

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, conv_quant
from hardtool.kernels import layout
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer, activation, c_array, c_struct
from hardtool.ops.record import Kernel, OpRecord


def _prepare(c: Check) -> None:
    x, w, b, y = c.inp(0), c.inp(1), c.inp(2), c.out()
    c.const(w, "weights")
    c.rank(w, 2)
    units, depth = w.shape
    c.ensure(
        math.prod(x.shape) % depth == 0, f"input {list(x.shape)} is not a whole number of {depth}-vectors"
    )
    c.ensure(y.shape[-1] == units, f"output has {y.shape[-1]} units, the weights make {units}")
    batches = math.prod(x.shape) // depth
    c.ensure(
        math.prod(y.shape) == batches * units,
        f"output {list(y.shape)} does not hold {batches}x{units} values",
    )
    c.same_type(x, y)
    c.activation()
    if x.quant is not None and w.quant is not None and y.quant is not None:
        conv_quant(c, x, w, b, y, 0, units, symmetric=False)  # FULLY_CONNECTED has a weights offset


def _refuse(g: Graph, op: Op) -> None:
    x, w, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 1), S.tensor_of(g, op, 0, True)
    S.int8(x, y)
    S.need(
        S.const(g, op, 1, "weights").dtype == np.int8 and len(w.shape) == 2,
        "weights are not int8 [units, depth]",
    )
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        S.need(S.const(g, op, 2, "bias").dtype == np.int32, "bias is not int32")
    layout.fc_shape(x.shape, w.shape)
    S.fc_params(g, op)


def _choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    if S.fc_params(g, op).per_channel:
        return Kernel("hard_fully_connected_per_channel_s8", reason="per-channel weights")
    return Kernel("hard_fully_connected_s8", reason="per-tensor weights")


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, w, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
    batches, depth, units = layout.fc_shape(x.shape, w.shape)
    fp = S.fc_params(e.graph, op)
    layer.decls.append(c_array(f"{p}_w", w.data.astype(np.int8)))
    if has_bias:
        layer.decls.append(c_array(f"{p}_b", e.t(op.inputs[2]).data.astype(np.int32)))
    params = {
        "input_offset": fp.input_offset,
        "filter_offset": fp.filter_offset,
        "output_offset": fp.output_offset,
        "activation": activation(op, y),
    }
    layer.decls.append(c_struct("hard_fc_params", f"{p}_p", params))
    if layer.kernel == "hard_fully_connected_per_channel_s8":
        layer.decls += [
            c_array(f"{p}_mult", np.asarray(fp.multipliers, np.int32)),
            c_array(f"{p}_shift", np.asarray(fp.shifts, np.int32)),
        ]
        quant = f"static const hard_per_channel_quant q = {{.multiplier = {p}_mult, .shift = {p}_shift}};"
    else:
        quant = f"static const hard_per_tensor_quant q = {{.multiplier = {fp.multipliers[0]}, .shift = {fp.shifts[0]}}};"
    layer.macs = batches * depth * units
    dims = (
        f"{{.n = {batches}, .h = 1, .w = 1, .c = {depth}}}",
        f"{{.n = {units}, .h = 1, .w = 1, .c = {depth}}}",
    )
    layer.call = (
        f"{{ {quant}\n"
        f"    static const hard_dims in = {dims[0]}, f = {dims[1]}, out = {{.n = {batches}, .h = 1, .w = 1, .c = {units}}};\n"
        f"    const hard_context ctx = {e.ctx(op)};\n"
        f"    st = {layer.kernel}(&ctx, &{p}_p, &q, &in, {e.ptr(x.index)}, &f, {p}_w, "
        f"{f'{p}_b' if has_bias else 'NULL'}, &out, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        "FULLY_CONNECTED",
        arity=(2, 3, 1),
        prepare=_prepare,
        refuse=_refuse,
        choose=_choose,
        emit=_emit,
        tflm="AddFullyConnected",
        summary="dense layer, per-tensor or per-channel int8 weights",
    )
]
