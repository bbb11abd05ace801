"""TRANSPOSE_CONV: validated and planned (memplan), no int8 kernel yet."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.validate import PADDINGS, Check
from hardtool.ops.record import OpRecord


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


RECORDS = [
    OpRecord(
        "TRANSPOSE_CONV",
        arity=(3, 4, 1),
        prepare=_prepare,
        tflm="AddTransposeConv",
        summary="transposed convolution (planned; no kernel yet)",
    )
]
