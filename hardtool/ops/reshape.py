"""RESHAPE, SQUEEZE and EXPAND_DIMS: same bytes, new shape. The planner aliases the output to
the input (no code); a copy only when it cannot."""

from __future__ import annotations

import math

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, tensor_label
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer
from hardtool.ops.record import Kernel, Memory, OpRecord


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    c.same_type(x, y)
    c.ensure(
        math.prod(x.shape) == math.prod(y.shape),
        f"{tensor_label(x)} {list(x.shape)} and output {list(y.shape)} hold different numbers of elements",
    )


def _refuse(g: Graph, op: Op) -> None:
    S.need(
        S.tensor_of(g, op, 0).nbytes == S.tensor_of(g, op, 0, True).nbytes, "input and output sizes differ"
    )


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    if e.ptr(x.index) == e.ptr(y.index):
        layer.kernel = ""  # the plan aliases the output to the input: same bytes, no code
        return
    layer.call = f"{layer.kernel}({e.ptr(y.index)}, {e.ptr(x.index)}, {x.nbytes});"


RECORDS = [
    OpRecord(
        name,
        arity=arity,
        prepare=_prepare,
        refuse=_refuse,
        memory=Memory.ALIAS,
        choose=lambda g, op, dsp: Kernel("memmove", reason="no code when the plan aliases it; else a copy"),
        emit=_emit,
        tflm=tflm,
        summary="same bytes, new shape (no code)",
    )
    for name, arity, tflm in (
        ("RESHAPE", (1, 2, 1), "AddReshape"),
        ("SQUEEZE", (1, 1, 1), "AddSqueeze"),
        ("EXPAND_DIMS", (2, 2, 1), "AddExpandDims"),
    )
]
