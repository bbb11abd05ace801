"""PRELU: x for x >= 0, alpha x below, alpha broadcast over the dimensions where it has size 1
(torch's nn.PReLU through onnx2tf: a constant [1, 1, C]). TFLite's PreluPrepare arithmetic:
two multipliers, s_in / s_out and s_in * s_alpha / s_out, each from float32 scales."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.core.graph.validate import Check
from hardtool.kernels import quant as Q
from hardtool.kernels.support import Refused
from hardtool.ops.cgen import EmitContext, Layer, c_init, c_struct, scale, zp
from hardtool.ops.record import Kernel, Memory, OpRecord

KERNEL = "hard_prelu_s8"


def dims4(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape of rank <= 4 right-aligned to NHWC, as broadcasting aligns it."""
    return (1,) * (4 - len(shape)) + tuple(int(v) for v in shape)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(int(v) for v in np.broadcast_shapes(a, b))
    except ValueError:
        return None


def _prepare(c: Check) -> None:
    x, alpha, y = c.inp(0), c.inp(1), c.out()
    c.same_type(x, alpha)
    c.same_type(x, y)
    c.rank(x, 1, 2, 3, 4)
    want = _broadcast(x.shape, alpha.shape)
    c.ensure(want is not None, f"alpha {list(alpha.shape)} does not broadcast to the input {list(x.shape)}")
    c.ensure(want == y.shape, f"output {list(y.shape)} is not the broadcast shape {list(want or ())}")
    if x.quant is not None and alpha.quant is not None and y.quant is not None:
        c.multiplier(x.quant.scale[0] / y.quant.scale[0], "input / output")
        c.multiplier(x.quant.scale[0] * alpha.quant.scale[0] / y.quant.scale[0], "input x alpha / output")


def _refuse(g: Graph, op: Op) -> None:
    x, alpha, y = (g.tensors[i] for i in (*op.inputs[:2], op.outputs[0]))
    for t in (x, alpha, y):
        if t.dtype != "int8" or t.quant is None:
            raise Refused(f"tensor {t.index} is {t.dtype}, not int8")
    if alpha.quant.per_channel:
        raise Refused("alpha is quantised per channel (TFLite's PRELU takes one scale)")
    if len(x.shape) > 4 or len(alpha.shape) > 4:
        raise Refused("more than 4 dimensions")
    if y.shape != x.shape:
        raise Refused(f"alpha {list(alpha.shape)} is larger than the input {list(x.shape)}")


def params(x: Tensor, alpha: Tensor, y: Tensor) -> dict:
    """``hard_prelu_params`` fields."""
    p = Q.prelu_params(scale(x), zp(x), scale(alpha), zp(alpha), scale(y), zp(y))
    return {
        "input_offset": p.input_offset,
        "alpha_offset": p.alpha_offset,
        "output_offset": p.output_offset,
        "identity": {"multiplier": p.identity_multiplier, "shift": p.identity_shift},
        "alpha": {"multiplier": p.alpha_multiplier, "shift": p.alpha_shift},
    }


def _dims(shape: tuple[int, ...]) -> str:
    n, h, w, c = dims4(shape)
    return c_init({"n": n, "h": h, "w": w, "c": c})


def emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, alpha, y = e.t(op.inputs[0]), e.t(op.inputs[1]), e.t(op.outputs[0])
    layer.kernel = layer.kernel or KERNEL
    layer.decls.append(c_struct("hard_prelu_params", f"{p}_p", params(x, alpha, y)))
    a = e.operand(layer, p, alpha.index)
    layer.call = (
        f"{{ static const hard_dims in = {_dims(x.shape)}, a = {_dims(alpha.shape)};\n"
        f"    st = {layer.kernel}(&{p}_p, &in, {e.ptr(x.index)}, &a, {a}, {e.ptr(y.index)}); }}"
    )


RECORDS = [
    OpRecord(
        "PRELU",
        arity=(2, 2, 1),
        prepare=_prepare,
        refuse=_refuse,
        memory=Memory.ELEMENTWISE,
        choose=lambda g, op, dsp: Kernel(KERNEL, reason="portable: two requantisations per element"),
        emit=emit,
        tflm="AddPrelu",
        summary="x or alpha x, alpha broadcast (per channel from torch's nn.PReLU)",
    )
]
