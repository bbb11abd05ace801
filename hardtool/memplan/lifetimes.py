"""Buffers and their lifetimes for one execution order, including the sharing that is legal for
hardtool's int8 kernels (and, for elementwise ops and concatenations, for the float kernels a
float32 model is planned for):

- reshape aliases (RESHAPE / SQUEEZE / EXPAND_DIMS): same bytes, new shape;
- CONCATENATION in place: an input is produced directly into its slice of the output when it
  has the output's scale and zero point and no other reader (the concat copies only the others).
  Along an outer axis the slice is contiguous (any kernel can write it); along the channel axis
  it is strided, which the kernels that take an ``output_stride`` write (``strided_concat``);
- in place (``inplace``): an elementwise op (ADD, RELU, QUANTIZE int8→int8, ...) writing over an
  input of the same shape that dies at that op, and a convolution, depthwise convolution or
  pooling writing over its input that dies there, its output starting
  ``hardtool.ops.tables.inplace_gap`` bytes before the input;
- relocated concatenation inputs (with ``inplace``): an input the concatenation copies (it could
  not be produced in its slice) lies at the top of the output's bytes and is copied into its slice
  just before the first producer of another slice writes (``relocated_at``), so it never
  coexists with the output; the copy runs in ascending order, every write landing at or below
  the bytes it reads;
- the first stage (``hardtool.memplan.stage``): the streamed input's window and one band of each
  intermediate tensor instead of whole tensors.

Tensors that share memory form a *group*: one rigid block whose members keep their own offsets
inside it and their own lifetimes, so the block occupies, at each step, only what its live
members cover."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hardtool.core.graph.ir import Graph, Tensor
from hardtool.kernels.memory import ALIGN
from hardtool.memplan.stage import Stage
from hardtool.ops.tables import ALIASING_OPS, CONCAT_OPS, RESHAPES, data_inputs, inplace_gap, writes_strided

# element types whose elementwise ops may write over their input (float32: planned float models)
INPLACE_TYPES = ("int8", "uint8", "float32")


@dataclass
class Alias:
    """Tensor lives inside ``root``'s block at byte ``offset``; ``view`` describes a strided slice."""

    root: int
    offset: int
    reason: str  # 'reshape' | 'concat' | 'inplace' | 'relocate' | 'root'
    view: dict | None = None


@dataclass
class Groups:
    """Static sharing (independent of the order): reshape aliases and in-place concatenation."""

    alias: dict[int, Alias] = field(default_factory=dict)

    def root(self, t: int) -> int:
        return self.alias[t].root if t in self.alias else t

    def offset(self, t: int) -> int:
        return self.alias[t].offset if t in self.alias else 0


def concat_slices(g: Graph, op) -> list[tuple[int, int, dict | None]]:
    """(input, byte offset, view) for each input of a concat."""
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


def view_extent(view: dict, size: int) -> int:
    """Bytes from a strided slice's first byte to its last (its bounding interval)."""
    return (view["outer"] - 1) * view["row_bytes"] + size // view["outer"]


def _concat_eligible(g: Graph, op, t: int, view: dict | None, ctx: tuple) -> bool:
    producers, consumers, io, dup = ctx
    out, x = g.tensors[op.outputs[0]], g.tensors[t]
    ok = (
        t in producers
        and t not in io
        and t not in dup
        and not x.is_constant
        and consumers.get(t) == [op.index]
        and same_values(x, out)
        and g.ops[producers[t]].name not in RESHAPES | CONCAT_OPS
        and len(g.ops[producers[t]].outputs) == 1
    )
    if ok and view is not None:  # a channel slice: the producer writes pixels row_bytes apart
        ok = (
            view["axis"] == len(out.shape) - 1
            and x.dtype != "float32"
            and writes_strided(g.ops[producers[t]], g)
        )
    return ok


def static_groups(g: Graph, strided_concat: bool = False, concat: bool = True) -> Groups:
    """Reshape aliases and in-place concatenations (``concat``; channel slices only with
    ``strided_concat``) that are legal whatever the order."""
    gr = Groups()
    producers, consumers = g.producers(), g.consumers()
    io = set(g.inputs) | set(g.outputs)
    for op in g.ops:
        if not concat or op.name not in CONCAT_OPS or len(op.inputs) < 2:
            continue
        if op.options.get("fused_activation_function", "NONE") != "NONE":
            continue
        slices = concat_slices(g, op)
        if slices[0][2] is not None and not strided_concat:
            continue
        dup = {t for t in op.inputs if op.inputs.count(t) > 1}
        # inputs that qualify are produced in their slice; the concat copies only the others
        for t, off, view in slices:
            if _concat_eligible(g, op, t, view, (producers, consumers, io, dup)):
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


