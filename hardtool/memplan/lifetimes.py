"""Buffers and their lifetimes for one execution order, including the in-place sharing that is
legal for int8 kernels (and for the float kernels a float32 model is planned for):

- reshape aliases (RESHAPE / SQUEEZE / EXPAND_DIMS): same bytes, new shape;
- CONCATENATION in place: an input is produced directly into its slice of the output when it
  has the output's scale and zero point and no other reader (the concat copies only the others). Along an outer axis the slice is
  contiguous (any kernel can write it); along the channel axis it is strided, which needs kernels
  that write with an output stride, so it is opt-in (``strided_concat``);
- elementwise ops (ADD, RELU, QUANTIZE int8→int8, ...) writing over an input of the same shape that
  dies at that op.

Tensors that share memory form a *group*: one placed block (the root tensor's size) that lives
from the first member's birth to the last member's death."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hardtool.core.graph.ir import Graph, Tensor
from hardtool.core.graph.ops import ELEMENTWISE_BINARY, ELEMENTWISE_UNARY, RESHAPES

# element types whose elementwise ops may write over their input (float32: planned float models)
INPLACE_TYPES = ("int8", "uint8", "float32")


@dataclass
class Alias:
    """Tensor ``tensor`` lives inside ``root`` at byte ``offset``; ``view`` describes a strided slice."""

    root: int
    offset: int
    reason: str  # 'reshape' | 'concat' | 'inplace'
    view: dict | None = None


@dataclass
class Groups:
    """Static sharing (independent of the order): reshape aliases and in-place concatenation."""

    alias: dict[int, Alias] = field(default_factory=dict)

    def root(self, t: int) -> int:
        return self.alias[t].root if t in self.alias else t

    def offset(self, t: int) -> int:
        return self.alias[t].offset if t in self.alias else 0


def _concat_slices(g: Graph, op) -> list[tuple[int, int, dict | None]] | None:
    """(input, byte offset, view) for each input of a concat, or None if it cannot be done in place."""
    out = g.tensors[op.outputs[0]]
    axis = int(op.options.get("axis", 0)) % len(out.shape)
    outer = math.prod(out.shape[:axis])
    inner = math.prod(out.shape[axis + 1 :]) * out.itemsize
    res, start = [], 0
    for t in op.inputs:
        x = g.tensors[t]
        view = (
            None
            if outer == 1
            else {
                "axis": axis,
                "start": start,
                "extent": x.shape[axis],
                "outer": outer,
                "row_bytes": out.shape[axis] * inner,
            }
        )
        res.append((t, start * inner, view))
        start += x.shape[axis]
    return res


def same_values(x: Tensor, y: Tensor) -> bool:
    """The bytes of ``x`` mean the same values in ``y``: equal type and quantisation (float32
    tensors carry none), so a concat can take its input's bytes as they are."""
    if x.dtype != y.dtype:
        return False
    if x.quant is None or y.quant is None:
        return x.quant is None and y.quant is None and x.dtype == "float32"
    return x.quant.same_as(y.quant)


def static_groups(g: Graph, strided_concat: bool = False) -> Groups:
    """Reshape aliases and in-place concatenations that are legal whatever the order."""
    gr = Groups()
    producers, consumers = g.producers(), g.consumers()
    io = set(g.inputs) | set(g.outputs)
    for op in g.ops:
        if op.name != "CONCATENATION" or len(op.inputs) < 2:
            continue
        out = g.tensors[op.outputs[0]]
        if op.options.get("fused_activation_function", "NONE") != "NONE":
            continue
        slices = _concat_slices(g, op)
        if slices is None or (slices[0][2] is not None and not strided_concat):
            continue
        dup = {t for t in op.inputs if op.inputs.count(t) > 1}

        def eligible(t: int, op=op, out=out, dup=dup) -> bool:
            x = g.tensors[t]
            return (
                t in producers
                and t not in io
                and t not in dup
                and not x.is_constant
                and consumers.get(t) == [op.index]
                and same_values(x, out)
                and g.ops[producers[t]].name not in RESHAPES | {"CONCATENATION"}
                and len(g.ops[producers[t]].outputs) == 1
            )

        # inputs that qualify are produced in their slice; the concat copies only the others
        for t, off, view in slices:
            if eligible(t):
                gr.alias[t] = Alias(op.outputs[0], off, "concat", view)
    # reshape outputs alias their input's root (chains collapse onto one root)
    for op in g.ops:
        if op.name in RESHAPES and op.outputs[0] not in gr.alias:
            x, y = op.inputs[0], op.outputs[0]
            if g.tensors[x].is_constant or g.tensors[x].nbytes != g.tensors[y].nbytes:
                continue
            if x in gr.alias and gr.alias[x].view is not None:
                continue  # a strided slice has no contiguous bytes to re-view
            gr.alias[y] = Alias(gr.root(x), gr.offset(x), "reshape")
    return gr


