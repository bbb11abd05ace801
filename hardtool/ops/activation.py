"""LOGISTIC and TANH (256-entry tables), the RELU family, LEAKY_RELU and HARD_SWISH: every
parameter from the float scales as TFLite's Prepare functions compute it."""

from __future__ import annotations

import math

import numpy as np

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check
from hardtool.kernels import quant as Q
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer, c_array, c_struct, scale, zp
from hardtool.ops.record import Kernel, Memory, OpRecord

RELUS = ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1")


def prepare_unary(c: Check) -> None:
    """Same shape in and out; same type (QUANTIZE: a representable scale ratio); LOGISTIC and
    TANH's fixed int8 output quantisation."""
    x, y = c.inp(0), c.out()
    c.same_shape(x, y)
    if c.op.name != "QUANTIZE":
        c.same_type(x, y)
    elif x.quant is not None and y.quant is not None:
        c.multiplier(x.quant.scale[0] / y.quant.scale[0], "input / output")
    fixed = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}.get(c.op.name)
    if fixed and y.dtype == "int8" and y.quant is not None:
        c.ensure(
            math.isclose(y.quant.scale[0], fixed[0], rel_tol=1e-3) and y.quant.zero_point[0] == fixed[1],
            f"int8 output must have scale {fixed[0]:g} and zero point {fixed[1]}",
        )


def _refuse(g: Graph, op: Op) -> None:
    x, y = S.tensor_of(g, op, 0), S.tensor_of(g, op, 0, True)
    S.int8(x, y)
    if op.name == "HARD_SWISH":
        Q.hard_swish_params(S.scale(x), S.zp(x), S.scale(y), S.zp(y))


def _call(e: EmitContext, op: Op, layer: Layer, first_arg: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    layer.call = (
        f"st = {layer.kernel}({first_arg}, {e.ptr(x.index)}, {e.ptr(y.index)}, {int(np.prod(y.shape))});"
    )


def lut(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    layer.decls.append(c_array(f"{p}_lut", Q.lut_s8(op.name, scale(x), zp(x), scale(y), zp(y))))
    _call(e, op, layer, f"{p}_lut")


def relu(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    rp = Q.relu_params(op.name, scale(x), zp(x), scale(y), zp(y))
    fields = {
        "input_offset": rp.input_offset,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
        "activation": {"min": rp.act_min, "max": rp.act_max},
    }
    layer.decls.append(c_struct("hard_relu_params", f"{p}_p", fields))
    _call(e, op, layer, f"&{p}_p")


def leaky_relu(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    lp = Q.leaky_relu_params(float(op.options.get("alpha", 0.2)), scale(x), zp(x), scale(y), zp(y))
    fields = {
        "input_offset": lp.input_offset,
        "output_offset": lp.output_offset,
        "identity": {"multiplier": lp.identity_multiplier, "shift": lp.identity_shift},
        "alpha": {"multiplier": lp.alpha_multiplier, "shift": lp.alpha_shift},
    }
    layer.decls.append(c_struct("hard_leaky_relu_params", f"{p}_p", fields))
    _call(e, op, layer, f"&{p}_p")


def hard_swish(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    hp = Q.hard_swish_params(scale(x), zp(x), scale(y), zp(y))
    fields = {k: getattr(hp, k) for k in hp.__dataclass_fields__}
    layer.decls.append(c_struct("hard_hard_swish_params", f"{p}_p", fields))
    _call(e, op, layer, f"&{p}_p")


def _unary(name: str, kernel: str, emit, tflm: str | None, summary: str) -> OpRecord:
    return OpRecord(
        name,
        arity=(1, 1, 1),
        prepare=prepare_unary,
        refuse=_refuse,
        memory=Memory.ELEMENTWISE,
        choose=lambda g, op, dsp: Kernel(kernel),
        emit=emit,
        tflm=tflm,
        summary=summary,
    )


RECORDS = [
    _unary("RELU", "hard_relu_s8", relu, "AddRelu", "max(x, 0), requantised"),
    _unary("RELU6", "hard_relu_s8", relu, "AddRelu6", "min(max(x, 0), 6), requantised"),
    _unary("RELU_N1_TO_1", "hard_relu_s8", relu, None, "clamp to [-1, 1], requantised"),
    _unary("RELU_0_TO_1", "hard_relu_s8", relu, None, "clamp to [0, 1], requantised"),
    _unary("LOGISTIC", "hard_lut_s8", lut, "AddLogistic", "sigmoid, a 256-entry table"),
    _unary("TANH", "hard_lut_s8", lut, "AddTanh", "tanh, a 256-entry table"),
    _unary("LEAKY_RELU", "hard_leaky_relu_s8", leaky_relu, "AddLeakyRelu", "x or alpha x"),
    _unary("HARD_SWISH", "hard_hard_swish_s8", hard_swish, "AddHardSwish", "x relu6(x + 3) / 6"),
]
