"""Graph validation: every field TFLite's own Prepare functions check, for the ops the planner and
codegen use, so a damaged or hand-edited `.tflite` fails here with one line naming the op and the
field, and never deeper inside lowering, planning or the generated C.

What is checked, beyond the reader's own checks (file structure, buffers vs shapes, types):
- float models (unless ``float_ok``: memplan plans them) and ops without an op record (named,
  with their index);
- graph structure: op arity, omitted inputs only where optional, every tensor written once,
  every activation produced before it is read (file order is the execution order), graph
  inputs / outputs that exist and make sense;
- tensors: positive dimensions, rank, size (TFLite sizes tensors in 32-bit ints), quantisation
  blocks (as many zero points as scales, per-channel scale count = the quantised dimension,
  finite positive scales, zero points inside the type's range, symmetric int8 weights);
- per op: ranks, shapes consistent with the inputs (output sizes recomputed as TFLite does),
  strides, dilations, filter sizes, padding kinds and amounts, fused activations, constant
  operands, equal types, and the requantisation multipliers the kernels derive from the scales.

The per-op part (arity, each op's Prepare checks, the supported names) is not written here: it
comes from the op records (``hardtool.ops``, one layer up) through ``hardtool.core.oprules``,
which the package root fills. This module holds the generic checks and the ``Check`` helpers the
records' ``prepare`` functions use.
"""

from __future__ import annotations

import math

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Op, Tensor, describe_op
from hardtool.core.oprules import OpRules, op_rules

INT32_MAX = 2**31 - 1
MAX_RANK = 6
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
PADDINGS = ("SAME", "VALID")
ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (0, 0)}
QUANTIZED = tuple(ZERO_POINT_RANGE)
FIX = "the file is damaged or was not written by TFLite's converter (re-export it with 'hardtool quantize')"


def tensor_label(t: Tensor) -> str:
    return f"tensor {t.index} '{t.name}'" if t.name else f"tensor {t.index}"


class Check:
    """The op under test and a way to fail naming it."""

    def __init__(self, g: Graph, op: Op):
        self.g, self.op, self.o = g, op, op.options

    def fail(self, what: str) -> None:
        raise HardtoolError(f"{self.g.name}: op #{self.op.index} {self.op.name}: {what}; {FIX}")

    def ensure(self, ok: bool, what: str) -> None:
        if not ok:
            self.fail(what)

    def inp(self, i: int) -> Tensor | None:
        ins = self.op.inputs
        return self.g.tensors[ins[i]] if i < len(ins) and ins[i] >= 0 else None

    def out(self, i: int = 0) -> Tensor:
        return self.g.tensors[self.op.outputs[i]]

    def rank(self, t: Tensor, *ranks: int) -> None:
        self.ensure(
            len(t.shape) in ranks,
            f"{tensor_label(t)} has rank {len(t.shape)} {list(t.shape)}, not {ranks[0]}",
        )

    def const(self, t: Tensor | None, what: str) -> np.ndarray:
        if t is None or t.data is None:
            self.fail(f"its {what} must be a constant tensor")
        return t.data

    def int_option(self, key: str, lo: int = 1, hi: int = INT32_MAX) -> int:
        v = self.o.get(key)
        ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
        self.ensure(ok, f"{key} is {v!r} (must be {lo}..{hi})" if v is not None else f"{key} is missing")
        return int(v)

    def same_type(self, a: Tensor, b: Tensor) -> None:
        self.ensure(a.dtype == b.dtype, f"{tensor_label(a)} is {a.dtype} but {tensor_label(b)} is {b.dtype}")

    def same_shape(self, a: Tensor, b: Tensor) -> None:
        self.ensure(
            a.shape == b.shape,
            f"{tensor_label(a)} {list(a.shape)} and {tensor_label(b)} {list(b.shape)} differ in shape",
        )

    def multiplier(self, value: float, what: str, below_one: bool = False) -> None:
        """A requantisation multiplier the kernels turn into (int32, shift): finite, positive, in range."""
        top = 1.0 if below_one else float(2**31)
        ok = math.isfinite(value) and 0.0 < value < top
        self.ensure(ok, f"its {what} scale ratio is {value:.3g}, outside (0, {top:.3g})")

    def activation(self) -> None:
        act = self.o.get("fused_activation_function", "NONE")
        self.ensure(act in ACTIVATIONS, f"fused activation {act!r} is not one of {', '.join(ACTIVATIONS)}")