def inplace_candidate(g: Graph, op, gr: Groups) -> list[int]:
    """Inputs whose memory the output of this elementwise op may take over (if they die here)."""
    if op.name not in ELEMENTWISE_UNARY | ELEMENTWISE_BINARY or len(op.outputs) != 1:
        return []
    y = g.tensors[op.outputs[0]]
    if y.index in gr.alias or y.dtype not in INPLACE_TYPES:
        return []
    n_data = 1 if op.name in ELEMENTWISE_UNARY else 2
    res = []
    for t in op.inputs[:n_data]:
        x = g.tensors[t] if t >= 0 else None
        if x is None or x.is_constant or x.shape != y.shape or x.itemsize != y.itemsize:
            continue
        if t in gr.alias and gr.alias[t].view is not None:
            continue
        res.append(t)
    return res


@dataclass
class Unit:
    """A static group as the scheduler sees it: one block of ``size`` bytes."""

    root: int
    members: list[int]
    size: int
    producers: int  # bitmask of ops writing a member
    consumers: int  # bitmask of ops reading a member
    is_input: bool
    is_output: bool


def units(g: Graph, gr: Groups) -> tuple[list[Unit], dict[int, int]]:
    """Static groups as scheduler units, and tensor index -> unit index."""
    members: dict[int, list[int]] = {}
    for t in g.activations():
        members.setdefault(gr.root(t), []).append(t)
    producers, consumers = g.producers(), g.consumers()
    res, of = [], {}
    for root, ms in members.items():
        p = c = 0
        for m in ms:
            if m in producers:
                p |= 1 << producers[m]
            for o in consumers.get(m, []):
                c |= 1 << o
        u = Unit(
            root,
            ms,
            g.tensors[root].nbytes,
            p,
            c,
            any(m in g.inputs for m in ms),
            any(m in g.outputs for m in ms),
        )
        for m in ms:
            of[m] = len(res)
        res.append(u)
    return res, of


@dataclass
class Block:
    """One placed block for a given order: a root tensor and everything sharing its memory,
    or a kernel scratch buffer (``tensor`` None, ``op`` set)."""

    name: str
    size: int
    first: int
    last: int
    tensor: int | None = None
    op: int | None = None
    members: dict[int, Alias] = field(default_factory=dict)  # tensor -> its place inside this block
    offset: int = -1


def tensor_lifetimes(g: Graph, order: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """(first step, last step) of every activation tensor: inputs from step 0, outputs to the end."""
    step = {op: s for s, op in enumerate(order)}
    first: dict[int, int] = {t: 0 for t in g.inputs}
    last: dict[int, int] = {}
    for op_i in order:
        op = g.ops[op_i]
        for t in (*op.inputs, *op.outputs):
            if t >= 0 and not g.tensors[t].is_constant:
                first.setdefault(t, step[op_i])
                last[t] = max(last.get(t, step[op_i]), step[op_i])
    for t in g.outputs:
        last[t] = len(order) - 1
    for t in g.activations():  # never read and never written (a lone input): lives at step 0
        first.setdefault(t, 0)
        last.setdefault(t, first[t])
    return first, last


def blocks_for_order(g: Graph, order: list[int], gr: Groups, scratch: dict[int, int]) -> list[Block]:
    """Blocks with lifetimes (in steps of ``order``), after in-place decisions for this order."""
    first, last = tensor_lifetimes(g, order)
    step = {op: s for s, op in enumerate(order)}
    alias = dict(gr.alias)

    def root(t: int) -> int:
        return alias[t].root if t in alias else t

    members: dict[int, list[int]] = {}
    for t in g.activations():
        members.setdefault(root(t), []).append(t)
    for op_i in order:
        op = g.ops[op_i]
        cands = inplace_candidate(g, op, gr)
        if not cands:
            continue
        y = op.outputs[0]
        if root(y) != y:
            continue
        for x in cands:
            rx = root(x)
            if rx == y or max(last[m] for m in members[rx]) != step[op_i]:
                continue
            if any(m in g.outputs for m in members[rx]):
                continue
            base = alias[x].offset if x in alias else 0
            for m in members.pop(y):
                inner = alias[m].offset if m in alias else 0
                alias[m] = Alias(
                    rx,
                    base + inner,
                    "inplace" if m == y else alias[m].reason,
                    alias[m].view if m in alias else None,
                )
                members[rx].append(m)
            break
    blocks = []
    for r, ms in members.items():
        inside = {m: alias.get(m, Alias(r, 0, "root")) for m in ms}
        blocks.append(
            Block(
                g.tensors[r].name or f"t{r}",
                g.tensors[r].nbytes,
                min(first[m] for m in ms),
                max(last[m] for m in ms),
                tensor=r,
                members=inside,
            )
        )
    for op_i, size in scratch.items():
        if size > 0:
            blocks.append(Block(f"scratch:{g.ops[op_i].name}#{op_i}", size, step[op_i], step[op_i], op=op_i))
    blocks.sort(key=lambda b: (b.first, b.last, b.tensor if b.tensor is not None else -1))
    return blocks


def live_profile(blocks: list[Block], n_steps: int) -> list[int]:
    """Bytes that must be live at each step: a lower bound on any placement of these blocks."""
    prof = [0] * max(n_steps, 1)
    for b in blocks:
        for s in range(b.first, b.last + 1):
            prof[s] += b.size
    return prof
