"""The one registry of ops → kernels. Each op family's module (``hardtool.codegen.ops.*``)
registers an emitter per TFLite builtin with ``@emits``; an emitter turns one lowered-graph op
into constant declarations (flash) and a kernel call. What codegen supports is exactly what is
registered here.

Every integer parameter is derived from the .tflite's float scales with the same arithmetic as
TFLite's kernel Prepare functions (``hardtool.kernels.quant``), so the C never touches floats
and matches the reference kernels bit for bit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Op, describe_op
from hardtool.kernels import support
from hardtool.kernels.select import select_kernel
from hardtool.ops.cgen import (  # noqa: F401  (re-exported for the op families)
    EmitContext,
    Emitter,
    Layer,
    activation,
    dims,
    padding,
    requant_fields,
    scale,
    tile,
    zp,
)

EMITTERS: dict[str, Emitter] = {}


def emits(*names: str) -> Callable[[Emitter], Emitter]:
    """Register ``fn`` as the emitter of the TFLite builtins ``names``."""

    def register(fn: Emitter) -> Emitter:
        for n in names:
            EMITTERS[n] = fn
        return fn

    return register


def unsupported(graph: Graph) -> list[str]:
    """One line per op codegen cannot generate: index, name, tensor shapes and why (no kernel,
    or a dtype / shape / constant operand the kernels do not take)."""
    lines = []
    for op in graph.ops:
        why = "no int8 kernel" if op.name not in EMITTERS else support.refusal(graph, op)
        if why is not None:
            lines.append(f"{describe_op(graph, op)}: {why}")
    return lines


def emit_layer(ctx: EmitContext, step: int, op: Op) -> Layer:
    """The C of one op at position ``step`` of the execution order."""
    if op.name not in EMITTERS:
        raise HardtoolError(f"op #{op.index} {op.name} has no int8 kernel in hardtool's runtime")
    out = ctx.graph.tensors[op.outputs[0]] if op.outputs else None
    elements = int(np.prod(out.shape)) if out is not None else 0
    layer = Layer(step, op.index, f"{op.name}#{op.index}", elements=elements)
    EMITTERS[op.name](ctx, op, layer, f"l{step}")
    try:
        choice = select_kernel(op, ctx.graph)
    except ValueError:  # an op without a choice of paths (FULLY_CONNECTED, SOFTMAX, ...)
        layer.path = ""
        return layer
    lean = choice.scratch > 0 and ctx.scratch(op.index) is None
    layer.path = "portable: the plan gives it no scratch (memplan --lean-kernels)" if lean else choice.reason
    return layer