# ---------------------------------------------------------------- graph, tensors


def _edge_conversion(graph: Graph, op: Op) -> bool:
    """A float32 graph input read by QUANTIZE, or a float32 graph output written by DEQUANTIZE:
    the int8 graph's float I/O, which the kernels convert at the edges."""
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if op.name == "QUANTIZE":
        return x.index in graph.inputs and not y.is_float
    return op.name == "DEQUANTIZE" and y.index in graph.outputs and not x.is_float


def float_ops(graph: Graph) -> list[str]:
    """``#index NAME (float tensor 'name')`` of every op computing in float; float32 only at the
    edges (QUANTIZE of a graph input, DEQUANTIZE to a graph output) is an int8 model's I/O."""
    found = []
    for op in graph.ops:
        ts = [graph.tensors[t] for t in (*op.inputs, *op.outputs) if t >= 0]
        bad = [t.name or f"t{t.index}" for t in ts if t.is_float]
        if bad and not (op.inputs and op.outputs and _edge_conversion(graph, op)):
            found.append(f"#{op.index} {op.name} (float tensor '{bad[0]}')")
    return found


def is_float_model(graph: Graph) -> bool:
    """A float model: some op computes in float. memplan plans these (float buffer sizes); codegen
    and the int8 kernels refuse them (`check_float_ops`)."""
    return bool(float_ops(graph))


def check_float_ops(graph: Graph) -> None:
    """Refuse float models, naming the float ops; float32 only at the edges is an int8 model."""
    found = float_ops(graph)
    if found:
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        raise HardtoolError(
            f"{graph.name} is a float model: float ops {shown}; hardtool's kernels and codegen run int8 "
            "only (memplan plans float models): quantize it to full int8 (int8 input, "
            "TFLITE_BUILTINS_INT8) with 'hardtool quantize'"
        )


def unsupported_op_error(graph: Graph, lines: list[str], why: str) -> HardtoolError:
    """Every op that cannot be deployed in one error: a summary line, then one line per op."""
    return HardtoolError(f"{graph.name}: {len(lines)} op(s) {why}:\n" + "\n".join(f"  {ln}" for ln in lines))


def _check_types(g: Graph, supported: frozenset[str] | None, float_ok: bool, hints: dict[str, str]) -> None:
    """Float models (naming the float ops) unless ``float_ok``, and every op outside ``supported``
    (index, name and tensor shapes; one line each; None: the caller lists unsupported ops)."""
    if not float_ok:
        check_float_ops(g)
    if not g.ops:
        raise HardtoolError(f"{g.name} has no ops")
    bad = [op for op in g.ops if supported is not None and op.name not in supported]
    if bad:
        lines = [describe_op(g, op) + (f"; {hints[op.name]}" if op.name in hints else "") for op in bad]
        raise unsupported_op_error(
            g, lines, f"that hardtool cannot deploy (supported: {', '.join(sorted(supported))})"
        )


def _check_quant(g: Graph, t: Tensor) -> None:
    q, where = t.quant, f"{g.name}: {tensor_label(t)}"
    if q is None:
        if t.dtype in QUANTIZED:
            raise HardtoolError(f"{where} is {t.dtype} without quantisation parameters; {FIX}")
        return
    if len(q.zero_point) != len(q.scale):
        raise HardtoolError(f"{where} has {len(q.scale)} scales but {len(q.zero_point)} zero points; {FIX}")
    bad = [s for s in q.scale if not (math.isfinite(s) and s > 0)]
    if bad:
        raise HardtoolError(f"{where} has quantisation scale {bad[0]!r} (must be finite and > 0); {FIX}")
    if len(q.scale) > 1:
        axis = q.axis if q.axis is not None else -1
        if not 0 <= axis < len(t.shape) or t.shape[axis] != len(q.scale):
            raise HardtoolError(
                f"{where} {list(t.shape)} has {len(q.scale)} per-channel scales on quantised dimension "
                f"{q.axis} (they must match that dimension's size); {FIX}"
            )
        if not t.is_constant:
            raise HardtoolError(f"{where} is an activation with per-channel quantisation; {FIX}")
    lo, hi = ZERO_POINT_RANGE.get(t.dtype, (-(2**31), INT32_MAX))
    if t.is_constant and t.dtype == "int8" and len(q.scale) > 1:
        lo = hi = 0  # TFLite's int8 spec: per-channel weights are symmetric
    out = [z for z in q.zero_point if not lo <= z <= hi]
    if out:
        raise HardtoolError(f"{where} ({t.dtype}) has zero point {out[0]} outside [{lo}, {hi}]; {FIX}")


