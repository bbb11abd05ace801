"""The graph's edges: QUANTIZE float32 / uint8 -> int8 and int8 -> uint8, DEQUANTIZE int8 ->
float32 (the float kernels are compiled only when a model has float I/O: HARD_FLOAT_IO)."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.registry import EmitContext, Layer, emits, requant_fields, scale, zp
from hardtool.core.graph.ir import Op
from hardtool.ops.cgen import c_float, c_struct

FLOAT_KERNELS = ("hard_quantize_f32_s8", "hard_dequantize_s8_f32")


def _affine(layer: Layer, p: str, s: float, z: int) -> None:
    layer.decls.append(
        c_struct("hard_affine_params", f"{p}_p", {"scale": c_float(np.float32(s)), "zero_point": z})
    )


def quantize(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    """QUANTIZE from float32 or uint8 to int8, or int8 to uint8 (int8 -> int8: elementwise)."""
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    n = int(np.prod(y.shape))
    if x.dtype == "float32":
        _affine(layer, p, scale(y), zp(y))
        layer.kernel = "hard_quantize_f32_s8"
    else:
        layer.decls.append(c_struct("hard_requant_params", f"{p}_p", requant_fields(x, y)))
        layer.kernel = "hard_requantize_u8_s8" if x.dtype == "uint8" else "hard_requantize_s8_u8"
    layer.call = f"st = {layer.kernel}(&{p}_p, {e.typed(x.index)}, {e.typed(y.index)}, {n});"


@emits("DEQUANTIZE")
def dequantize(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    _affine(layer, p, scale(x), zp(x))
    layer.kernel = "hard_dequantize_s8_f32"
    layer.call = (
        f"st = {layer.kernel}(&{p}_p, {e.ptr(x.index)}, {e.typed(y.index)}, {int(np.prod(y.shape))});"
    )
