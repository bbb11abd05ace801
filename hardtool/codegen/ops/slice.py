"""STRIDED_SLICE (positive strides) and SLICE: a 4-D window resolved on the host."""

from __future__ import annotations

from hardtool.codegen.registry import EmitContext, Layer, dims, emits
from hardtool.core.graph.ir import Op
from hardtool.kernels import support
from hardtool.ops.cgen import c_dims, c_struct


@emits("STRIDED_SLICE", "SLICE")
def strided_slice(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    spec = support.slice_spec(e.graph, op)
    layer.decls.append(
        c_struct("hard_slice_params", f"{p}_p", {"begin": c_dims(spec.begin), "stride": c_dims(spec.stride)})
    )
    layer.kernel = "hard_strided_slice_s8"
    layer.call = (
        f"{{ static const hard_dims in = {dims(spec.input_shape)}, out = {dims(spec.size)};\n"
        f"    st = hard_strided_slice_s8(&{p}_p, &in, {e.typed(op.inputs[0], 'int8_t')}, &out, "
        f"{e.typed(op.outputs[0], 'int8_t')}); }}"
    )
