"""TRANSPOSE (ranks 1-6), DEPTH_TO_SPACE and SPACE_TO_DEPTH: one hard_transpose_s8 call each,
with the permutation reduced on the host (size-1 axes dropped, adjacent axes merged). A channel
shuffle (RESHAPE -> 5-D TRANSPOSE -> RESHAPE) is therefore one 3-D transpose: the reshapes are
aliases in the plan, so the unit costs one copy."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check
from hardtool.kernels import layout_data as LD
from hardtool.ops import _data as D
from hardtool.ops.cgen import EmitContext, Layer, c_struct
from hardtool.ops.record import Kernel, OpRecord

KERNEL = "hard_transpose_s8"


def _perm(c: Check) -> list[int]:
    x = c.inp(0)
    perm = [int(v) for v in c.const(c.inp(1), "permutation").reshape(-1)]
    rank = len(x.shape)
    c.ensure(sorted(v % rank if -rank <= v < rank else -1 for v in perm) == list(range(rank)),
             f"permutation {perm} is not one of the {rank} axes")  # fmt: skip
    return [v % rank for v in perm]


def _prepare_transpose(c: Check) -> None:
    x, y = c.inp(0), c.out()
    c.same_type(x, y)
    c.ensure(len(x.shape) <= LD.MAX_TRANSPOSE_DIMS, f"rank {len(x.shape)} > {LD.MAX_TRANSPOSE_DIMS}")
    want = [x.shape[a] for a in _perm(c)]
    c.ensure(list(y.shape) == want, f"output is {list(y.shape)}, the permutation gives {want}")


def _prepare_block(c: Check) -> None:
    x, y = c.inp(0), c.out()
    c.same_type(x, y)
    c.rank(x, 4)
    b = c.int_option("block_size")
    n, h, w, ch = x.shape
    if c.op.name == "DEPTH_TO_SPACE":
        c.ensure(ch % (b * b) == 0, f"depth {ch} is not a multiple of block_size {b} squared")
        want = [n, h * b, w * b, ch // (b * b)]
    else:
        c.ensure(h % b == 0 and w % b == 0, f"height {h} and width {w} are not multiples of block_size {b}")
        want = [n, h // b, w // b, ch * b * b]
    c.ensure(list(y.shape) == want, f"output is {list(y.shape)}, block_size {b} gives {want}")


def plan(g: Graph, op: Op) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The reduced (input shape, permutation) the kernel runs."""
    x = g.tensors[op.inputs[0]]
    if op.name == "TRANSPOSE":
        rank = len(x.shape)
        return LD.canonical_transpose(x.shape, [v % rank for v in D.const_ints(g, op, 1, "permutation")])
    b = int(op.options.get("block_size", 0))
    return (LD.depth_to_space if op.name == "DEPTH_TO_SPACE" else LD.space_to_depth)(x.shape, b)


def _refuse(g: Graph, op: Op) -> None:
    D.one_byte(D.tensor(g, op, 0), D.tensor(g, op, 0, True))
    D.need(len(D.tensor(g, op, 0).shape) <= LD.MAX_TRANSPOSE_DIMS, f"rank > {LD.MAX_TRANSPOSE_DIMS}")
    try:
        plan(g, op)
    except ValueError as e:
        D.need(False, str(e))


def emit_transpose(e: EmitContext, layer: Layer, p: str, src: str, dst: str, shape, perm) -> None:
    """Declare the params of one reduced transpose and call it."""
    n = LD.MAX_TRANSPOSE_DIMS
    fields = {
        "rank": len(shape),
        "input_shape": D.shape_field(shape, n),
        "perm": [*perm, *[0] * (n - len(perm))],
    }
    layer.decls.append(c_struct("hard_transpose_params", f"{p}_p", fields))
    layer.kernel = KERNEL
    layer.call = f"st = {KERNEL}(&{p}_p, {src}, {dst});"


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    shape, perm = plan(e.graph, op)
    src = f"(const int8_t *)(const void *){e.operand(layer, p, op.inputs[0])}"
    emit_transpose(e, layer, p, src, e.ptr(op.outputs[0]), shape, perm)


def _choose(g: Graph, op: Op, dsp: bool) -> Kernel:
    shape, _ = plan(g, op)
    return Kernel(KERNEL, reason=f"a {len(shape)}-D permutation after merging axes")


RECORDS = [
    OpRecord(
        name,
        arity=arity,
        prepare=prepare,
        refuse=_refuse,
        choose=_choose,
        emit=_emit,
        tflm=tflm,
        summary=summary,
        hints=hints,
    )
    for name, arity, prepare, tflm, summary, hints in (
        (
            "TRANSPOSE",
            (2, 2, 1),
            _prepare_transpose,
            "AddTranspose",
            "any permutation, ranks 1-6 (one copy)",
            (),
        ),
        ("DEPTH_TO_SPACE", (1, 1, 1), _prepare_block, "AddDepthToSpace", "DCR order, as a 6-D transpose", ()),
        ("SPACE_TO_DEPTH", (1, 1, 1), _prepare_block, "AddSpaceToDepth", "as a 6-D transpose", ()),
    )
]
