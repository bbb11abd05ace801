"""PAD and PADV2: the spatial (H, W) case runs hard_pad_s8, any other 4-D padding hard_pad4d_s8."""

from __future__ import annotations

import math

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, tensor_label
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer, c_dims, c_struct, dims
from hardtool.ops.record import Kernel, OpRecord


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    p = c.const(c.inp(1), "paddings")
    r = len(x.shape)
    c.ensure(r <= 5, f"input has rank {r} (PAD handles at most 5)")
    c.ensure(
        p.dtype.kind == "i" and p.shape == (r, 2), f"paddings {list(p.shape)} must be an integer [{r}, 2]"
    )
    c.ensure(bool((p >= 0).all()), f"padding amount {int(p.min())} is negative")
    want = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, p, strict=True))
    c.ensure(y.shape == want, f"output {tensor_label(y)} is {list(y.shape)}, padding gives {list(want)}")
    c.same_type(x, y)
    v = c.inp(2)
    if v is not None:
        c.ensure(v.is_constant and math.prod(v.shape) == 1, "pad value must be one constant")


def _refuse(g: Graph, op: Op) -> None:
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.int8(x, y)
    S.same_quant(x, y)
    S.pad_spec(g, op)


def _spatial(g: Graph, op: Op) -> bool:
    _, before, after, _ = S.pad_spec(g, op)
    return len(g.tensors[op.inputs[0]].shape) == 4 and before[0] == after[0] == before[3] == after[3] == 0


def _choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    if _spatial(g, op):
        return Kernel("hard_pad_s8", reason="H and W only")
    return Kernel("hard_pad4d_s8", reason="any 4-D padding")


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    shape4, before, after, value = S.pad_spec(e.graph, op)
    if layer.kernel == "hard_pad_s8":
        amounts = {"top": before[1], "bottom": after[1], "left": before[2], "right": after[2]}
        layer.decls.append(c_struct("hard_pad_params", f"{p}_p", {"padding": amounts, "pad_value": value}))
        in_dims, out_dims = dims(x.shape), dims(y.shape)
    else:
        fields = {"before": c_dims(before), "after": c_dims(after), "pad_value": value}
        layer.decls.append(c_struct("hard_pad4d_params", f"{p}_p", fields))
        in_dims = dims(shape4)
        out_dims = dims(tuple(d + b + a for d, b, a in zip(shape4, before, after, strict=True)))
    layer.call = (
        f"{{ static const hard_dims in = {in_dims}, out = {out_dims};\n"
        f"    st = {layer.kernel}(&{p}_p, &in, {e.ptr(x.index)}, &out, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        name,
        arity=arity,
        prepare=_prepare,
        refuse=_refuse,
        choose=_choose,
        emit=_emit,
        tflm=tflm,
        summary=summary,
    )
    for name, arity, tflm, summary in (
        ("PAD", (2, 2, 1), "AddPad", "constant padding with the zero point (convolutions fold it in)"),
        ("PADV2", (2, 3, 1), "AddPadV2", "constant padding with a given value"),
    )
]
