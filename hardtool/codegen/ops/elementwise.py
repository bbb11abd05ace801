"""ADD, MUL and QUANTIZE (int8 → int8) over same-shape tensors."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.emit import c_struct
from hardtool.codegen.registry import EmitContext, Layer, activation, emits, scale, zp
from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Op, Tensor
from hardtool.kernels import quant as Q


def _binary(e: EmitContext, op: Op) -> tuple[Tensor, Tensor, Tensor]:
    a, b, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    if a.shape != b.shape or a.shape != y.shape or a.is_constant or b.is_constant:
        raise HardtoolError(
            f"op #{op.index} {op.name} broadcasts {a.shape} with {b.shape}; "
            "only same-shape activations are supported"
        )
    return a, b, y


def _call(e: EmitContext, layer: Layer, p: str, ins: list[Tensor], y: Tensor) -> str:
    args = ", ".join(e.ptr(t.index) for t in ins)
    return f"st = {layer.kernel}(&{p}_p, {args}, {e.ptr(y.index)}, {int(np.prod(y.shape))});"


@emits("ADD")
def add(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    a, b, y = _binary(e, op)
    ap = Q.add_params(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))
    params = {k: getattr(ap, k) for k in ap.__dataclass_fields__} | {"activation": activation(op, y)}
    layer.decls.append(c_struct("hard_add_params", f"{p}_p", params))
    layer.kernel = "hard_elementwise_add_s8"
    layer.call = _call(e, layer, p, [a, b], y)


@emits("MUL")
def mul(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
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


def requant_fields(x: Tensor, y: Tensor) -> dict:
    """``hard_requant_params`` that map x's quantisation onto y's (identity when equal)."""
    rp = Q.requantize_params(scale(x), zp(x), scale(y), zp(y))
    return {
        "input_offset": rp.input_offset,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
    }


@emits("QUANTIZE")
def quantize(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    if x.dtype != "int8" or y.dtype != "int8":
        raise HardtoolError(
            f"op #{op.index} QUANTIZE from {x.dtype} to {y.dtype}; only int8 → int8 is supported"
        )
    layer.decls.append(c_struct("hard_requant_params", f"{p}_p", requant_fields(x, y)))
    layer.kernel = "hard_requantize_s8"
    layer.call = _call(e, layer, p, [x], y)
