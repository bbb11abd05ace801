"""CONCATENATION (channels), PAD (H and W) and RESHAPE (a copy only when the plan did not alias it)."""

from __future__ import annotations

import numpy as np

from hardtool.codegen.emit import c_init, c_struct
from hardtool.codegen.ops.elementwise import requant_fields
from hardtool.codegen.registry import EmitContext, Layer, dims, emits, zp
from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Op


@emits("CONCATENATION")
def concatenation(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    y = e.t(op.outputs[0])
    axis = int(op.options.get("axis", -1)) % len(y.shape)
    if axis != len(y.shape) - 1:
        raise HardtoolError(
            f"op #{op.index} CONCATENATION along axis {axis}; only the channel axis is supported"
        )
    entries = []
    for i in op.inputs:
        x = e.t(i)
        entries.append(c_init({"data": e.ptr(i), "channels": x.shape[-1], "requant": requant_fields(x, y)}))
    rows = int(np.prod(y.shape[:-1]))
    layer.kernel = "hard_concatenation_c_s8"
    layer.call = (
        f"{{ const hard_concat_input in[{len(entries)}] = {{\n      "
        + ",\n      ".join(entries)
        + f"}};\n    st = hard_concatenation_c_s8(in, {len(entries)}, {rows}, {e.ptr(y.index)}); }}"
    )


@emits("PAD")
def pad(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    pads = np.asarray(e.t(op.inputs[1]).data).reshape(-1, 2)
    if len(x.shape) != 4 or pads[0].any() or pads[3].any():
        raise HardtoolError(f"op #{op.index} PAD pads batch or channels; only H and W padding is supported")
    amounts = {"top": pads[1, 0], "bottom": pads[1, 1], "left": pads[2, 0], "right": pads[2, 1]}
    layer.decls.append(c_struct("hard_pad_params", f"{p}_p", {"padding": amounts, "pad_value": zp(y)}))
    layer.kernel = "hard_pad_s8"
    layer.call = (
        f"{{ static const hard_dims in = {dims(x.shape)}, out = {dims(y.shape)};\n"
        f"    st = hard_pad_s8(&{p}_p, &in, {e.ptr(x.index)}, &out, {e.ptr(y.index)}); }}"
    )


@emits("RESHAPE")
def reshape(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    layer.kernel = "memmove"
    layer.call = (
        f"if ((const void *){e.ptr(x.index)} != (const void *){e.ptr(y.index)}) "
        f"memmove({e.ptr(y.index)}, {e.ptr(x.index)}, {x.nbytes});"
    )
