"""GATHER with constant indices along any axis (batch_dims 0): hard_gather_s8, the indices an
int32 array in flash."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check
from hardtool.kernels import layout_data as LD
from hardtool.ops import _data as D
from hardtool.ops.cgen import EmitContext, Layer, c_array, c_struct
from hardtool.ops.record import Kernel, OpRecord

KERNEL = "hard_gather_s8"


def _axis(g: Graph, op: Op) -> int:
    rank = len(D.tensor(g, op, 0).shape)
    axis = int(op.options.get("axis", 0))
    D.need(-rank <= axis < rank, f"axis {axis} is outside [-{rank}, {rank})")
    return axis % rank


def _prepare(c: Check) -> None:
    x, idx, y = c.inp(0), c.inp(1), c.out()
    c.same_type(x, y)
    c.ensure(idx.dtype in ("int32", "int64", "int16"), f"indices are {idx.dtype}, not an integer type")
    rank = len(x.shape)
    axis = c.o.get("axis", 0)
    c.ensure(isinstance(axis, int) and -rank <= axis < rank, f"axis {axis!r} is outside [-{rank}, {rank})")
    a = axis % rank
    want = [*x.shape[:a], *idx.shape, *x.shape[a + 1 :]]
    c.ensure(list(y.shape) == want, f"output is {list(y.shape)}, gathering gives {want}")


def _refuse(g: Graph, op: Op) -> None:
    x = D.tensor(g, op, 0)
    D.one_byte(x, D.tensor(g, op, 0, True))
    D.need(int(op.options.get("batch_dims", 0)) == 0, "batch_dims != 0")
    idx = D.const_ints(g, op, 1, "indices")
    n = x.shape[_axis(g, op)]
    D.need(all(0 <= i < n for i in idx), f"index outside [0, {n}) (TFLite fails on it too)")


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x = e.t(op.inputs[0])
    outer, n, inner = LD.outer_axis_inner(x.shape, _axis(e.graph, op))
    idx = np.asarray(D.const_ints(e.graph, op, 1, "indices"), dtype=np.int32)
    layer.decls.append(
        c_struct("hard_gather_params", f"{p}_p", {"outer": outer, "axis_size": n, "inner": inner})
    )
    layer.decls.append(c_array(f"{p}_idx", idx))
    src = f"(const int8_t *)(const void *){e.operand(layer, p, op.inputs[0])}"
    layer.kernel = KERNEL
    layer.call = f"st = {KERNEL}(&{p}_p, {p}_idx, {idx.size}, {src}, {e.ptr(op.outputs[0])});"


RECORDS = [
    OpRecord(
        "GATHER",
        arity=(2, 2, 1),
        prepare=_prepare,
        refuse=_refuse,
        choose=lambda g, op, dsp: Kernel(KERNEL, reason="constant indices"),
        emit=_emit,
        tflm="AddGather",
        summary="constant indices, any axis",
        hints=("make the indices a constant",),
    )
]
