"""CONCATENATION (any axis; inputs the plan produced in their slice are not copied), PAD / PADV2
and RESHAPE / SQUEEZE / EXPAND_DIMS (no code when the plan aliases the output to the input, as it
always does for a contiguous input)."""

from __future__ import annotations

from hardtool.codegen.registry import EmitContext, Layer, dims, emits, requant_fields
from hardtool.core.graph.ir import Op
from hardtool.kernels import support
from hardtool.ops.cgen import c_dims, c_init, c_struct


def _concat_call(e: EmitContext, op: Op, layer: Layer, p: str, copy) -> str:
    """The kernel call copying the inputs ``copy(i)`` selects (the others' data NULL)."""
    y = e.t(op.outputs[0])
    rows, widths = support.concat_layout(e.graph, op)
    entries = [
        c_init(
            {
                "data": e.operand(layer, p, i) if copy(i) else "NULL",
                "channels": n,
                "requant": requant_fields(e.t(i), y),
            }
        )
        for i, n in zip(op.inputs, widths, strict=True)
    ]
    return (
        f"{{ const hard_concat_input in[{len(entries)}] = {{\n      "
        + ",\n      ".join(entries)
        + f"}};\n    st = hard_concatenation_c_s8(in, {len(entries)}, {rows}, {e.ptr(y.index)}); }}"
    )


@emits("CONCATENATION")
def concatenation(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    """Rows = everything outside the axis, so the channel kernel concatenates along any axis. An
    input the plan put in its slice already (produced there, or relocated) is skipped."""
    layer.kernel = "hard_concatenation_c_s8"
    layer.call = _concat_call(e, op, layer, p, lambda i: not e.in_slice(op, i))


def relocate(e: EmitContext, concat: Op, t: int, layer: Layer, p: str) -> None:
    """Copy concat input ``t`` into its slice before ``layer``'s own call (the plan put it at the
    top of the output's bytes: the kernel's ascending copy writes at or below what it reads)."""
    first = _concat_call(e, concat, layer, p, lambda i: i == t)
    layer.call = f"{first}\n    if (st == HARD_OK) {{\n    {layer.call}\n    }}" if layer.call else first
    layer.kernel = layer.kernel or "hard_concatenation_c_s8"


@emits("PAD", "PADV2")
def pad(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    shape4, before, after, value = support.pad_spec(e.graph, op)
    if len(x.shape) == 4 and before[0] == after[0] == before[3] == after[3] == 0:
        amounts = {"top": before[1], "bottom": after[1], "left": before[2], "right": after[2]}
        layer.decls.append(c_struct("hard_pad_params", f"{p}_p", {"padding": amounts, "pad_value": value}))
        layer.kernel = "hard_pad_s8"
        in_dims, out_dims = dims(x.shape), dims(y.shape)
    else:
        fields = {"before": c_dims(before), "after": c_dims(after), "pad_value": value}
        layer.decls.append(c_struct("hard_pad4d_params", f"{p}_p", fields))
        layer.kernel = "hard_pad4d_s8"
        in_dims = dims(shape4)
        out_dims = dims(tuple(d + b + a for d, b, a in zip(shape4, before, after, strict=True)))
    layer.call = (
        f"{{ static const hard_dims in = {in_dims}, out = {out_dims};\n"
        f"    st = {layer.kernel}(&{p}_p, &in, {e.ptr(x.index)}, &out, {e.ptr(y.index)}); }}"
    )


@emits("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    if e.ptr(x.index) == e.ptr(y.index):
        return  # the plan aliases the output to the input: same bytes, no code
    layer.kernel = "memmove"
    layer.call = f"memmove({e.ptr(y.index)}, {e.ptr(x.index)}, {x.nbytes});"