def relocated_at(g: Graph, op, x: int, in_slice: set[int], step: dict[int, int]) -> int | None:
    """The step at which concat ``op``'s input ``x`` is copied into its slice ahead of the concat:
    that of the first producer of an input that ``in_slice`` holds (produced in its slice), when
    x is produced before it and every other reader of x runs before it; else None. int8 only:
    the copy is hardtool's concatenation kernel."""
    producers = g.producers()
    firsts = [step[producers[t]] for t in op.inputs if t in in_slice and t in producers]
    tx, ty = g.tensors[x], g.tensors[op.outputs[0]]
    if (
        not firsts
        or x not in producers
        or x in g.outputs
        or tx.is_constant
        or {tx.dtype, ty.dtype} != {"int8"}
    ):
        return None
    if op.inputs.count(x) != 1 or x in in_slice:
        return None
    f = min(firsts)
    others = [step[c] for c in g.consumers().get(x, []) if c != op.index]
    return f if step[producers[x]] < f < step[op.index] and all(s < f for s in others) else None


def relocation_offset(g: Graph, op, x: int) -> int | None:
    """Offset of ``x`` inside the concat output: the top of its bytes, when that keeps the
    planner's alignment (the ascending copy then never overwrites bytes still to be read)."""
    top = g.tensors[op.outputs[0]].nbytes - g.tensors[x].nbytes
    return top if top % ALIGN == 0 else None


def inplace_candidate(g: Graph, op, gr: Groups, spatial: bool = True) -> list[tuple[int, int]]:
    """(input, gap) pairs: inputs whose memory this op's output may take over if they die here,
    the output starting ``gap`` bytes before the input (0: exactly on it)."""
    if len(op.outputs) != 1 or op.outputs[0] in gr.alias:
        return []
    y = g.tensors[op.outputs[0]]
    if y.dtype not in INPLACE_TYPES:
        return []
    if op.name in ALIASING_OPS:
        n_data = data_inputs(op)
        res = []
        for t in op.inputs[:n_data]:
            x = g.tensors[t] if t >= 0 else None
            if x is None or x.is_constant or x.shape != y.shape or x.itemsize != y.itemsize:
                continue
            if t in gr.alias and gr.alias[t].view is not None:
                continue
            res.append((t, 0))
        return res
    if not spatial or y.dtype == "float32":  # hardtool has no float kernels that run in place
        return []
    gap = inplace_gap(op, g)
    t = op.inputs[0]
    if gap is None or gap >= y.nbytes or (t in gr.alias and gr.alias[t].view is not None):
        return []
    if t in op.inputs[1:]:  # also read pixel by pixel (a fused ADD's residual): not overwritten
        return []
    return [(t, gap)]


def inplace_saving(x_size: int, y_size: int, gap: int) -> int:
    """Bytes an in-place op saves at its step: x and y apart minus the union of their ranges."""
    return x_size + y_size - max(y_size, gap + x_size)


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


@dataclass(frozen=True)
class Part:
    """One member's bytes inside its block (``offset`` from the block's start) and its lifetime."""

    offset: int
    size: int
    first: int
    last: int


@dataclass
class Block:
    """One placed block for a given order: a group of tensors sharing memory (rigidly: each member
    at a fixed offset inside the block, with its own lifetime), or a kernel scratch buffer
    (``tensor`` None, ``op`` set)."""

    name: str
    size: int  # extent: the largest offset + size of its parts
    first: int
    last: int
    tensor: int | None = None
    op: int | None = None
    members: dict[int, Alias] = field(default_factory=dict)  # tensor -> its place inside this block
    offset: int = -1
    parts: list[Part] = field(default_factory=list)
    stage: dict[int, str] = field(default_factory=dict)  # tensor -> 'window' | 'band'

    def __post_init__(self):
        if not self.parts:
            self.parts = [Part(0, self.size, self.first, self.last)]

    def live_bytes(self, step: int) -> int:
        """Bytes this block covers at ``step``: the union of its live members' ranges."""
        spans = sorted((p.offset, p.offset + p.size) for p in self.parts if p.first <= step <= p.last)
        total, end = 0, -1
        for lo, hi in spans:
            if hi <= end:
                continue
            total += hi - max(lo, end)
            end = hi
        return total


