"""CONCATENATION along any axis; inputs the plan produced in their slice are not copied."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check, tensor_label
from hardtool.kernels import support as S
from hardtool.ops.cgen import EmitContext, Layer, c_init, requant_fields
from hardtool.ops.record import Kernel, OpRecord

KERNEL = "hard_concatenation_c_s8"


def _prepare(c: Check) -> None:
    y, xs = c.out(), [c.g.tensors[t] for t in c.op.inputs]
    axis = c.o.get("axis", 0)
    r = len(y.shape)
    c.ensure(isinstance(axis, int) and -r <= axis < r, f"axis {axis!r} is outside [-{r}, {r})")
    axis %= r
    for x in xs:
        c.same_type(x, y)
        c.ensure(len(x.shape) == r, f"{tensor_label(x)} has rank {len(x.shape)}, the output {r}")
        other = [d for i, d in enumerate(x.shape) if i != axis]
        c.ensure(
            other == [d for i, d in enumerate(y.shape) if i != axis],
            f"{tensor_label(x)} {list(x.shape)} does not fit {list(y.shape)}",
        )
    total = sum(x.shape[axis] for x in xs)
    c.ensure(
        total == y.shape[axis], f"inputs add up to {total} along axis {axis}, the output has {y.shape[axis]}"
    )
    c.activation()


def _refuse(g: Graph, op: Op) -> None:
    S.need(
        op.options.get("fused_activation_function", "NONE") == "NONE", "fused activation on a concatenation"
    )
    y = S.tensor_of(g, op, 0, True)
    S.int8(y, *(g.tensors[t] for t in op.inputs))
    S.concat_layout(g, op)


def _concat_call(e: EmitContext, op: Op, layer: Layer, p: str, copy) -> str:
    """The kernel call copying the inputs ``copy(i)`` selects (the others' data NULL)."""
    y = e.t(op.outputs[0])
    rows, widths = S.concat_layout(e.graph, op)
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
        + f"}};\n    st = {KERNEL}(in, {len(entries)}, {rows}, {e.ptr(y.index)}); }}"
    )


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    """Rows = everything outside the axis, so the channel kernel concatenates along any axis. An
    input the plan put in its slice already (produced there, or relocated) is skipped."""
    layer.call = _concat_call(e, op, layer, p, lambda i: not e.in_slice(op, i))


def relocate(e: EmitContext, concat: Op, t: int, layer: Layer, p: str) -> None:
    """Copy concat input ``t`` into its slice before ``layer``'s own call (the plan put it at the
    top of the output's bytes: the kernel's ascending copy writes at or below what it reads)."""
    first = _concat_call(e, concat, layer, p, lambda i: i == t)
    layer.call = f"{first}\n    if (st == HARD_OK) {{\n    {layer.call}\n    }}" if layer.call else first
    layer.kernel = layer.kernel or KERNEL


RECORDS = [
    OpRecord(
        "CONCATENATION",
        arity=(1, None, 1),
        prepare=_prepare,
        refuse=_refuse,
        choose=lambda g, op, dsp: Kernel(
            KERNEL, reason="row copies with requantisation; inputs in their slice skipped"
        ),
        emit=_emit,
        tflm="AddConcatenation",
        summary="concatenation along any axis (in place where the plan allows)",
    )
]
