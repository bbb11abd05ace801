"""Helpers shared by the records of the data-movement, reduction and math ops (hard_data.h):
refusal conditions and constant operands, kept here so each record module stays small."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.kernels.support import Refused


def need(cond: bool, why: str) -> None:
    """Refuse the op (one line naming why) unless ``cond``."""
    if not cond:
        raise Refused(why)


def tensor(g: Graph, op: Op, i: int, outputs: bool = False) -> Tensor:
    return g.tensors[(op.outputs if outputs else op.inputs)[i]]


def const_ints(g: Graph, op: Op, i: int, what: str) -> list[int]:
    """Constant integer operand ``i`` as a flat list; refused when it is computed at run time."""
    need(len(op.inputs) > i and op.inputs[i] >= 0, f"missing {what}")
    t = g.tensors[op.inputs[i]]
    need(
        t.is_constant and t.data is not None,
        f"its {what} is computed at run time; only constant {what} is supported",
    )
    return [int(v) for v in np.ravel(t.data)]


def one_byte(*ts: Tensor) -> None:
    """Byte copies: int8 / uint8 tensors of one type."""
    need(
        all(t.itemsize == 1 for t in ts),
        f"tensor '{ts[0].name}' is {ts[0].dtype}; the copies take 1-byte types",
    )
    need(len({t.dtype for t in ts}) == 1, "inputs and outputs differ in type")


def int8(*ts: Tensor) -> None:
    for t in ts:
        need(
            t.dtype == "int8" and t.quant is not None,
            f"tensor '{t.name}' is {t.dtype}; the kernels take int8",
        )


def same_quant(a: Tensor, b: Tensor) -> bool:
    return a.quant is not None and b.quant is not None and a.quant.same_as(b.quant)


def shape_field(shape: tuple[int, ...] | list[int], n: int) -> list[int]:
    """A C array initialiser of ``n`` ints: the values, then 1s."""
    return [int(v) for v in shape] + [1] * (n - len(shape))
