"""What an op's emitter works with: C text helpers (constant arrays, identifiers, literals,
params structs), the ``Layer`` an emitter fills in and the ``EmitContext`` it reads (the graph and
where the plan put each buffer). Below codegen so that an op's record can hold its emitter."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.kernels import quant as Q

C_TYPES = {
    "bool": "uint8_t",  # TFLite's bool: one byte, 0 or 1
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "uint32": "uint32_t",
    "int64": "int64_t",
    "float32": "float",
}


def c_ident(name: str, prefix: str = "") -> str:
    """A valid, readable C identifier from a tensor / op name."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_")
    s = re.sub(r"_+", "_", s)[:48] or "t"
    if s[0].isdigit():
        s = "_" + s
    return prefix + s


def c_array(
    name: str, data: np.ndarray, align: int = 8, per_line: int = 16, storage: str = "static const"
) -> str:
    """``storage T name[N] __attribute__((aligned(align))) = {...};`` for an integer array."""
    data = np.asarray(data)
    if data.dtype.kind not in "iub":
        raise TypeError(f"c_array takes integer arrays, not {data.dtype}")
    ctype = C_TYPES[data.dtype.name]
    flat = data.ravel()
    rows = []
    for i in range(0, len(flat), per_line):
        rows.append("  " + ", ".join(str(int(v)) for v in flat[i : i + per_line]) + ",")
    body = "\n".join(rows) if rows else "  0"
    n = max(1, len(flat))
    return f"{storage} {ctype} {name}[{n}] __attribute__((aligned({align}))) = {{\n{body}\n}};\n"


def c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_float(v: float) -> str:
    r = repr(float(v))
    if "e" not in r and "." not in r and "inf" not in r and "nan" not in r:
        r += ".0"
    return r + "f"


def c_init(value: object) -> str:
    """A C initialiser: dicts become designated initialisers ``{.field = ...}`` (so a struct's
    field order never matters), lists and tuples positional arrays, everything else its text."""
    if isinstance(value, dict):
        return "{" + ", ".join(f".{k} = {c_init(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(c_init(v) for v in value) + "}"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def c_struct(ctype: str, name: str, fields: dict, storage: str = "static const") -> str:
    """``storage ctype name = {.field = value, ...};``"""
    return f"{storage} {ctype} {name} = {c_init(fields)};"


def c_dims(shape: tuple[int, ...] | list[int]) -> dict:
    """``hard_dims`` fields of a tensor shape (rank < 4: the missing dims are 1, after the batch)."""
    s = [int(v) for v in shape]
    while len(s) < 4:
        s.insert(1, 1)
    n, h, w, c = s
    return {"n": n, "h": h, "w": w, "c": c}


@dataclass
class Layer:
    index: int  # position in execution order
    op: int  # op index in the lowered graph
    name: str  # for profiles: "CONV_2D#3"
    decls: list[str] = field(default_factory=list)
    call: str = ""
    macs: int = 0
    kernel: str = ""  # the C function that runs it (its record's choice); "" for no code (an alias)
    layout: str | None = None  # hardtool.kernels.weights function for its filter (the choice's)
    elements: int = 0  # output elements (the unit of per-element rates for ops without MACs)
    path: str = ""  # why this kernel (the record's choice, ``Kernel.reason``)
    stage: bool = False  # run band by band by the first stage (its call is hard_stage_<index>)
    fusion: str = ""  # a residual ADD fused into it, or why an ADD runs alone (core/graph/fuse)
    tile_pixels: int = 0  # the q15-filter GEMMs' output pixels per tile (0: the kernel's default)
    tuned: dict | None = None  # what codegen --tune measured and chose (Kernel.tuned)


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
    dsp: bool = True  # the target has the DSP extension (the kernel choice may use it)

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


def channel_consts(
    layer: Layer, p: str, x: Tensor, w: Tensor, y: Tensor, b: Tensor | None, data: np.ndarray | None = None
) -> str:
    """Declare a convolution's filter (``data``, default ``w`` as int8), per-channel multipliers
    and shifts (per-tensor filter scales repeated) and bias; returns the bias expression."""
    cout = y.shape[-1]
    fscales = list(w.quant.scale) if len(w.quant.scale) > 1 else [w.quant.scale[0]] * cout
    mult, shift = Q.conv_channel_params(scale(x), fscales, scale(y))
    layer.decls += [
        c_array(f"{p}_w", w.data.astype(np.int8) if data is None else data),
        c_array(f"{p}_mult", np.asarray(mult, np.int32)),
        c_array(f"{p}_shift", np.asarray(shift, np.int32)),
    ]
    if b is None:
        return "NULL"
    layer.decls.append(c_array(f"{p}_b", b.data.astype(np.int32).reshape(-1)))
    return f"{p}_b"


def padding(op: Op) -> dict:
    t, b, l_, r = op.options["explicit_padding"]
    return {"top": t, "bottom": b, "left": l_, "right": r}


def tile(op: Op, key: str) -> dict:
    """``hard_tile`` of stride (``key`` = 'stride') or dilation ('dilation')."""
    if key == "stride":
        return {"h": op.options.get("stride_h", 1), "w": op.options.get("stride_w", 1)}
    return {"h": op.options.get("dilation_h_factor", 1), "w": op.options.get("dilation_w_factor", 1)}


def fused_add_decls(
    layer: Layer, p: str, ap: Q.AddParams, first: bool, residual: str, act: dict, output: str | None = None
) -> None:
    """Declare ``hard_fused_add`` ``{p}_add`` and its inputs' table ``{p}_addtab`` (2 KB of flash),
    read alike by the table ADD and by a convolution's fused ADD epilogue (``output``: where the
    sums go when the convolution's own output is kept)."""
    layer.decls.append(c_array(f"{p}_addtab", Q.fused_add_table(ap, first), align=4))
    fields = {
        "residual": residual,
        "table": f"{p}_addtab",
        "output_multiplier": ap.output_multiplier,
        "output_shift": ap.output_shift,
        "output_offset": ap.output_offset,
        "activation": act,
    } | ({"output": output} if output else {})
    layer.decls.append(c_struct("hard_fused_add", f"{p}_add", fields))
