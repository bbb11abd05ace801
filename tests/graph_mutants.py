"""Seeded mutants of real int8 .tflite files for the hardening fuzz tests: byte damage, and edits
made through the flatbuffer object API (``hardtool.core.graph.edit.rewrite``), the same model of
the file the graph reader uses: field values (strides, dilations, ranks, shapes, quantisation
blocks, zero points, scales, buffers, op and tensor indices, options, graph inputs/outputs) and
the structure (operator codes, options of the wrong type, op order and cycles, constant or
optional graph I/O, missing or extra subgraphs, dynamic / unranked / variable / sparse tensors,
quantisation arrays, shared buffers), alone or several at once. Every mutant is reproducible
from (source, seed)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hardtool.core.graph.edit import rewrite

I32 = (0, 1, -1, 2, 3, 7, 64, 255, 256, 4096, 65536, 2**31 - 1, -(2**31))
I8 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 100, 127, -1, -128)  # enum fields (padding, activations) are int8
BOOL_FIELDS = {
    "alignCorners",
    "halfPixelCenters",
    "potScaleInt16",
    "keepNumDims",
    "keepDims",
    "asymmetricQuantizeInputs",
}
ENUM_FIELDS = {"padding", "fusedActivationFunction", "quantizedBiasType", "weightsFormat", "outputType"}


def _ops_with(sg: Any, *fields: str) -> list[Any]:
    return [
        op for op in sg.operators if op.builtinOptions is not None and hasattr(op.builtinOptions, fields[0])
    ]


def _stride(model: Any, rng: random.Random) -> None:
    ops = _ops_with(model.subgraphs[0], "strideH")
    if not ops:
        return
    setattr(
        rng.choice(ops).builtinOptions,
        rng.choice(("strideH", "strideW")),
        rng.choice((0, -1, -(2**31), 2**31 - 1, 3, 100)),
    )


def _dilation(model: Any, rng: random.Random) -> None:
    ops = _ops_with(model.subgraphs[0], "dilationHFactor")
    field = rng.choice(("dilationHFactor", "dilationWFactor"))
    if not ops:
        return
    setattr(rng.choice(ops).builtinOptions, field, rng.choice((0, -1, -(2**31), 2**31 - 1, 2, 64, 4096)))


def _tensor(model: Any, rng: random.Random, activations: bool | None = None) -> Any:
    sg = model.subgraphs[0]
    ts = [
        t for t in sg.tensors if activations is None or (model.buffers[t.buffer].data is None) == activations
    ]
    return rng.choice(ts or sg.tensors)


def _rank(model: Any, rng: random.Random) -> None:
    t = _tensor(model, rng)
    s = [int(d) for d in (t.shape if t.shape is not None else [])]
    m = rng.randrange(3)
    if m == 0 and s:
        s.pop(rng.randrange(len(s)))
    elif m == 1:
        s.insert(rng.randrange(len(s) + 1), rng.choice((1, 2, 3)))
    else:
        s = []
    t.shape = s


def _shape_dim(model: Any, rng: random.Random) -> None:
    t = _tensor(model, rng, activations=rng.random() < 0.7)
    s = [int(d) for d in (t.shape if t.shape is not None else [])] or [1]
    s[rng.randrange(len(s))] = rng.choice((0, 1, 2, 3, 1 << 20, 2**31 - 1, -1, -(2**31)))
    t.shape = s


def _quantised(model: Any, rng: random.Random) -> Any:
    ts = [
        t
        for t in model.subgraphs[0].tensors
        if t.quantization is not None and t.quantization.scale is not None
    ]
    return rng.choice(ts).quantization


def _quant_block(model: Any, rng: random.Random) -> None:
    q = _quantised(model, rng)
    m = rng.randrange(4)
    n = len(q.scale)
    if m == 0:
        q.zeroPoint = [0] * rng.choice((0, 2, 3, n + 1, 4096))
    elif m == 1:
        q.scale = [float(q.scale[0])] * rng.choice((2, 3, n + 1, 4096))
    elif m == 2:
        q.scale, q.zeroPoint = [float(q.scale[0])] * 4096, [0] * 4096
    else:
        q.quantizedDimension = rng.choice((1, 2, 3, 4, 7, -1, 2**31 - 1))


def _zero_point(model: Any, rng: random.Random) -> None:
    q = _quantised(model, rng)
    v = rng.choice((-(2**31), 2**31 - 1, 128, -129, 255, 256, 1000, 1, -1))
    zp = [int(z) for z in (q.zeroPoint if q.zeroPoint is not None else [0] * len(q.scale))]
    zp[rng.randrange(len(zp))] = v
    q.zeroPoint = zp


def _scale(model: Any, rng: random.Random) -> None:
    q = _quantised(model, rng)
    s = [float(x) for x in q.scale]
    s[rng.randrange(len(s))] = rng.choice((0.0, -1.0, float("nan"), float("inf"), 1e-45, 1e38, 1e-30))
    q.scale = s


def _buffer(model: Any, rng: random.Random) -> None:
    t = _tensor(model, rng)
    m = rng.randrange(4)
    if m == 0:
        t.buffer = rng.choice((0, rng.randrange(len(model.buffers)), len(model.buffers) + 3))
    elif m == 1:
        b = model.buffers[t.buffer]
        if b.data is not None and len(b.data):
            b.data = b.data[: rng.randrange(len(b.data))]
    elif m == 2:
        b = model.buffers[t.buffer]
        b.data = list(b.data if b.data is not None else []) + [0] * rng.choice((1, 4, 64))
    else:
        t.type = rng.randrange(18)


def _op_index(model: Any, rng: random.Random) -> None:
    op = rng.choice(model.subgraphs[0].operators)
    op.opcodeIndex = rng.choice((rng.randrange(len(model.operatorCodes)), len(model.operatorCodes), 255))


def _tensor_index(model: Any, rng: random.Random) -> None:
    sg = model.subgraphs[0]
    op = rng.choice(sg.operators)
    which = "inputs" if rng.random() < 0.6 else "outputs"
    v = [int(x) for x in getattr(op, which)]
    m = rng.randrange(4)
    if m == 0 and v:
        v[rng.randrange(len(v))] = rng.choice(
            (-1, 0, len(sg.tensors) - 1, len(sg.tensors), rng.randrange(len(sg.tensors)))
        )
    elif m == 1 and v:
        v.pop()
    elif m == 2:
        v.append(rng.randrange(len(sg.tensors)))
    else:
        v = []
    setattr(op, which, v)


def _option(model: Any, rng: random.Random) -> None:
    ops = [op for op in model.subgraphs[0].operators if op.builtinOptions is not None]
    if not ops:
        return
    o = rng.choice(ops).builtinOptions
    fields = [k for k, v in vars(o).items() if isinstance(v, int | bool)]
    if not fields:
        return
    f = rng.choice(fields)
    if f in BOOL_FIELDS or isinstance(getattr(o, f), bool):
        setattr(o, f, not getattr(o, f))
    else:
        setattr(o, f, rng.choice(I8 if f in ENUM_FIELDS else I32))


def _io(model: Any, rng: random.Random) -> None:
    sg = model.subgraphs[0]
    n = len(sg.tensors)
    if rng.random() < 0.5:
        sg.inputs = rng.choice(([], [rng.randrange(n)], [int(x) for x in sg.inputs] * 2))
    else:
        sg.outputs = rng.choice(([], [rng.randrange(n)], [int(x) for x in sg.outputs] + [rng.randrange(n)]))


# ---- the graph's structure: op codes, op order, cycles, subgraphs, tensor kinds ----------------

BUILTINS = (
    0,
    1,
    2,
    3,
    4,
    9,
    14,
    17,
    18,
    22,
    25,
    28,
    32,
    34,
    39,
    40,
    41,
    49,
    56,
    74,
    83,
    97,
    114,
    127,
    150,
    200,
)


def _op_code(model: Any, rng: random.Random) -> None:
    """An operator code says another builtin (options and arity then disagree), a custom op, or
    an unknown version; the deprecated byte and the 32-bit code may also disagree."""
    c = rng.choice(model.operatorCodes)
    m = rng.randrange(4)
    if m == 0:
        c.builtinCode = rng.choice(BUILTINS)
        c.deprecatedBuiltinCode = min(c.builtinCode, 127)
    elif m == 1:
        c.deprecatedBuiltinCode = rng.choice((0, 3, 4, 17, 22, 127))
    elif m == 2:
        c.builtinCode, c.deprecatedBuiltinCode, c.customCode = (
            32,
            32,
            rng.choice(("Fuzz", "", "TFLite_Detection_PostProcess")),
        )
    else:
        c.version = rng.choice((0, -1, 99, 2**31 - 1))


def _options_type(model: Any, rng: random.Random) -> None:
    """An op's options of another op's type, or none at all where its type needs them."""
    ops = model.subgraphs[0].operators
    op = rng.choice(ops)
    if rng.random() < 0.5:
        other = rng.choice(ops)
        op.builtinOptionsType, op.builtinOptions = other.builtinOptionsType, other.builtinOptions
    else:
        op.builtinOptions = None
        op.builtinOptionsType = rng.choice((0, op.builtinOptionsType))


def _op_order(model: Any, rng: random.Random) -> None:
    """Ops swapped (a tensor read before it is written), duplicated (two writers), or removed (a
    tensor nobody writes)."""
    ops = model.subgraphs[0].operators
    i, j = rng.randrange(len(ops)), rng.randrange(len(ops))
    m = rng.randrange(3)
    if m == 0:
        ops[i], ops[j] = ops[j], ops[i]
    elif m == 1:
        ops.insert(j, ops[i])
    elif len(ops) > 1:
        ops.pop(i)


def _cycle(model: Any, rng: random.Random) -> None:
    """An op reads the output of itself or of an op after it: a cycle in the graph."""
    ops = model.subgraphs[0].operators
    i = rng.randrange(len(ops))
    later = rng.choice(ops[i:])
    if not len(ops[i].inputs) or not len(later.outputs):
        return
    v = [int(x) for x in ops[i].inputs]
    v[rng.randrange(len(v))] = int(later.outputs[0])
    ops[i].inputs = v


def _graph_io(model: Any, rng: random.Random) -> None:
    """Graph inputs and outputs that are constants, each other, optional (-1), or written twice."""
    sg = model.subgraphs[0]
    consts = [i for i, t in enumerate(sg.tensors) if model.buffers[t.buffer].data is not None]
    m = rng.randrange(5)
    if m == 0 and consts:
        sg.inputs = [rng.choice(consts)]
    elif m == 1 and consts:
        sg.outputs = [int(x) for x in sg.outputs] + [rng.choice(consts)]
    elif m == 2:
        sg.outputs = [int(x) for x in sg.inputs]
    elif m == 3:
        sg.inputs = [int(x) for x in sg.inputs] + [-1]
    else:
        sg.inputs = [int(x) for x in sg.inputs] + [int(sg.outputs[0])]


def _subgraphs(model: Any, rng: random.Random) -> None:
    """No subgraph, an empty one first, or a second copy (control flow the runtime does not have)."""
    import copy

    m = rng.randrange(3)
    if m == 0:
        model.subgraphs = []
    elif m == 1:
        empty = copy.copy(model.subgraphs[0])
        empty.operators, empty.tensors, empty.inputs, empty.outputs = [], [], [], []
        model.subgraphs.insert(0, empty)
    else:
        model.subgraphs.append(copy.deepcopy(model.subgraphs[0]))


def _tensor_kind(model: Any, rng: random.Random) -> None:
    """A dynamic shape signature, an unranked or variable tensor, sparsity, or another int type."""
    s = schema_module()
    t = _tensor(model, rng)
    m = rng.randrange(5)
    if m == 0:
        shape = [int(d) for d in (t.shape if t.shape is not None else [])] or [1]
        shape[rng.randrange(len(shape))] = -1
        t.shapeSignature = shape
    elif m == 1:
        t.hasRank = False
        t.shape = None
    elif m == 2:
        t.isVariable = True
    elif m == 3:
        t.sparsity = s.SparsityParametersT()
        t.sparsity.traversalOrder = list(range(len(t.shape if t.shape is not None else [])))
    else:
        t.type = rng.choice((0, 2, 3, 7, 9, 10, 16))  # float32, int32, uint8, int16, int8, float64, uint32


def _quant_arrays(model: Any, rng: random.Random) -> None:
    """The quantisation table's arrays: min/max without scales, scales without zero points (or the
    reverse), per-channel along an axis of another length, no table on an int8 tensor."""
    s = schema_module()
    t = _tensor(model, rng)
    q = t.quantization
    m = rng.randrange(5)
    if m == 0:
        t.quantization = None
    elif m == 1:
        t.quantization = s.QuantizationParametersT()
        t.quantization.min, t.quantization.max = [-1.0], [1.0]
    elif m == 2 and q is not None:
        q.zeroPoint = None
    elif m == 3 and q is not None:
        q.scale = None
    elif q is not None and q.scale is not None:
        shape = [int(d) for d in (t.shape if t.shape is not None else [])] or [1]
        axis = rng.randrange(len(shape))
        q.quantizedDimension = axis
        n = rng.choice((max(shape[axis] - 1, 0), shape[axis] + 1, max(shape[axis], 1)))
        q.scale, q.zeroPoint = [float(q.scale[0]) if len(q.scale) else 1.0] * n, [0] * n


def _shared_buffer(model: Any, rng: random.Random) -> None:
    """Two tensors on one buffer: two constants, an activation on a constant's bytes, or bytes in
    buffer 0 (which means 'no data')."""
    sg = model.subgraphs[0]
    consts = [t for t in sg.tensors if model.buffers[t.buffer].data is not None]
    acts = [t for t in sg.tensors if model.buffers[t.buffer].data is None]
    m = rng.randrange(3)
    if m == 0 and len(consts) > 1:
        rng.choice(consts).buffer = rng.choice(consts).buffer
    elif m == 1 and consts and acts:
        rng.choice(acts).buffer = rng.choice(consts).buffer
    else:
        model.buffers[0].data = [1, 2, 3, 4]


def schema_module() -> Any:
    from hardtool.core.graph.reader import schema

    return schema()


FIELD_MUTATORS: dict[str, Callable[[Any, random.Random], None]] = {
    "stride": _stride,
    "dilation": _dilation,
    "rank": _rank,
    "shape_dim": _shape_dim,
    "quant_block": _quant_block,
    "zero_point": _zero_point,
    "scale": _scale,
    "buffer": _buffer,
    "op_index": _op_index,
    "tensor_index": _tensor_index,
    "option": _option,
    "io": _io,
    "op_code": _op_code,
    "options_type": _options_type,
    "op_order": _op_order,
    "cycle": _cycle,
    "graph_io": _graph_io,
    "subgraphs": _subgraphs,
    "tensor_kind": _tensor_kind,
    "quant_arrays": _quant_arrays,
    "shared_buffer": _shared_buffer,
}


def _several(model: Any, rng: random.Random) -> None:
    """Two to four edits of different kinds in one model."""
    for f in rng.sample(sorted(FIELD_MUTATORS), rng.randint(2, 4)):
        if model.subgraphs and model.subgraphs[0].operators and model.subgraphs[0].tensors:
            FIELD_MUTATORS[f](model, rng)


FIELD_MUTATORS["several"] = _several
KINDS = ("bytes", *FIELD_MUTATORS)


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    """1-8 damaged bytes or 4-byte words anywhere past the header."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(8, len(b) - 4)
        m = rng.random()
        if m < 0.5:
            b[i] ^= 1 << rng.randrange(8)
        elif m < 0.8:
            b[i] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        else:
            word = rng.choice((0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, rng.randrange(1 << 32)))
            b[i : i + 4] = word.to_bytes(4, "little")
    return bytes(b)


def mutant(data: bytes, seed: int, kind: str | None = None) -> tuple[str, bytes]:
    """(kind, mutated bytes) for ``seed``; ``kind`` None picks one (a quarter of them byte damage)."""
    rng = random.Random(seed)
    kind = kind or ("bytes" if rng.random() < 0.25 else rng.choice(list(FIELD_MUTATORS)))
    if kind == "bytes":
        return kind, flip_bytes(data, rng)
    return kind, rewrite(data, lambda model: FIELD_MUTATORS[kind](model, rng))