def _check_tensor(g: Graph, t: Tensor) -> None:
    where = f"{g.name}: {tensor_label(t)}"
    if len(t.shape) > MAX_RANK:
        raise HardtoolError(f"{where} has rank {len(t.shape)} (at most {MAX_RANK}); {FIX}")
    if any(d <= 0 for d in t.shape):
        raise HardtoolError(f"{where} has shape {list(t.shape)} with a zero dimension; {FIX}")
    if math.prod(t.shape) * t.itemsize > INT32_MAX:
        raise HardtoolError(
            f"{where} {list(t.shape)} {t.dtype} would take {math.prod(t.shape) * t.itemsize:,} bytes, "
            f"more than TFLite's 2 GiB limit and any microcontroller's RAM; {FIX}"
        )
    _check_quant(g, t)


def _check_io(g: Graph) -> None:
    if not g.inputs or not g.outputs:
        raise HardtoolError(f"{g.name} declares no graph {'inputs' if not g.inputs else 'outputs'}; {FIX}")
    for t in g.inputs:
        if g.tensors[t].is_constant:
            raise HardtoolError(f"{g.name}: graph input {tensor_label(g.tensors[t])} is a constant; {FIX}")
    produced = set(g.producers()) | set(g.inputs)
    for t in g.outputs:
        if t not in produced and not g.tensors[t].is_constant:
            raise HardtoolError(
                f"{g.name}: graph output {tensor_label(g.tensors[t])} is written by no op; {FIX}"
            )


def _check_arity(c: Check, op: Op, arity: dict[str, tuple[int, int | None, int | None]]) -> None:
    """Input and output counts, omitted inputs only where optional (ops hardtool does not deploy
    are listed by the caller and not checked here)."""
    if op.name not in arity:
        return
    need, most, n_out = arity[op.name]
    n_in = len(op.inputs)
    c.ensure(
        need <= n_in <= (most if most is not None else n_in) and n_out in (None, len(op.outputs)),
        f"has {n_in} inputs and {len(op.outputs)} outputs "
        f"(expects {need}{'' if most == need else f'..{most}' if most else '+'} and {'any' if n_out is None else n_out})",
    )
    missing = [i for i, t in enumerate(op.inputs[:need]) if t < 0]
    c.ensure(not missing, f"required input {missing[0] if missing else 0} is omitted (-1)")


def _check_structure(g: Graph, arity: dict[str, tuple[int, int | None, int | None]]) -> None:
    """Arity, omitted inputs, single writers, and every activation produced before it is read."""
    written = set(g.inputs)
    for op in g.ops:
        c = Check(g, op)
        _check_arity(c, op, arity)
        for t in op.inputs:
            if t >= 0 and not g.tensors[t].is_constant:
                c.ensure(t in written, f"reads {tensor_label(g.tensors[t])} before any op writes it")
        for t in op.outputs:
            y = g.tensors[t]
            c.ensure(not y.is_constant, f"writes into constant {tensor_label(y)}")
            c.ensure(t not in written, f"writes {tensor_label(y)}, which is a graph input or written before")
            written.add(t)


# ---------------------------------------------------------------- ops


def window_size(c: Check, size: int, kernel: int, stride: int, dilation: int, padding: str, what: str) -> int:
    """Output size along one axis, as TFLite computes it (ComputeOutSize), with 32-bit limits."""
    eff = (kernel - 1) * dilation + 1
    c.ensure(eff <= INT32_MAX, f"{what}: dilated kernel extent {eff:,} overflows 32 bits")
    if padding == "SAME":
        return (size + stride - 1) // stride
    out = (size - eff + stride) // stride
    c.ensure(out >= 1, f"{what}: kernel extent {eff} with VALID padding is larger than the input ({size})")
    return out


