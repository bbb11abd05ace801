"""The first stage: the first N ops of a graph, a chain of sliding-window ops from its one input,
run band by band instead of op by op (MCUNetV2's patch-based inference, with full-width patches).

For each patch the stage computes ``band_rows`` output rows of its last op; going backwards
through the chain, each op computes exactly the rows the next one reads, so rows at band
borders (the halo) are computed again by the next patch. The intermediate tensors exist only as
one band each, and the stage's output is written band by band into its whole tensor. With a
*streamed* input the graph input is never whole either: its rows arrive in order (over the
serial link) and a window holds only the rows the next patch reads, the halo of the previous
one included. A streamed stage of one op recomputes nothing.

Patches span the full width: the input arrives as full rows, and full-width bands of NHWC
tensors are contiguous, so the kernels run on them unchanged (input and output pointers moved,
heights and the padding at the image border adjusted). The same geometry (``build``) serves
memplan (sizes, MACs), the plan's contract check and codegen (the per-patch table)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardtool.core.graph.ir import Graph
from hardtool.ops.tables import SPATIAL_OPS, window

STREAM_FIRST = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})  # ops that can consume streamed rows


@dataclass(frozen=True)
class Span:
    """What one stage op computes in one patch: output rows [out_row0, out_row0 + out_rows) from
    input rows [in_row0, in_row0 + in_rows), with the image-border padding above and below."""

    in_row0: int
    in_rows: int
    pad_top: int
    pad_bottom: int
    out_row0: int
    out_rows: int


@dataclass(frozen=True)
class Stage:
    ops: tuple[int, ...]  # op indices of the lowered graph, in order
    tensors: tuple[int, ...]  # T_0 (graph input) .. T_N (the stage's output, whole)
    streamed: bool
    band_rows: int  # output rows of the last op per patch
    patches: tuple[tuple[Span, ...], ...]  # per patch, per op
    held_rows: tuple[int, ...]  # per tensor T_0..T_{N-1}: rows held at once (T_0: window)
    row_bytes: tuple[int, ...]  # per tensor T_0..T_N
    macs: int  # of the stage's ops, computed once (the model's)
    executed_macs: int  # with the halo rows computed again

    def held_bytes(self, k: int) -> int:
        """Bytes of the buffer holding T_k (k < N): the window (k = 0, streamed) or one band."""
        return self.held_rows[k] * self.row_bytes[k]

    @property
    def recomputed_macs(self) -> int:
        return self.executed_macs - self.macs


def _single_consumer(graph: Graph, t: int, consumers: dict[int, list[int]]) -> int | None:
    cons = consumers.get(t, [])
    return cons[0] if len(cons) == 1 else None


def chain(graph: Graph, streamed: bool) -> list[int]:
    """The longest chain of stage ops from the graph's single input: each op a sliding window
    the kernels run (conv, depthwise, pooling) whose only activation input is the previous op's
    output, every tensor but the last read by the next op only and not a graph output.
    A streamed stage must start with a convolution. Empty when there is none."""
    if len(graph.inputs) != 1:
        return []
    t = graph.inputs[0]
    consumers = graph.consumers()
    ops: list[int] = []
    while True:
        if t in graph.outputs or (ops and t in graph.inputs):
            break
        nxt = _single_consumer(graph, t, consumers)
        if nxt is None:
            break
        op = graph.ops[nxt]
        ok = op.name in SPATIAL_OPS and window(op, graph) is not None and op.inputs[0] == t
        ok = ok and all(graph.tensors[i].is_constant for i in op.inputs[1:] if i >= 0)
        ok = ok and len(op.outputs) == 1 and len(graph.tensors[op.outputs[0]].shape) == 4
        if not ok or (not ops and streamed and op.name not in STREAM_FIRST):
            break
        ops.append(nxt)
        t = op.outputs[0]
    return ops


def op_macs(graph: Graph, op_index: int) -> int:
    """Multiply-accumulates of a conv / depthwise op (pooling counts none), as codegen counts."""
    op = graph.ops[op_index]
    if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return 0
    w, y = graph.tensors[op.inputs[1]].shape, graph.tensors[op.outputs[0]].shape
    return int(np.prod(y)) * w[1] * w[2] * (1 if op.name == "DEPTHWISE_CONV_2D" else w[3])


def _patch(graph: Graph, ops: tuple[int, ...], a: int, b: int) -> tuple[Span, ...]:
    spans: list[Span] = []
    for i in reversed(ops):
        op = graph.ops[i]
        in_h = graph.tensors[op.inputs[0]].shape[1]
        r0, r1, top, bottom = window(op, graph).rows_read(a, b, in_h)
        spans.append(Span(r0, r1 - r0, top, bottom, a, b - a))
        a, b = r0, r1
    return tuple(reversed(spans))


def build(graph: Graph, ops: list[int] | tuple[int, ...], streamed: bool, band_rows: int) -> Stage:
    """The stage of ``ops`` (a prefix of ``chain``) with patches of ``band_rows`` output rows."""
    ops = tuple(ops)
    tensors = (graph.ops[ops[0]].inputs[0], *(graph.ops[i].outputs[0] for i in ops))
    h_out = graph.tensors[tensors[-1]].shape[1]
    patches = tuple(_patch(graph, ops, a, min(a + band_rows, h_out)) for a in range(0, h_out, band_rows))
    held = [max(p[0].in_rows for p in patches) if streamed else graph.tensors[tensors[0]].shape[1]]
    held += [max(p[k - 1].out_rows for p in patches) for k in range(1, len(ops))]
    row_bytes = tuple(graph.tensors[t].nbytes // graph.tensors[t].shape[1] for t in tensors)
    macs = [op_macs(graph, i) for i in ops]
    executed = 0
    for k in range(len(ops)):
        h = graph.tensors[tensors[k + 1]].shape[1]
        executed += sum(p[k].out_rows for p in patches) * macs[k] // h
    return Stage(ops, tensors, streamed, band_rows, patches, tuple(held), row_bytes, sum(macs), executed)


def valid(stage: Stage) -> bool:
    """Every op of every patch reads at least one input row (no window wholly in the padding)."""
    return all(s.in_rows > 0 and s.out_rows > 0 for p in stage.patches for s in p)


def band_choices(h_out: int) -> list[int]:
    """Band heights worth trying for an output of ``h_out`` rows: each distinct patch count once."""
    seen, out = set(), []
    for b in range(1, h_out + 1):
        n = -(-h_out // b)
        if n not in seen:
            seen.add(n)
            out.append(b)
    return out
