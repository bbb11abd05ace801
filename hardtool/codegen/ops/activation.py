"""SOFTMAX, LOGISTIC and TANH (256-entry tables), the RELU family, LEAKY_RELU and HARD_SWISH:
every parameter from the float scales as TFLite's Prepare functions compute it."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.registry import EmitContext, Layer, emits, scale, zp
from hardtool.core.graph.ir import Op
from hardtool.kernels import quant as Q
from hardtool.kernels.support import RELUS
from hardtool.ops.cgen import c_array, c_struct


def _unary(e: EmitContext, op: Op, layer: Layer, first_arg: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    layer.call = (
        f"st = {layer.kernel}({first_arg}, {e.ptr(x.index)}, {e.ptr(y.index)}, {int(np.prod(y.shape))});"
    )


@emits("SOFTMAX")
def softmax(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    sp = Q.softmax_params(float(op.options.get("beta", 1.0)), scale(x))
    fields = {"input_multiplier": sp.input_multiplier, "input_left_shift": sp.input_left_shift}
    layer.decls.append(c_struct("hard_softmax_params", f"{p}_p", fields | {"diff_min": sp.diff_min}))
    depth = int(x.shape[-1])
    layer.kernel = "hard_softmax_s8"
    layer.call = (
        f"st = hard_softmax_s8(&{p}_p, {int(np.prod(x.shape)) // depth}, {depth}, "
        f"{e.ptr(x.index)}, {e.ptr(y.index)});"
    )


@emits("LOGISTIC", "TANH")
def lut(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    layer.decls.append(c_array(f"{p}_lut", Q.lut_s8(op.name, scale(x), zp(x), scale(y), zp(y))))
    layer.kernel = "hard_lut_s8"
    _unary(e, op, layer, f"{p}_lut")


@emits(*RELUS)
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
    layer.kernel = "hard_relu_s8"
    _unary(e, op, layer, f"&{p}_p")


@emits("LEAKY_RELU")
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
    layer.kernel = "hard_leaky_relu_s8"
    _unary(e, op, layer, f"&{p}_p")


@emits("HARD_SWISH")
def hard_swish(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    hp = Q.hard_swish_params(scale(x), zp(x), scale(y), zp(y))
    fields = {k: getattr(hp, k) for k in hp.__dataclass_fields__}
    layer.decls.append(c_struct("hard_hard_swish_params", f"{p}_p", fields))
    layer.kernel = "hard_hard_swish_s8"
    _unary(e, op, layer, f"&{p}_p")
