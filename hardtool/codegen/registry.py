"""One layer of C from one op: its record (``hardtool.ops``) chooses the kernel once
(``hardtool.ops.tables.choose``: symbol, filter layout, scratch, reason) and its emitter writes the
constants and the call of exactly that symbol with exactly that layout; codegen.json reports the
same choice. What codegen supports is exactly the records that have an emitter.

Every integer parameter is derived from the .tflite's float scales with the same arithmetic as
TFLite's kernel Prepare functions (``hardtool.kernels.quant``), so the C never touches floats
and matches the reference kernels bit for bit."""

from __future__ import annotations

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Op
from hardtool.ops import tables
from hardtool.ops.cgen import EmitContext, Layer

unsupported = tables.unsupported  # one line per op codegen cannot generate, with why


def emit_layer(ctx: EmitContext, step: int, op: Op) -> Layer:
    """The C of one op at position ``step`` of the execution order."""
    rec = tables.records().get(op.name)
    if rec is None or not rec.runs:
        raise HardtoolError(f"op #{op.index} {op.name} has no int8 kernel in hardtool's runtime")
    out = ctx.graph.tensors[op.outputs[0]] if op.outputs else None
    elements = int(np.prod(out.shape)) if out is not None else 0
    layer = Layer(step, op.index, f"{op.name}#{op.index}", elements=elements)
    planned = ctx.scratch(op.index)
    k = tables.choose(ctx.graph, op, ctx.dsp, has_scratch=planned is not None)
    if planned is not None and k.scratch > planned[1]:
        raise HardtoolError(
            f"op #{op.index} {op.name}: {k.symbol} needs {k.scratch} bytes of scratch, the plan gives "
            f"{planned[1]}; run hardtool memplan again (the plan is older than the kernel choice)"
        )
    layer.kernel, layer.layout, layer.path = k.symbol, k.layout, k.reason
    layer.tile_pixels, layer.tuned = k.tile_pixels, k.tuned
    layer.fusion = op.options.get("fused_add", {}).get("reason") or op.options.get("not_fused", "")
    rec.emit(ctx, op, layer, f"l{step}")
    if layer.kernel not in (k.symbol, ""):
        raise HardtoolError(f"op #{op.index} {op.name}: its emitter called {layer.kernel}, not {k.symbol}")
    return layer
