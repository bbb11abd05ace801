"""The one registry of ops → kernels. Each op family's module (``hardtool.codegen.ops.*``)
registers an emitter per TFLite builtin with ``@emits``; an emitter turns one lowered-graph op
into constant declarations (flash) and a kernel call. What codegen supports is exactly what is
registered here.

Every integer parameter is derived from the .tflite's float scales with the same arithmetic as
TFLite's kernel Prepare functions (``hardtool.kernels.quant``), so the C never touches floats
and matches the reference kernels bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hardtool.codegen.emit import C_TYPES, c_array, c_dims, c_init
from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Op, Tensor, describe_op
from hardtool.kernels import quant as Q
from hardtool.kernels import support
from hardtool.kernels.select import select_kernel


@dataclass
class Layer:
    index: int  # position in execution order
    op: int  # op index in the lowered graph
    name: str  # for profiles: "CONV_2D#3"
    decls: list[str] = field(default_factory=list)
    call: str = ""
    macs: int = 0
    kernel: str = ""  # the C function that runs it; "" for an op that needs no code (an alias)
    elements: int = 0  # output elements (the unit of per-element rates for ops without MACs)
    path: str = ""  # the path the kernel takes inside on a DSP target, and why (kernels.select)
    stage: bool = False  # run band by band by the first stage (its call is hard_stage_<index>)


@dataclass
class EmitContext:
    """What an emitter needs besides the op: the graph and where each buffer lives."""

    graph: Graph
    ptr: Callable[[int], str]  # tensor index -> C pointer expression (int8_t *)
    scratch: Callable[[int], tuple[str, int] | None]  # op index -> (C pointer expression, size)
    # tensor index -> elements between its pixels when the plan puts it in a concat's channel
    # slice (its producer writes with that output_stride), else 0 (dense)
    out_stride: Callable[[int], int] = lambda t: 0
    # (concat op, input tensor) -> True when the plan already put the input in its slice
    in_slice: Callable[[Op, int], bool] = lambda op, t: False

    def t(self, i: int) -> Tensor:
        return self.graph.tensors[i]

    def stride_field(self, t: int) -> dict:
        """``{"output_stride": n}`` for a params struct when ``t`` is written into a strided slice."""
        n = self.out_stride(t)
        return {"output_stride": n} if n else {}

    def typed(self, i: int, ctype: str | None = None) -> str:
        """The tensor's arena pointer as ``ctype *`` (default: its own element type)."""
        ctype = ctype or C_TYPES[self.t(i).dtype]
        return self.ptr(i) if ctype == "int8_t" else f"(({ctype} *)(void *){self.ptr(i)})"

    def operand(self, layer: Layer, p: str, i: int) -> str:
        """Pointer to an input: its arena buffer, or (a constant) an array declared in flash."""
        t = self.t(i)
        if not t.is_constant:
            return self.ptr(i)
        name = f"{p}_k{i}"
        if not any(f" {name}[" in d for d in layer.decls):
            layer.decls.append(c_array(name, np.ascontiguousarray(t.data)))
        return name

    def ctx(self, op: Op) -> str:
        """The ``hard_context`` initialiser of the op's scratch buffer."""
        s = self.scratch(op.index)
        return c_init({"buf": "NULL", "size": 0} if s is None else {"buf": s[0], "size": s[1]})


Emitter = Callable[[EmitContext, Op, Layer, str], None]
EMITTERS: dict[str, Emitter] = {}


def emits(*names: str) -> Callable[[Emitter], Emitter]:
    """Register ``fn`` as the emitter of the TFLite builtins ``names``."""

    def register(fn: Emitter) -> Emitter:
        for n in names:
            EMITTERS[n] = fn
        return fn

    return register


def scale(t: Tensor) -> float:
    return float(t.quant.scale[0])


def zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


def dims(shape: tuple[int, ...]) -> str:
    return c_init(c_dims(shape))


def activation(op: Op, out: Tensor) -> dict:
    """The fused activation as a ``hard_activation`` clamp in the output's quantised domain."""
    lo, hi = Q.activation_range(str(op.options.get("fused_activation_function", "NONE")), scale(out), zp(out))
    return {"min": lo, "max": hi}


def requant_fields(x: Tensor, y: Tensor) -> dict:
    """``hard_requant_params`` that map x's quantisation onto y's (identity when equal)."""
    rp = Q.requantize_params(scale(x), zp(x), scale(y), zp(y))
    return {
        "input_offset": rp.input_offset,
        "output_offset": rp.output_offset,
        "quant": {"multiplier": rp.multiplier, "shift": rp.shift},
    }


def padding(op: Op) -> dict:
    t, b, l_, r = op.options["explicit_padding"]
    return {"top": t, "bottom": b, "left": l_, "right": r}


def tile(op: Op, key: str) -> dict:
    """``hard_tile`` of stride (``key`` = 'stride') or dilation ('dilation')."""
    if key == "stride":
        return {"h": op.options.get("stride_h", 1), "w": op.options.get("stride_w", 1)}
    return {"h": op.options.get("dilation_h_factor", 1), "w": op.options.get("dilation_w_factor", 1)}


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
