"""MEAN over any axes: hard_mean_hw_s8 (one pass, 4 x C scratch) over H and W with keep_dims,
else the general hard_mean_s8."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, axis_values, tensor_label
from hardtool.kernels import quant as Q
from hardtool.kernels import support as S
from hardtool.kernels.scratch import kernel_scratch_bytes
from hardtool.ops.cgen import EmitContext, Layer, c_struct, dims, scale, zp
from hardtool.ops.record import Kernel, OpRecord


def _prepare(c: Check) -> None:
    x, y = c.inp(0), c.out()
    axes = set(axis_values(c, 1, len(x.shape)))
    keep = [1 if i in axes else d for i, d in enumerate(x.shape)]
    drop = [d for i, d in enumerate(x.shape) if i not in axes]
    c.ensure(
        list(y.shape) in (keep, drop),
        f"output {tensor_label(y)} is {list(y.shape)}, reducing {sorted(axes)} gives {keep}",
    )
    c.same_type(x, y)
    if x.quant is not None and y.quant is not None:
        c.multiplier(x.quant.scale[0] / y.quant.scale[0], "input / output")


def _refuse(g: Graph, op: Op) -> None:
    S.int8(S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True))
    S.mean_axes(g, op)


def _choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    if S.mean_is_hw(g, op):
        kernel = "hard_mean_hw_s8"
        scratch = kernel_scratch_bytes(kernel, g.tensors[op.inputs[0]].shape)
        return Kernel(kernel, None, scratch, "over H and W, keeping dims: one pass")
    return Kernel("hard_mean_s8", reason="any axes: portable")


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    rp = Q.mean_params(scale(x), zp(x), scale(y), zp(y))
    params = {
        "input_offset": rp.input_offset,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
    }
    layer.decls.append(c_struct("hard_mean_params", f"{p}_p", params))
    if layer.kernel == "hard_mean_hw_s8":
        layer.call = (
            f"{{ static const hard_dims in = {dims(x.shape)};\n    const hard_context ctx = {e.ctx(op)};\n"
            f"    st = hard_mean_hw_s8(&ctx, &{p}_p, &in, {e.ptr(x.index)}, {e.ptr(y.index)}); }}"
        )
        return
    shape4, mask = S.mean_axes(e.graph, op)
    layer.call = (
        f"{{ static const hard_dims in = {dims(shape4)};\n"
        f"    st = hard_mean_s8(&{p}_p, &in, {mask}, {e.ptr(x.index)}, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        "MEAN",
        arity=(2, 2, 1),
        prepare=_prepare,
        refuse=_refuse,
        choose=_choose,
        emit=_emit,
        tflm="AddMean",
        summary="mean over any axes (H and W: one pass)",
    )
]
