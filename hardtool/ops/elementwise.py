"""ADD, SUB, MUL, MAXIMUM and MINIMUM: same-shape ADD and MUL of two activations run the
elementwise kernels (ADD from its inputs' tables in flash: one requantisation per element),
everything else (4-D broadcasting, a constant operand, SUB, MAXIMUM, MINIMUM) the broadcast
kernels. A residual ADD that lower() folds into a convolution is no op here any more."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, broadcast, tensor_label
from hardtool.kernels import quant as Q
from hardtool.kernels import support as S
from hardtool.ops.cgen import (
    EmitContext,
    Layer,
    activation,
    c_struct,
    dims,
    fused_add_decls,
    scale,
    zp,
)
from hardtool.ops.record import Kernel, Memory, OpRecord


def _prepare(c: Check) -> None:
    a, b, y = c.inp(0), c.inp(1), c.out()
    c.same_type(a, b)
    c.same_type(a, y)
    want = broadcast(c, a.shape, b.shape)
    c.ensure(
        y.shape == want, f"output {tensor_label(y)} is {list(y.shape)}, the inputs broadcast to {list(want)}"
    )
    if "fused_activation_function" in c.o:
        c.activation()
    if a.quant is None or b.quant is None or y.quant is None:
        return
    sa, sb, sy = a.quant.scale[0], b.quant.scale[0], y.quant.scale[0]
    if c.op.name in ("ADD", "SUB") and y.dtype in ("int8", "uint8"):  # TFLite: a multiplier below one
        # after a 20-bit left shift (QuantizeMultiplierSmallerThanOneExp; TFLite aborts otherwise)
        c.multiplier(2 * max(sa, sb) / ((1 << 20) * sy), "2 x max(input) / (2^20 x output)", below_one=True)
    elif c.op.name == "MUL":
        c.multiplier(sa * sb / sy, "input1 x input2 / output")


def _refuse(g: Graph, op: Op) -> None:
    a, b, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 1), S.tensor_of(g, op, 0, True)
    S.int8(a, b, y)
    S.broadcast_shapes(g, op)
    if op.name in ("MAXIMUM", "MINIMUM"):
        S.same_quant(a, y)
        S.same_quant(b, y)
    elif op.name in ("ADD", "SUB"):
        S.add_params(g, op)


def _broadcasts(g: Graph, op: Op) -> bool:
    """True when ADD / MUL cannot use the same-shape elementwise kernel."""
    a, b, y = (g.tensors[t] for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    return a.shape != b.shape or a.shape != y.shape or a.is_constant or b.is_constant


_SAME_SHAPE = {
    "ADD": (
        "hard_elementwise_add_table_s8",
        "same shapes: both inputs rescaled by table (+2048 bytes of flash), one requantisation per element",
    ),
    "MUL": (
        "hard_elementwise_mul_s8",
        "same shapes: single-multiply requantisation inside when the shift allows",
    ),
}
_BROADCAST = {
    "ADD": "hard_broadcast_add_s8",
    "SUB": "hard_broadcast_add_s8",  # TFLite's sub kernel is its add kernel, input 2 negated
    "MUL": "hard_broadcast_mul_s8",
    "MAXIMUM": "hard_maximum_s8",
    "MINIMUM": "hard_minimum_s8",
}


def _choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    if op.name in _SAME_SHAPE and not _broadcasts(g, op):
        symbol, reason = _SAME_SHAPE[op.name]
        return Kernel(symbol, reason=reason)
    return Kernel(_BROADCAST[op.name], reason="4-D broadcast (or a constant operand): portable")


def _mul_fields(e: EmitContext, op: Op) -> dict:
    a, b, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    o1, o2, rp = Q.mul_params(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))
    return {
        "input1_offset": o1,
        "input2_offset": o2,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
        "activation": activation(op, y),
    }


def _params(e: EmitContext, op: Op, p: str) -> str | None:
    """The params struct of the op's kernel (None: MAXIMUM / MINIMUM take none)."""
    if op.name == "MUL":
        return c_struct("hard_mul_params", f"{p}_p", _mul_fields(e, op))
    if op.name not in ("ADD", "SUB"):
        return None
    ap = S.add_params(e.graph, op)
    fields = {k: getattr(ap, k) for k in ap.__dataclass_fields__}
    return c_struct("hard_add_params", f"{p}_p", fields | {"activation": activation(op, e.t(op.outputs[0]))})


def _emit_table_add(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    """ADD from its inputs' tables: ``hard_fused_add`` with input 2 as the residual."""
    ap, y = S.add_params(e.graph, op), e.t(op.outputs[0])
    fused_add_decls(layer, p, ap, True, e.ptr(op.inputs[1]), activation(op, y))
    n = int(np.prod(y.shape))
    layer.call = f"st = {layer.kernel}(&{p}_add, {e.ptr(op.inputs[0])}, {e.ptr(y.index)}, {n});"


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    if layer.kernel == "hard_elementwise_add_table_s8":
        return _emit_table_add(e, op, layer, p)
    params = _params(e, op, p)
    if params is not None:
        layer.decls.append(params)
    first = f"&{p}_p, " if params is not None else ""
    y = e.t(op.outputs[0])
    if layer.kernel.startswith("hard_elementwise_"):
        a, b = e.ptr(op.inputs[0]), e.ptr(op.inputs[1])
        layer.call = f"st = {layer.kernel}({first}{a}, {b}, {e.ptr(y.index)}, {int(np.prod(y.shape))});"
        return
    s1, s2, so = S.broadcast_shapes(e.graph, op)
    a, b = e.operand(layer, p, op.inputs[0]), e.operand(layer, p, op.inputs[1])
    layer.call = (
        f"{{ static const hard_dims d1 = {dims(s1)}, d2 = {dims(s2)}, out = {dims(so)};\n"
        f"    st = {layer.kernel}({first}&d1, {a}, &d2, {b}, &out, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        name,
        arity=(2, 2, 1),
        prepare=_prepare,
        refuse=_refuse,
        memory=Memory.ELEMENTWISE,
        choose=_choose,
        emit=_emit,
        tflm=tflm,
        summary=summary,
    )
    for name, tflm, summary in (
        ("ADD", "AddAdd", "a + b, 4-D broadcasting"),
        ("SUB", "AddSub", "a - b, 4-D broadcasting"),
        ("MUL", "AddMul", "a x b, 4-D broadcasting"),
        ("MAXIMUM", "AddMaximum", "max(a, b), same quantisation"),
        ("MINIMUM", "AddMinimum", "min(a, b), same quantisation"),
    )
]
