"""SOFTMAX over the last axis (int8 output scaled 1/256, zero point -128, as TFLite requires)."""

from __future__ import annotations

import math

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check
from hardtool.kernels import quant as Q
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer, c_struct, scale
from hardtool.ops.record import Kernel, OpRecord


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    c.same_shape(x, y)
    if y.dtype == "int8" and y.quant is not None:
        c.ensure(
            math.isclose(y.quant.scale[0], 1 / 256, rel_tol=1e-3) and y.quant.zero_point[0] == -128,
            "int8 output must have scale 1/256 and zero point -128",
        )


def _refuse(g: Graph, op: Op) -> None:
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.int8(x, y)
    S.need(
        abs(S.scale(y) - 1 / 256) < 1e-9 and S.zp(y) == -128,
        "output is not scaled 1/256 with zero point -128",
    )
    Q.softmax_params(float(op.options.get("beta", 1.0)), S.scale(x))


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    sp = Q.softmax_params(float(op.options.get("beta", 1.0)), scale(x))
    fields = {"input_multiplier": sp.input_multiplier, "input_left_shift": sp.input_left_shift}
    layer.decls.append(c_struct("hard_softmax_params", f"{p}_p", fields | {"diff_min": sp.diff_min}))
    depth = int(x.shape[-1])
    layer.call = (
        f"st = {layer.kernel}(&{p}_p, {int(np.prod(x.shape)) // depth}, {depth}, "
        f"{e.ptr(x.index)}, {e.ptr(y.index)});"
    )


RECORDS = [
    OpRecord(
        "SOFTMAX",
        arity=(1, 1, 1),
        prepare=_prepare,
        refuse=_refuse,
        choose=lambda g, op, dsp: Kernel("hard_softmax_s8"),
        emit=_emit,
        tflm="AddSoftmax",
        summary="softmax over the last axis",
    )
]
