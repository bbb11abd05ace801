"""Our planner applied to what TFLite Micro runs: the *file's* graph in the file's op order (PADs
and full-resolution logits included, unlike our lowered graph). The offsets go into memplan.json
(``tflm_layout``), from where ``codegen --runtime tflm --offline-plan`` stores them in the model
as TFLM's offline plan."""

from __future__ import annotations

from hardtool.core.graph import Graph
from hardtool.memplan.lifetimes import Block, blocks_for_order, live_profile, static_groups
from hardtool.memplan.place import place
from hardtool.memplan.schedule import file_order


def _file_blocks(graph: Graph) -> list[Block]:
    """Blocks with TFLM's lifetimes for the file's op order. In-place sharing is kept only where
    TFLM's kernels allow it: reshapes (TFLM skips the copy) and elementwise ops over an input that
    dies there (the kernels read element i before writing it); concatenation slices are not shared
    because TFLM's concat copies every input, and no convolution runs in place."""
    if graph.lowered:
        raise ValueError("TFLM runs the file's graph, not the lowered one")
    gr = static_groups(graph)
    gr.alias = {t: a for t, a in gr.alias.items() if a.reason == "reshape"}
    return blocks_for_order(graph, file_order(graph), gr, {}, spatial=False)


def tflm_layout(graph: Graph) -> dict:
    """Offsets of the file's tensors (-1: constants, which TFLM does not plan), the bytes they take
    (TFLM's head without its own scratch), the live-bytes lower bound, and the op where the most
    bytes are live with what is live there: no placement of TFLM's head can be smaller."""
    blocks = _file_blocks(graph)
    prof = live_profile(blocks, len(graph.ops))
    bound = max(prof)
    placement, _ = place(blocks, bound)
    offsets = [-1] * len(graph.tensors)
    for b, off in zip(blocks, placement.offsets, strict=True):
        for t, a in b.members.items():
            offsets[t] = off + a.offset
    step = max(range(len(prof)), key=lambda i: (prof[i], -i))
    live = sorted((b for b in blocks if b.live_bytes(step)), key=lambda b: -b.size)
    return {
        "offsets": offsets,
        "head_bytes": placement.arena,
        "live_bytes_lower_bound": bound,
        "peak": {
            "op": step,
            "op_name": graph.ops[step].name,
            "bytes": prof[step],
            "tensors": [{"name": b.name, "bytes": b.size} for b in live],
        },
    }
