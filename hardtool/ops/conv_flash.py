"""Which CONV_2D filters are pre-widened to q15 in flash ("gemm q15 pairs") and which stay int8.

On a DSP target every convolution's filter is copied to q15 when the board's flash holds the
model with those copies. When it does not, the layers that gain least per byte (fewest MACs per
byte of q15 copy) keep their int8 filter and the int8-filter kernels, until the rest fits.
Codegen marks those layers in the lowered graph (op option ``INT8_FILTER``, the reason) before
the records choose; the conv record reads the mark."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.ops import conv_grouped

INT8_FILTER = "hard_int8_filter"
CODE_RESERVE_BYTES = 128 * 1024  # firmware code beside the weights: kernels (<= 32 KB), runtime, model.c


def q15_filter_bytes(w_shape: tuple[int, ...]) -> int:
    """Flash of the "gemm q15 pairs" copy of an (O, kh, kw, I) filter (weights.gemm_q15_pairs)."""
    o, k = int(w_shape[0]), int(np.prod(w_shape[1:]))
    return ((o + 1) // 2) * 2 * ((k + 3) // 4) * 4 * 2


def q15_extra_bytes(g: Graph, op: Op) -> int:
    """Flash the q15 copy costs beyond the int8 filter it replaces."""
    w = g.tensors[op.inputs[1]]
    return q15_filter_bytes(w.shape) - w.nbytes


def _macs(g: Graph, op: Op) -> int:
    y, w = g.tensors[op.outputs[0]].shape, g.tensors[op.inputs[1]].shape
    return int(np.prod(y)) * int(np.prod(w[1:]))


@dataclass
class FilterFlash:
    """codegen.json's ``filter_flash``: the budget, what the q15 copies cost and who kept int8."""

    budget_bytes: int
    weights_bytes: int
    q15_extra_bytes: int
    int8_layers: dict[int, str]

    def summary(self) -> dict:
        return {
            "budget_bytes": self.budget_bytes,
            "weights_bytes_int8": self.weights_bytes,
            "q15_extra_bytes": self.q15_extra_bytes,
            "q15_layers_kept_int8": len(self.int8_layers),
            "note": f"budget: the chip's flash less {CODE_RESERVE_BYTES // 1024} KB for code",
        }


def plan_filter_flash(g: Graph, flash_bytes: int) -> FilterFlash:
    """Which conv layers keep their int8 filter so weights + q15 copies fit ``flash_bytes`` less
    the code reserve (all of them q15 when they fit)."""
    budget = flash_bytes - CODE_RESERVE_BYTES
    weights = sum(t.nbytes for t in g.tensors if t.is_constant)
    convs = [op for op in g.ops if op.name == "CONV_2D" and not conv_grouped.is_grouped(g, op)]
    extra = {op.index: q15_extra_bytes(g, op) for op in convs}
    total = weights + sum(extra.values())
    kept: dict[int, str] = {}
    for op in sorted(convs, key=lambda o: (_macs(g, o) / max(extra[o.index], 1), o.index)):
        if total <= budget:
            break
        total -= extra[op.index]
        kept[op.index] = (
            f"int8 filter: its q15 copy (+{extra[op.index]} bytes) would not fit the flash "
            f"(weights + q15 copies {weights + sum(extra.values()):,} bytes > budget {budget:,})"
        )
    return FilterFlash(budget, weights, sum(v for i, v in extra.items() if i not in kept), kept)


def mark_int8_filters(g: Graph, plan: FilterFlash) -> Graph:
    """The graph with the kept-int8 layers marked for the conv record's choice."""
    if not plan.int8_layers:
        return g
    ops = [
        replace(op, options={**op.options, INT8_FILTER: plan.int8_layers[op.index]})
        if op.index in plan.int8_layers
        else op
        for op in g.ops
    ]
    return replace(g, ops=ops)
