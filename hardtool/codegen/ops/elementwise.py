"""ADD, MUL and QUANTIZE (int8 → int8) over same-shape tensors (broadcasting and constant operands:
ops/broadcast.py; QUANTIZE at the graph edges: ops/io.py)."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.ops import broadcast, io
from hardtool.codegen.registry import EmitContext, Layer, activation, emits, requant_fields, scale, zp
from hardtool.core.graph.ir import Op, Tensor
from hardtool.kernels import quant as Q
from hardtool.ops.cgen import c_struct


def _binary(e: EmitContext, op: Op) -> tuple[Tensor, Tensor, Tensor]:
    return e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])


def _call(e: EmitContext, layer: Layer, p: str, ins: list[Tensor], y: Tensor) -> str:
    args = ", ".join(e.ptr(t.index) for t in ins)
    return f"st = {layer.kernel}(&{p}_p, {args}, {e.ptr(y.index)}, {int(np.prod(y.shape))});"


@emits("ADD")
def add(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    if broadcast.needed(e, op):
        return broadcast.add_sub(e, op, layer, p)
    a, b, y = _binary(e, op)
    ap = Q.add_params(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))
    params = {k: getattr(ap, k) for k in ap.__dataclass_fields__} | {"activation": activation(op, y)}
    layer.decls.append(c_struct("hard_add_params", f"{p}_p", params))
    layer.kernel = "hard_elementwise_add_s8"
    layer.call = _call(e, layer, p, [a, b], y)


@emits("MUL")
def mul(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    if broadcast.needed(e, op):
        return broadcast.mul(e, op, layer, p)
    a, b, y = _binary(e, op)
    o1, o2, rp = Q.mul_params(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))
    params = {
        "input1_offset": o1,
        "input2_offset": o2,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
        "activation": activation(op, y),
    }
    layer.decls.append(c_struct("hard_mul_params", f"{p}_p", params))
    layer.kernel = "hard_elementwise_mul_s8"
    layer.call = _call(e, layer, p, [a, b], y)


@emits("QUANTIZE")
def quantize(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    if (x.dtype, y.dtype) != ("int8", "int8"):
        return io.quantize(e, op, layer, p)
    layer.decls.append(c_struct("hard_requant_params", f"{p}_p", requant_fields(x, y)))
    layer.kernel = "hard_requantize_s8"
    layer.call = _call(e, layer, p, [x], y)
