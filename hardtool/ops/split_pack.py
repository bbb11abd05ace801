"""SPLIT, SPLIT_V, PACK and UNPACK: byte copies of [outer, axis, inner] blocks, one
hard_copy_rows_s8 call per output (SPLIT / SPLIT_V / UNPACK) or per input (PACK). SPLIT, SPLIT_V
and UNPACK have several outputs: the planner gives each its own buffer, born at the op."""

from __future__ import annotations

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.graph.validate import Check
from hardtool.kernels import layout_data as LD
from hardtool.ops import _data as D
from hardtool.ops.cgen import EmitContext, Layer, c_struct
from hardtool.ops.record import Kernel, OpRecord

KERNEL = "hard_copy_rows_s8"
_DATA = {"SPLIT": 1, "SPLIT_V": 0, "PACK": 0, "UNPACK": 0}  # the data input of each op


def _axis(g: Graph, op: Op, rank: int) -> int:
    if op.name == "SPLIT":
        axis = D.const_ints(g, op, 0, "split axis")[0]
    elif op.name == "SPLIT_V":
        axis = D.const_ints(g, op, 2, "split axis")[0]
    else:
        axis = int(op.options.get("axis", 0))
    D.need(-rank <= axis < rank, f"axis {axis} is outside [-{rank}, {rank})")
    return axis % rank


def copies(g: Graph, op: Op) -> list[LD.RowCopy]:
    """The row copies of the op, in output (SPLIT / SPLIT_V / UNPACK) or input (PACK) order."""
    x = D.tensor(g, op, _DATA[op.name])
    if op.name == "PACK":
        return LD.pack_copies(x.shape, _axis(g, op, len(x.shape) + 1), len(op.inputs))
    axis = _axis(g, op, len(x.shape))
    if op.name == "UNPACK":
        return LD.unpack_copies(x.shape, axis)
    if op.name == "SPLIT":
        n = len(op.outputs)
        D.need(x.shape[axis] % n == 0, f"dimension {x.shape[axis]} does not split into {n} equal parts")
        sizes = [x.shape[axis] // n] * n
    else:
        sizes = LD.split_v_sizes(x.shape[axis], D.const_ints(g, op, 1, "split sizes"))
    return LD.split_copies(x.shape, axis, sizes)


def _prepare(c: Check) -> None:
    ins = [c.g.tensors[t] for t in c.op.inputs]
    data = ins[_DATA[c.op.name]] if c.op.name != "PACK" else ins[0]
    for y in (c.g.tensors[t] for t in c.op.outputs):
        c.same_type(data, y)
    if c.op.name == "PACK":
        y = c.out()
        for x in ins:
            c.same_shape(x, ins[0])
            # TFLite's Pack Prepare: int8 inputs share the output's scale and zero point
            c.ensure(
                x.quant is None or D.same_quant(x, y), f"input '{x.name}' is quantised unlike the output"
            )
    try:
        rows = copies(c.g, c.op)
    except ValueError as e:
        c.fail(str(e))
    n = len(c.op.inputs) if c.op.name == "PACK" else len(c.op.outputs)
    c.ensure(len(rows) == n, f"{n} {'inputs' if c.op.name == 'PACK' else 'outputs'} for {len(rows)} parts")


def _refuse(g: Graph, op: Op) -> None:
    ts = [D.tensor(g, op, _DATA[op.name])] + [g.tensors[t] for t in op.outputs]
    if op.name == "PACK":
        ts = [g.tensors[t] for t in op.inputs] + [D.tensor(g, op, 0, True)]
    D.one_byte(*ts)
    try:
        copies(g, op)
    except ValueError as e:
        D.need(False, str(e))


def _emit(e: EmitContext, op: Op, layer: Layer, p: str) -> None:
    rows = copies(e.graph, op)
    pack = op.name == "PACK"
    calls = []
    for k, c in enumerate(rows):
        fields = {
            "rows": c.rows,
            "row_size": c.row_size,
            "input_stride": c.input_stride,
            "output_stride": c.output_stride,
        }
        layer.decls.append(c_struct("hard_copy_rows_params", f"{p}_p{k}", fields))
        x = op.inputs[k] if pack else op.inputs[_DATA[op.name]]
        y = op.outputs[0] if pack else op.outputs[k]
        src = f"(const int8_t *)(const void *){e.operand(layer, p, x)} + {c.input_offset}"
        calls.append(f"if (st == HARD_OK) st = {KERNEL}(&{p}_p{k}, {src}, {e.ptr(y)} + {c.output_offset});")
    layer.kernel = KERNEL
    layer.call = "\n".join(calls)


RECORDS = [
    OpRecord(
        name,
        arity=arity,
        prepare=_prepare,
        refuse=_refuse,
        choose=lambda g, op, dsp: Kernel(KERNEL, reason="row copies"),
        emit=_emit,
        tflm=tflm,
        summary=summary,
    )
    for name, arity, tflm, summary in (
        ("SPLIT", (2, 2, None), "AddSplit", "equal parts along a constant axis"),
        ("SPLIT_V", (3, 3, None), "AddSplitV", "constant sizes along a constant axis"),
        ("PACK", (1, None, 1), "AddPack", "stack along a new axis"),
        ("UNPACK", (1, 1, None), "AddUnpack", "unstack along an axis"),
    )
]
