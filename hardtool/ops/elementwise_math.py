"""SQUARED_DIFFERENCE (4-D broadcast), ABS and RSQRT on int8; DIV is recorded as refused: TFLite
has no int8 DIV (its reference kernel takes float32, int32 and uint8; a full-int8 conversion
leaves DIV in float32)."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check
from hardtool.kernels import layout
from hardtool.kernels import quant as Q
from hardtool.ops import _data as D
from hardtool.ops.cgen import EmitContext, Layer, c_array, c_struct, dims, scale, zp
from hardtool.ops.record import Kernel, Memory, OpRecord

KERNELS = {"SQUARED_DIFFERENCE": "hard_squared_difference_s8", "ABS": "hard_abs_s8", "RSQRT": "hard_lut_s8"}


def _prepare(c: Check) -> None:
    ins = [c.g.tensors[t] for t in c.op.inputs]
    y = c.out()
    for x in ins:
        c.same_type(x, y)
    if c.op.name == "SQUARED_DIFFERENCE":
        try:
            _, _, out = layout.broadcast_4d(ins[0].shape, ins[1].shape)
        except ValueError as e:
            c.fail(str(e))
        c.ensure(
            list(layout.to_4d(y.shape)) == list(out), f"output {list(y.shape)} is not the broadcast shape"
        )
    else:
        c.same_shape(ins[0], y)
    if c.op.name == "RSQRT" and y.quant is not None:
        c.ensure(ins[0].quant is not None and scale(ins[0]) > 0 and scale(y) > 0, "scales must be positive")


def _refuse(g: Graph, op: Op) -> None:
    D.int8(*(g.tensors[t] for t in op.inputs), D.tensor(g, op, 0, True))
    if op.name == "SQUARED_DIFFERENCE":
        try:
            layout.broadcast_4d(D.tensor(g, op, 0).shape, D.tensor(g, op, 1).shape)
        except ValueError as e:
            D.need(False, str(e))


def _refuse_div(g: Graph, op: Op) -> None:
    D.need(False, "TFLite has no int8 DIV kernel; multiply by a constant reciprocal (MUL) instead")


def _emit_sqd(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    a, b, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    s1, s2, so = layout.broadcast_4d(a.shape, b.shape)
    q = Q.squared_difference_params(scale(a), zp(a), scale(b), zp(b), scale(y), zp(y))
    fields = {k: getattr(q, k) for k in q.__dataclass_fields__}
    fields["activation"] = {"min": Q.INT8_MIN, "max": Q.INT8_MAX}
    layer.decls.append(c_struct("hard_add_params", f"{p}_p", fields))
    layer.call = (
        f"{{ static const hard_dims d1 = {dims(s1)}, d2 = {dims(s2)}, out = {dims(so)};\n"
        f"    st = {KERNELS['SQUARED_DIFFERENCE']}(&{p}_p, &d1, {e.operand(layer, p, a.index)}, &d2, "
        f"{e.operand(layer, p, b.index)}, &out, {e.ptr(y.index)}); }}"
    )


def _emit_unary(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    if op.name == "ABS":
        q = Q.abs_params(scale(x), zp(x), scale(y), zp(y))
        fields = {
            "input_offset": q.input_offset,
            "output_offset": q.output_offset,
            "rescale": int(q.rescale),
            "quant": {"multiplier": q.multiplier, "shift": q.shift},
        }
        layer.decls.append(c_struct("hard_abs_params", f"{p}_p", fields))
        arg = f"&{p}_p"
    else:
        layer.decls.append(c_array(f"{p}_lut", Q.rsqrt_lut_s8(scale(x), zp(x), scale(y), zp(y))))
        arg = f"{p}_lut"
    n = 1
    for d in x.shape:
        n *= int(d)
    layer.call = f"st = {KERNELS[op.name]}({arg}, {e.ptr(x.index)}, {e.ptr(y.index)}, {n});"


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    layer.kernel = KERNELS[op.name]
    (_emit_sqd if op.name == "SQUARED_DIFFERENCE" else _emit_unary)(e, op, layer, p)


def _choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    why = {"SQUARED_DIFFERENCE": "4-D broadcast", "ABS": "per element", "RSQRT": "256-entry table"}
    return Kernel(KERNELS[op.name], reason=why[op.name])


RECORDS = [
    *(
        OpRecord(
            name,
            arity=arity,
            prepare=_prepare,
            refuse=_refuse,
            memory=Memory.ELEMENTWISE,
            choose=_choose,
            emit=_emit,
            tflm=tflm,
            summary=summary,
        )
        for name, arity, tflm, summary in (
            ("SQUARED_DIFFERENCE", (2, 2, 1), "AddSquaredDifference", "(a - b)^2 with 4-D broadcasting"),
            ("ABS", (1, 1, 1), "AddAbs", "absolute value, rescaled"),
            ("RSQRT", (1, 1, 1), "AddRsqrt", "1/sqrt(x) as a 256-entry table"),
        )
    ),
    OpRecord(
        "DIV",
        arity=(2, 2, 1),
        refuse=_refuse_div,
        tflm="AddDiv",
        summary="not for int8: TFLite has no int8 DIV",
        hints=("multiply by a constant reciprocal (MUL)",),
    ),
]
