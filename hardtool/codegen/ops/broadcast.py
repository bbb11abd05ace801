"""ADD, SUB, MUL, MAXIMUM and MINIMUM with 4-D broadcasting or a constant operand (same-shape
ADD and MUL of two activations use the elementwise kernels)."""

from __future__ import annotations

from hardtool.codegen.registry import EmitContext, Layer, activation, dims, emits, scale, zp
from hardtool.core.graph.ir import Op
from hardtool.kernels import quant as Q
from hardtool.kernels import support
from hardtool.ops.cgen import c_struct


def needed(e: EmitContext, op: Op) -> bool:
    """True when ADD / MUL cannot use the same-shape elementwise kernel."""
    a, b, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    return a.shape != b.shape or a.shape != y.shape or a.is_constant or b.is_constant


def _call(e: EmitContext, op: Op, layer: Layer, p: str, with_params: bool) -> None:
    s1, s2, so = support.broadcast_shapes(e.graph, op)
    a, b = e.operand(layer, p, op.inputs[0]), e.operand(layer, p, op.inputs[1])
    params = f"&{p}_p, " if with_params else ""
    layer.call = (
        f"{{ static const hard_dims d1 = {dims(s1)}, d2 = {dims(s2)}, out = {dims(so)};\n"
        f"    st = {layer.kernel}({params}&d1, {a}, &d2, {b}, &out, {e.ptr(op.outputs[0])}); }}"
    )


@emits("SUB")
def add_sub(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    """ADD and SUB (TFLite's sub kernel is its add kernel with input 2's multiplier negated)."""
    ap = support.add_params(e.graph, op)
    params = {k: getattr(ap, k) for k in ap.__dataclass_fields__}
    layer.decls.append(
        c_struct("hard_add_params", f"{p}_p", params | {"activation": activation(op, e.t(op.outputs[0]))})
    )
    layer.kernel = "hard_broadcast_add_s8"
    _call(e, op, layer, p, True)


def mul(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    a, b, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    o1, o2, rp = Q.mul_params(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))
    params = {
        "input1_offset": o1,
        "input2_offset": o2,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
        "activation": activation(op, y),
    }
    layer.decls.append(c_struct("hard_mul_params", f"{p}_p", params))
    layer.kernel = "hard_broadcast_mul_s8"
    _call(e, op, layer, p, True)


@emits("MAXIMUM", "MINIMUM")
def maximum_minimum(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    layer.kernel = "hard_maximum_s8" if op.name == "MAXIMUM" else "hard_minimum_s8"
    _call(e, op, layer, p, False)
