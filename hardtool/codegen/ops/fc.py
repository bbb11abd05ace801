"""FULLY_CONNECTED: per-tensor or per-channel int8 weights, the input flattened to [batches, depth]."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.registry import EmitContext, Layer, activation, emits
from hardtool.core.graph.ir import Op
from hardtool.kernels import layout, support
from hardtool.ops.cgen import c_array, c_struct


@emits("FULLY_CONNECTED")
def fully_connected(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, w, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
    batches, depth, units = layout.fc_shape(x.shape, w.shape)
    fp = support.fc_params(e.graph, op)
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
    if fp.per_channel:
        layer.decls += [
            c_array(f"{p}_mult", np.asarray(fp.multipliers, np.int32)),
            c_array(f"{p}_shift", np.asarray(fp.shifts, np.int32)),
        ]
        quant = f"static const hard_per_channel_quant q = {{.multiplier = {p}_mult, .shift = {p}_shift}};"
        layer.kernel = "hard_fully_connected_per_channel_s8"
    else:
        quant = f"static const hard_per_tensor_quant q = {{.multiplier = {fp.multipliers[0]}, .shift = {fp.shifts[0]}}};"
        layer.kernel = "hard_fully_connected_s8"
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
