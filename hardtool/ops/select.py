"""EQUAL (int8 inputs, bool output) and SELECT_V2 (bool condition, int8 values), 4-D broadcasting:
with MAX_POOL_2D they un-pool with a max-pool's maxima (the export's lowering of max-unpooling,
hardtool.quantize.export_modules). TFLite's int8 EQUAL compares the
inputs rescaled by their own scales after an 8-bit left shift (its Prepare needs each scale
below one); SELECT_V2 copies bytes, x, y and the output sharing one quantisation."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, broadcast, tensor_label
from hardtool.kernels import layout
from hardtool.kernels import quant as Q
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer, c_struct, dims, scale, zp
from hardtool.ops.record import Kernel, OpRecord


def _prepare_equal(c: Check) -> None:
    a, b, y = c.inp(0), c.inp(1), c.out()
    c.same_type(a, b)
    c.ensure(y.dtype == "bool", f"output {tensor_label(y)} is {y.dtype}, not bool")
    want = broadcast(c, a.shape, b.shape)
    c.ensure(
        y.shape == want, f"output {tensor_label(y)} is {list(y.shape)}, the inputs broadcast to {list(want)}"
    )
    for t in (a, b):
        if t.quant is not None and t.dtype in ("int8", "uint8"):
            c.multiplier(float(t.quant.scale[0]), f"{tensor_label(t)}", below_one=True)


def _prepare_select(c: Check) -> None:
    cond, x, y, out = c.inp(0), c.inp(1), c.inp(2), c.out()
    c.ensure(cond.dtype == "bool", f"condition {tensor_label(cond)} is {cond.dtype}, not bool")
    c.same_type(x, y)
    c.same_type(x, out)
    want = broadcast(c, broadcast(c, cond.shape, x.shape), y.shape)
    c.ensure(
        out.shape == want,
        f"output {tensor_label(out)} is {list(out.shape)}, the inputs broadcast to {list(want)}",
    )


def _rank4(g: Graph, op: Op) -> None:
    for i in (*op.inputs, *op.outputs):
        S.need(len(g.tensors[i].shape) <= 4, f"tensor '{g.tensors[i].name}' has more than 4 dimensions")


def _refuse_equal(g: Graph, op: Op) -> None:
    S.int8(S.tensor_of(g, op, 0), S.tensor_of(g, op, 1))
    _rank4(g, op)
    S.broadcast_shapes(g, op)


def _refuse_select(g: Graph, op: Op) -> None:
    S.need(S.tensor_of(g, op, 0).dtype == "bool", "the condition is not bool")
    S.int8(S.tensor_of(g, op, 1), S.tensor_of(g, op, 2), S.tensor_of(g, op, 0, True))
    _rank4(g, op)


def _emit_equal(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    a, b = e.t(op.inputs[0]), e.t(op.inputs[1])
    params = Q.compare_params(scale(a), zp(a), scale(b), zp(b))
    layer.decls.append(c_struct("hard_compare_params", f"{p}_p", vars(params)))
    s1, s2, so = S.broadcast_shapes(e.graph, op)
    x1, x2 = e.operand(layer, p, a.index), e.operand(layer, p, b.index)
    layer.call = (
        f"{{ static const hard_dims d1 = {dims(s1)}, d2 = {dims(s2)}, out = {dims(so)};\n"
        f"    st = {layer.kernel}(&{p}_p, &d1, {x1}, &d2, {x2}, &out, {e.typed(op.outputs[0])}); }}"
    )


def _emit_select(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    out = e.t(op.outputs[0])
    so = layout.to_4d(out.shape)
    shapes = [layout.to_4d(e.t(i).shape) for i in op.inputs]
    cond, x, y = (e.operand(layer, p, i) for i in op.inputs)
    if not e.t(op.inputs[0]).is_constant:  # (a constant one is a uint8_t array already)
        cond = e.typed(op.inputs[0])
    layer.call = (
        f"{{ static const hard_dims dc = {dims(shapes[0])}, dx = {dims(shapes[1])}, dy = {dims(shapes[2])}, "
        f"out = {dims(so)};\n"
        f"    st = {layer.kernel}(&dc, {cond}, &dx, {x}, &dy, {y}, &out, {e.ptr(out.index)}); }}"
    )


RECORDS = [
    OpRecord(
        "EQUAL",
        arity=(2, 2, 1),
        prepare=_prepare_equal,
        refuse=_refuse_equal,
        choose=lambda g, op, dsp: Kernel("hard_equal_s8", reason="portable: 4-D broadcast"),
        emit=_emit_equal,
        tflm="AddEqual",
        summary="a == b into bool, TFLite's rescaled int8 comparison, 4-D broadcasting",
    ),
    OpRecord(
        "SELECT_V2",
        arity=(3, 3, 1),
        prepare=_prepare_select,
        refuse=_refuse_select,
        choose=lambda g, op, dsp: Kernel("hard_select_v2_s8", reason="portable: 4-D broadcast"),
        emit=_emit_select,
        tflm="AddSelectV2",
        summary="condition ? x : y (bool condition, int8 values), 4-D broadcasting",
    ),
]
