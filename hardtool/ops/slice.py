"""STRIDED_SLICE (positive strides) and SLICE: a 4-D window resolved on the host."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer, c_dims, c_struct, dims
from hardtool.ops.record import Kernel, OpRecord


def _refuse(g: Graph, op: Op) -> None:
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.need(
        x.itemsize == 1 and x.dtype == y.dtype, f"tensor '{x.name}' is {x.dtype}; slices take 1-byte types"
    )
    spec = S.slice_spec(g, op)
    S.need(int(np.prod(spec.size)) == int(np.prod(y.shape)), "slice size disagrees with the output shape")


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    spec = S.slice_spec(e.graph, op)
    layer.decls.append(
        c_struct("hard_slice_params", f"{p}_p", {"begin": c_dims(spec.begin), "stride": c_dims(spec.stride)})
    )
    layer.call = (
        f"{{ static const hard_dims in = {dims(spec.input_shape)}, out = {dims(spec.size)};\n"
        f"    st = {layer.kernel}(&{p}_p, &in, {e.typed(op.inputs[0], 'int8_t')}, &out, "
        f"{e.typed(op.outputs[0], 'int8_t')}); }}"
    )


RECORDS = [
    OpRecord(
        name,
        arity=arity,
        refuse=_refuse,
        choose=lambda g, op, dsp: Kernel("hard_strided_slice_s8"),
        emit=_emit,
        tflm=tflm,
        summary=summary,
    )
    for name, arity, tflm, summary in (
        ("STRIDED_SLICE", (4, 4, 1), "AddStridedSlice", "4-D strided window (positive strides)"),
        ("SLICE", (3, 3, 1), "AddSlice", "4-D window"),
    )
]