def tensor_lifetimes(
    g: Graph, order: list[int], stage: Stage | None = None
) -> tuple[dict[int, int], dict[int, int]]:
    """(first step, last step) of every activation tensor: inputs from step 0, outputs to the end.
    A stage keeps its input (window) through all its steps and writes its output from step 0."""
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
    if stage is not None:  # the stage's steps repeat per patch: see hardtool.memplan.stage
        n = len(stage.ops)
        last[stage.tensors[0]] = max(last[stage.tensors[0]], n - 1)
        first[stage.tensors[-1]] = 0
        for k, t in enumerate(stage.tensors[1:-1], start=1):
            first[t], last[t] = k - 1, k
    return first, last


def stage_sizes(g: Graph, stage: Stage | None) -> tuple[dict[int, int], dict[int, str]]:
    """Bytes each activation takes (a stage's window and bands instead of whole tensors) and the
    stage role of those ('window' | 'band')."""
    sizes = {t: g.tensors[t].nbytes for t in g.activations()}
    kinds: dict[int, str] = {}
    if stage is not None:
        for k, t in enumerate(stage.tensors[:-1]):
            if k or stage.streamed:
                sizes[t], kinds[t] = stage.held_bytes(k), "window" if k == 0 else "band"
    return sizes, kinds


@dataclass
class _Layout:
    """Groups being built for one order: members and their offsets inside the group's block."""

    members: dict[int, list[int]]
    rel: dict[int, int]  # tensor -> byte offset inside its group's block
    alias: dict[int, Alias]

    def root(self, t: int) -> int:
        return self.alias[t].root if t in self.alias else t

    def move(self, y: int, rx: int, at: int, reason: str = "inplace") -> None:
        """Put y's group into rx's group with y at offset ``at`` (may be negative: shifts all),
        y aliased there for ``reason``."""
        shift = max(0, -at)
        if shift:
            for m in self.members[rx]:
                self.rel[m] += shift
        base = at + shift - self.rel[y]
        for m in self.members.pop(y):
            self.rel[m] += base
            view = self.alias[m].view if m in self.alias else None
            self.alias[m] = Alias(rx, 0, reason if m == y else self.alias[m].reason, view)
            self.members[rx].append(m)


def _layout(g: Graph, gr: Groups) -> _Layout:
    members: dict[int, list[int]] = {}
    for t in g.activations():
        members.setdefault(gr.root(t), []).append(t)
    rel = {t: gr.offset(t) for t in g.activations()}
    return _Layout(members, rel, dict(gr.alias))


def _inplace(
    g: Graph, order: list[int], gr: Groups, lay: _Layout, last: dict, sizes: dict, spatial: bool, only
) -> None:
    """Apply the in-place decisions for this order (the scheduler models the same rule); ``only``
    limits them to a set of ops."""
    step = {op: s for s, op in enumerate(order)}

    def whole(t: int) -> bool:  # not a stage window or band
        return sizes[t] == g.tensors[t].nbytes

    for op_i in order:
        op = g.ops[op_i]
        cands = inplace_candidate(g, op, gr, spatial) if only is None or op_i in only else []
        y = op.outputs[0] if op.outputs else -1
        if not cands or lay.root(y) != y:
            continue
        for x, gap in cands:
            rx = lay.root(x)
            if rx == y or max(last[m] for m in lay.members[rx]) != step[op_i]:
                continue
            if any(m in g.outputs for m in lay.members[rx]) or not whole(x) or not whole(y):
                continue
            lay.move(y, rx, lay.rel[x] - gap)
            break


def _relocate(g: Graph, order: list[int], lay: _Layout, last: dict, sizes: dict, stage: Stage | None) -> None:
    """Move each concat input that the concat copies to the top of the output's block, its life
    ending at ``relocated_at`` (``last`` is updated); outside the first stage only."""
    step = {op: s for s, op in enumerate(order)}
    staged = set(stage.ops) if stage is not None else set()
    for op in g.ops:
        y = op.outputs[0] if op.name in CONCAT_OPS and op.outputs else -1
        if y < 0 or lay.root(y) != y or op.index in staged:
            continue
        in_slice = {t for t in op.inputs if t in lay.alias and lay.alias[t].reason == "concat"}
        for x in op.inputs:
            f = relocated_at(g, op, x, in_slice, step)
            at = relocation_offset(g, op, x)
            if f is None or at is None or order[f] in staged or lay.root(x) != x or len(lay.members[x]) > 1:
                continue
            if sizes[x] != g.tensors[x].nbytes or sizes[y] != g.tensors[y].nbytes:
                continue
            lay.move(x, y, lay.rel[y] + at, "relocate")
            last[x] = f
            break


