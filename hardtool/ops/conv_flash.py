"""Which CONV_2D filters are pre-widened to q15 in flash ("gemm q15 pairs") and which stay int8.

On a DSP target every convolution's filter is copied to q15 when the board's flash holds the
model with those copies. The budget counts every byte codegen puts in flash: each constant array
of the generated layers exactly (weights, biases, per-channel multipliers and shifts, fused-ADD
tables, lookup tables, re-laid depthwise filters, the q15 copies), and the code beside them as
measured on the Cortex-M7 bench firmware: the runtime (kernels, protocol, startup) plus each
layer's call code, parameter structs and dims in ``hard_model_run``. When the model with all
copies does not fit, the layers that gain least per byte (fewest MACs per byte of q15 copy) keep
their int8 filter and the int8-filter kernels, until the rest fits. Codegen marks those layers in
the lowered graph (op option ``INT8_FILTER``, the reason) before the records choose; the conv
record reads the mark. An estimate can still miss: ``hardtool build`` then names the
``--flash-reserve`` that makes it link."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.ops import conv_grouped
from hardtool.ops.cgen import Layer

INT8_FILTER = "hard_int8_filter"
Q15_LAYOUT = "gemm_q15_pairs"
# Measured on the qemu (Cortex-M7) bench firmware of the peers at 64x128 (arm-none-eabi-nm): the
# code and read-only data outside the model's arrays and hard_model_run is 42-50 KB (kernels,
# protocol with its 8 KB CRC table, startup, libc); each layer adds 220-250 bytes (its call in
# hard_model_run, params structs, static dims). Rounded up, so the estimate stays above the link.
RUNTIME_CODE_BYTES = 56 * 1024
LAYER_CODE_BYTES = 256
_C_SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4}
_C_SIZES |= {"int64_t": 8, "uint64_t": 8, "float": 4}
_ARRAY = re.compile(r"\bconst (\w+) \w+\[(\d+)\]")


def q15_filter_bytes(w_shape: tuple[int, ...]) -> int:
    """Flash of the "gemm q15 pairs" copy of an (O, kh, kw, I) filter (weights.gemm_q15_pairs)."""
    o, k = int(w_shape[0]), int(np.prod(w_shape[1:]))
    return ((o + 1) // 2) * 2 * ((k + 3) // 4) * 4 * 2


def q15_extra_bytes(g: Graph, op: Op) -> int:
    """Flash the q15 copy costs beyond the int8 filter it replaces."""
    w = g.tensors[op.inputs[1]]
    return q15_filter_bytes(w.shape) - w.nbytes


def array_bytes(decls: Iterable[str]) -> int:
    """Bytes of the constant arrays in generated declarations (cgen.c_array's form)."""
    return sum(_C_SIZES.get(t, 4) * int(n) for d in decls for t, n in _ARRAY.findall(d))


def code_estimate(layers: int) -> int:
    """Flash of the firmware's code and small read-only data for a model of ``layers`` layers."""
    return RUNTIME_CODE_BYTES + LAYER_CODE_BYTES * layers


def _macs(g: Graph, op: Op) -> int:
    y, w = g.tensors[op.outputs[0]].shape, g.tensors[op.inputs[1]].shape
    return int(np.prod(y)) * int(np.prod(w[1:]))


@dataclass
class FilterFlash:
    """codegen.json's ``filter_flash``: the flash, what codegen puts there and who kept int8."""

    flash_bytes: int
    code_bytes: int  # reserved for code: the estimate, or --flash-reserve
    code_source: str
    data_bytes: int  # every constant array, with the q15 copies kept
    q15_extra_bytes: int
    int8_layers: dict[int, str]

    @property
    def budget_bytes(self) -> int:
        """Flash for the constant arrays: the chip's less the code reserve."""
        return self.flash_bytes - self.code_bytes

    def summary(self) -> dict:
        return {
            "flash_bytes": self.flash_bytes,
            "code_reserve_bytes": self.code_bytes,
            "code_reserve": self.code_source,
            "budget_bytes": self.budget_bytes,
            "data_bytes": self.data_bytes,
            "q15_extra_bytes": self.q15_extra_bytes,
            "q15_layers_kept_int8": len(self.int8_layers),
            "fits_estimate": self.data_bytes <= self.budget_bytes,
            "note": "budget: the chip's flash less the code reserve; data: every constant array codegen "
            "emits (weights, biases, multipliers, shifts, tables, q15 copies)",
        }


def q15_layers(g: Graph, layers: list[Layer]) -> dict[int, int]:
    """{op index: q15 extra bytes} of the CONV_2D layers emitted with a q15 filter copy."""
    return {
        L.op: q15_extra_bytes(g, g.ops[L.op])
        for L in layers
        if L.layout == Q15_LAYOUT
        and g.ops[L.op].name == "CONV_2D"
        and not conv_grouped.is_grouped(g, g.ops[L.op])
    }


def plan_filter_flash(
    g: Graph, layers: list[Layer], flash_bytes: int, reserve: int | None = None
) -> FilterFlash:
    """Which conv layers keep their int8 filter so every array codegen emits for ``layers`` (the
    layers generated with every q15 copy) fits ``flash_bytes`` less the code (``reserve``
    bytes, default the estimate); all of them q15 when they fit."""
    code = code_estimate(len(layers)) if reserve is None else int(reserve)
    source = (
        f"estimate: {RUNTIME_CODE_BYTES:,} B runtime + {LAYER_CODE_BYTES} B x {len(layers)} layers"
        if reserve is None
        else "--flash-reserve"
    )
    budget = flash_bytes - code
    extra = q15_layers(g, layers)
    total = array_bytes(d for L in layers for d in L.decls)
    with_copies = total
    kept: dict[int, str] = {}
    for i in sorted(extra, key=lambda i: (_macs(g, g.ops[i]) / max(extra[i], 1), i)):
        if total <= budget:
            break
        total -= extra[i]
        kept[i] = (
            f"int8 filter: its q15 copy (+{extra[i]} bytes) would not fit the flash "
            f"(arrays with q15 copies {with_copies:,} bytes > budget {budget:,})"
        )
    q15 = sum(v for i, v in extra.items() if i not in kept)
    return FilterFlash(flash_bytes, code, source, total, q15, kept)


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