def spatial(c: Check, x: Tensor, y: Tensor, kh: int, kw: int, dilation: bool = True) -> None:
    """Strides, dilations, padding kind and the output's H and W recomputed from the input."""
    sh, sw = c.int_option("stride_h"), c.int_option("stride_w")
    dh = c.int_option("dilation_h_factor") if dilation else 1
    dw = c.int_option("dilation_w_factor") if dilation else 1
    pad = c.o.get("padding")
    c.ensure(pad in PADDINGS, f"padding {pad!r} is not SAME or VALID")
    c.ensure(kh >= 1 and kw >= 1, f"kernel {kh}x{kw} is empty")
    oh = window_size(c, x.shape[1], kh, sh, dh, pad, "height")
    ow = window_size(c, x.shape[2], kw, sw, dw, pad, "width")
    want = (x.shape[0], oh, ow)
    c.ensure(
        y.shape[:3] == want,
        f"output {tensor_label(y)} is {list(y.shape)}, but the input gives {list(want)}xC",
    )


def conv_quant(
    c: Check, x: Tensor, w: Tensor, b: Tensor | None, y: Tensor, axis: int, cout: int, symmetric: bool = True
) -> None:
    q = w.quant
    c.ensure(len(q.scale) in (1, cout), f"filter has {len(q.scale)} scales for {cout} output channels")
    c.ensure(len(q.scale) == 1 or q.axis == axis, f"filter is quantised along dimension {q.axis}, not {axis}")
    zp = next((z for z in q.zero_point if z != 0), 0)
    c.ensure(
        not symmetric or zp == 0, f"filter zero point {zp} is not 0 (TFLite's int8 convolutions require it)"
    )
    if b is not None:
        c.ensure(
            b.dtype == "int32" and b.is_constant, f"bias {tensor_label(b)} must be a constant int32 tensor"
        )
        c.ensure(
            b.shape in ((cout,), (1, cout)), f"bias {tensor_label(b)} {list(b.shape)} has not {cout} values"
        )
    for s in (min(q.scale), max(q.scale)):
        c.multiplier(x.quant.scale[0] * s / y.quant.scale[0], "input x filter / output")


def broadcast(c: Check, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of shapes ``a`` and ``b`` (numpy's rules), failing when they do not broadcast."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    c.ensure(
        all(p == q or 1 in (p, q) for p, q in zip(a, b, strict=True)), f"shapes {a} and {b} do not broadcast"
    )
    return tuple(max(p, q) for p, q in zip(a, b, strict=True))


def axis_values(c: Check, i: int, rank: int) -> list[int]:
    """Constant axis operand ``i``: values in [-rank, rank), returned normalised."""
    data = c.const(c.inp(i), "axis")
    c.ensure(data.dtype.kind == "i", f"axis tensor is {data.dtype}, not an integer")
    vals = [int(v) for v in np.ravel(data)]
    c.ensure(bool(vals) and all(-rank <= v < rank for v in vals), f"axis {vals} is outside [-{rank}, {rank})")
    return [v % rank for v in vals]


RECORDED = "recorded"  # validate_graph's default: the op records' supported names


def validate_graph(
    graph: Graph,
    supported: frozenset[str] | str | None = RECORDED,
    float_ok: bool = False,
    rules: OpRules | None = None,
) -> None:
    """Raise a one-line HardtoolError for the first field TFLite's Prepare functions would refuse
    (or that our planner and kernels cannot take); return None for a deployable graph. A float
    model is refused unless ``float_ok`` (memory planning takes float models; codegen does not).
    ``supported=None`` checks the fields of every op and leaves listing the ops without a kernel
    to the caller (codegen lists them all at once, with why). The per-op rules (arity, checks,
    supported names) are ``rules``, by default the op records' (``hardtool.core.oprules``)."""
    rules = rules if rules is not None else op_rules()
    _check_types(graph, rules.supported if supported == RECORDED else supported, float_ok, rules.hints)
    for t in graph.tensors:
        _check_tensor(graph, t)
    _check_io(graph)
    _check_structure(graph, rules.arity)
    for op in graph.ops:
        check = rules.checks.get(op.name)
        if check is not None:
            check(Check(graph, op))
