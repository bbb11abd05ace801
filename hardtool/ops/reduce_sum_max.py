"""SUM and REDUCE_MAX over any axes (keep_dims or not): the input folded onto 4-D (adjacent
reduced or kept axes merged), hard_reduce_sum_s8 / hard_reduce_max_s8."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check
from hardtool.kernels import layout_data as LD
from hardtool.kernels import quant as Q
from hardtool.ops import _data as D
from hardtool.ops.cgen import EmitContext, Layer, c_struct, dims, scale, zp
from hardtool.ops.record import Kernel, OpRecord

KERNELS = {"SUM": "hard_reduce_sum_s8", "REDUCE_MAX": "hard_reduce_max_s8"}


def _axes(g: Graph, op: Op) -> list[int]:
    return D.const_ints(g, op, 1, "axes")


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    c.same_type(x, y)
    rank = len(x.shape)
    vals = [int(v) for v in c.const(c.inp(1), "axes").reshape(-1)]
    c.ensure(all(-rank <= v < rank for v in vals), f"axes {vals} are outside [-{rank}, {rank})")
    axes = {v % rank for v in vals}
    keep = [1 if i in axes else d for i, d in enumerate(x.shape)]
    drop = [d for i, d in enumerate(x.shape) if i not in axes]
    c.ensure(
        list(y.shape) in (keep, drop), f"output is {list(y.shape)}, reducing {sorted(axes)} gives {keep}"
    )
    if c.op.name == "REDUCE_MAX" and x.quant is not None:
        # TFLite's Eval requires the same scale and zero point (it compares raw values)
        c.ensure(D.same_quant(x, y), "input and output are quantised differently")
    elif x.quant is not None and y.quant is not None:
        c.multiplier(x.quant.scale[0] / y.quant.scale[0], "input / output")


def _refuse(g: Graph, op: Op) -> None:
    x, y = D.tensor(g, op, 0), D.tensor(g, op, 0, True)
    D.int8(x, y)
    if op.name == "SUM":
        # equal quantisation makes TFLite sum the raw int8 values with wrap-around instead
        D.need(
            not D.same_quant(x, y),
            "SUM with equal input and output quantisation (TFLite wraps raw int8 sums)",
        )
    try:
        LD.reduce_4d(x.shape, _axes(g, op))
    except ValueError as e:
        D.need(False, str(e))


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    shape4, mask = LD.reduce_4d(x.shape, _axes(e.graph, op))
    kernel = KERNELS[op.name]
    params = ""
    if op.name == "SUM":
        rp = Q.reduce_sum_params(scale(x), zp(x), scale(y), zp(y))
        fields = {
            "input_offset": rp.input_offset,
            "output_offset": rp.output_offset,
            "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
        }
        layer.decls.append(c_struct("hard_requant_params", f"{p}_p", fields))
        params = f"&{p}_p, "
    layer.kernel = kernel
    layer.call = (
        f"{{ static const hard_dims in = {dims(shape4)};\n"
        f"    st = {kernel}({params}&in, {mask}, {e.ptr(x.index)}, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        name,
        arity=(2, 2, 1),
        prepare=_prepare,
        refuse=_refuse,
        choose=lambda g, op, dsp: Kernel(KERNELS[op.name], reason="any axes: portable"),
        emit=_emit,
        tflm=tflm,
        summary=summary,
    )
    for name, tflm, summary in (
        ("SUM", "AddSum", "sum over any axes, rescaled (TFLite Micro's integer arithmetic)"),
        ("REDUCE_MAX", "AddReduceMax", "max over any axes"),
    )
]