def relocated(blocks: list[Block]) -> dict[int, tuple[int, int]]:
    """tensor -> (concat output holding it, its last step) for the concat inputs these blocks
    relocate."""
    return {
        m: (b.tensor, p.last)
        for b in blocks
        if b.tensor is not None
        for (m, a), p in zip(b.members.items(), b.parts, strict=True)
        if a.reason == "relocate"
    }


def blocks_for_order(
    g: Graph,
    order: list[int],
    gr: Groups,
    scratch: dict[int, int],
    stage: Stage | None = None,
    inplace: bool = True,
    spatial: bool = True,
    only: set[int] | None = None,
    relocate: bool = True,
) -> list[Block]:
    """Blocks with lifetimes (in steps of ``order``), after in-place decisions for this order.
    ``inplace`` False keeps every op's output apart from its inputs (reshape and concat aliases
    stay); ``spatial`` False limits in-place to elementwise ops; ``only`` to a set of ops;
    ``relocate`` False keeps concat inputs apart until their concat."""
    first, last = tensor_lifetimes(g, order, stage)
    step = {op: s for s, op in enumerate(order)}
    sizes, kinds = stage_sizes(g, stage)
    lay = _layout(g, gr)
    if inplace and relocate:
        _relocate(g, order, lay, last, sizes, stage)
    if inplace:
        _inplace(g, order, gr, lay, last, sizes, spatial, only)
    blocks = [_group_block(g, r, ms, lay, first, last, sizes, kinds) for r, ms in lay.members.items()]
    for op_i, size in scratch.items():
        if size > 0:
            blocks.append(Block(f"scratch:{g.ops[op_i].name}#{op_i}", size, step[op_i], step[op_i], op=op_i))
    blocks.sort(key=lambda b: (b.first, b.last, b.tensor if b.tensor is not None else -1))
    return blocks


def _group_block(g: Graph, r: int, ms: list[int], lay: _Layout, first, last, sizes, kinds) -> Block:
    """One group as a block; a concat output's bytes are held from its first slice's birth."""
    g_first, g_last = min(first[m] for m in ms), max(last[m] for m in ms)
    concat = any(lay.alias[m].reason == "concat" for m in ms if m in lay.alias)
    # the output's bytes are held from its first slice's birth (a relocated input is not a slice)
    held = min(first[m] for m in ms if m not in lay.alias or lay.alias[m].reason != "relocate")
    parts, inside = [], {}
    for m in ms:
        a = lay.alias.get(m)
        view = a.view if a is not None else None
        extent = view_extent(view, sizes[m]) if view is not None else sizes[m]
        parts.append(Part(lay.rel[m], extent, held if m == r and concat else first[m], last[m]))
        inside[m] = Alias(r, lay.rel[m], a.reason if a is not None else "root", view)
    size = max(p.offset + p.size for p in parts)
    stage = {m: kinds[m] for m in ms if m in kinds}
    return Block(g.tensors[r].name or f"t{r}", size, g_first, g_last, r, None, inside, -1, parts, stage)


def inplace_savings(g: Graph, order: list[int], blocks: list[Block]) -> dict[int, tuple[int, int]]:
    """op -> (step, bytes saved there) of every op these blocks run in place."""
    producers, pos = g.producers(), {op: s for s, op in enumerate(order)}
    out = {}
    for b in blocks:
        if b.tensor is None:  # a scratch buffer
            continue
        part = dict(zip(b.members, b.parts, strict=True))
        for y, a in b.members.items():
            if a.reason != "inplace":
                continue
            op = producers[y]
            for x in g.ops[op].inputs:
                if x in b.members and part[x].last == pos[op]:
                    gap = b.members[x].offset - a.offset
                    out[op] = (pos[op], inplace_saving(part[x].size, part[y].size, gap))
                    break
    return out


def live_profile(blocks: list[Block], n_steps: int) -> list[int]:
    """Bytes that must be live at each step: a lower bound on any placement of these blocks."""
    prof = [0] * max(n_steps, 1)
    for b in blocks:
        if len(b.parts) == 1:
            for s in range(b.first, b.last + 1):
                prof[s] += b.size
            continue
        for s in range(b.first, b.last + 1):
            prof[s] += b.live_bytes(s)
    return prof
