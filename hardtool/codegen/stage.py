"""The plan's first stage in C: each stage op as a function over one band (input and output
pointers, heights and border padding from a per-patch table), the patch runner, and for a
streamed input the feed that runs each patch once its input rows have arrived
(docs/contracts.md §3). The patches come from ``hardtool.memplan.stage.build``, the same
geometry the plan was sized with."""

from __future__ import annotations

from dataclasses import dataclass

from hardtool.core.errors import HardtoolError
from hardtool.core.graph.ir import Graph, Op
from hardtool.memplan import stage as S
from hardtool.ops.cgen import EmitContext, Layer, c_init, dims
from hardtool.ops.conv import filter_arg

PARAMS = {
    "CONV_2D": "hard_conv_params",
    "DEPTHWISE_CONV_2D": "hard_dw_conv_params",
    "AVERAGE_POOL_2D": "hard_pool_params",
    "MAX_POOL_2D": "hard_pool_params",
}


@dataclass
class StageCode:
    """What the templates need to run the stage."""

    layers: int  # stage ops = the first layers
    patches: int
    streamed: bool
    spans: str  # C initialiser of hard_stage_spans[patches][layers]
    functions: list[str]  # one C function per stage op
    bands: list[int]  # arena offsets of the bands T_1..T_{N-1}
    input_offset: int  # arena offset of the window (streamed) or of the whole input
    input_row_bytes: int
    input_rows: int  # image rows (H of the input)
    window_rows: int
    output_offset: int  # arena offset of the stage's output T_N
    output_row_bytes: int
    recomputed_macs: int


def rebuild(graph: Graph, doc: dict | None) -> S.Stage | None:
    """The plan's stage (memplan.json ``stage``) rebuilt from the graph, or None."""
    if not doc:
        return None
    return S.build(graph, doc["ops"], bool(doc["streamed"]), int(doc["band_rows"]))


def function(e: EmitContext, op: Op, layer: Layer, p: str, k: int) -> str:
    """``hard_stage_k(in, out, span)``: the op on one band, with the declarations its normal
    emitter made (``{p}_p``, weights, quantisation), the heights and border padding from the span."""
    x, y = e.t(op.inputs[0]), e.t(op.outputs[0])
    in_d = c_init({"n": 1, "h": "s->in_rows", "w": x.shape[2], "c": x.shape[3]})
    out_d = c_init({"n": 1, "h": "s->out_rows", "w": y.shape[2], "c": y.shape[3]})
    head = [
        f"static hard_status hard_stage_{k}(const int8_t *in, int8_t *out, const hard_stage_span *s)",
        "{",
        f"    {PARAMS[op.name]} prm = {p}_p;",
        "    prm.padding.top = s->pad_top;",
        "    prm.padding.bottom = s->pad_bottom;",
        f"    const hard_dims in_d = {in_d}, out_d = {out_d};",
        f"    const hard_context ctx = {e.ctx(op)};",
    ]
    if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = e.t(op.inputs[1])
        bias = f"{p}_b" if any(f" {p}_b[" in d for d in layer.decls) else "NULL"
        body = [
            f"    static const hard_per_channel_quant q = {{.multiplier = {p}_mult, .shift = {p}_shift}};",
            f"    static const hard_dims f = {dims(w.shape)};",
            f"    return {layer.kernel}(&ctx, &prm, &q, &in_d, in, &f, {filter_arg(layer, p)}, {bias}, &out_d, out);",
        ]
    else:
        o = op.options
        body = [
            f"    static const hard_dims f = {dims((1, o['filter_height'], o['filter_width'], 1))};",
            f"    return {layer.kernel}(&ctx, &prm, &in_d, in, &f, &out_d, out);",
        ]
    return "\n".join([*head, *body, "}"])


def _spans(st: S.Stage) -> str:
    rows = []
    for patch in st.patches:
        cells = [
            c_init(
                {
                    "in_row0": s.in_row0,
                    "in_rows": s.in_rows,
                    "pad_top": s.pad_top,
                    "pad_bottom": s.pad_bottom,
                    "out_row0": s.out_row0,
                    "out_rows": s.out_rows,
                }
            )
            for s in patch
        ]
        rows.append("{" + ", ".join(cells) + "}")
    return "{\n    " + ",\n    ".join(rows) + "\n}"


def check_runnable(
    graph: Graph, st: S.Stage, template: dict, protocol: str, input_rows: tuple[int, int]
) -> None:
    """Refuse, in one line naming the op and the switch, a streamed stage this project cannot feed."""
    if not st.streamed:
        return
    op = graph.ops[st.ops[0]]
    why = None
    if protocol != "hardtool":
        why = f"the {protocol} firmware runs one loaded input many times"
    elif not template.get("streamed_input", False):
        why = f"the {template['name']} template has the whole input at once"
    elif input_rows != (graph.tensors[st.tensors[0]].shape[1], st.row_bytes[0]):
        why = f"its input travels in rows of {input_rows[1]} bytes, not image rows of {st.row_bytes[0]}"
    if why:
        raise HardtoolError(
            f"op #{op.index} {op.name} is planned to run on input rows as they arrive, but {why}; "
            "plan with hardtool memplan --no-stream"
        )


def stage_code(e: EmitContext, st: S.Stage, layers: list[Layer], offsets: dict[int, int]) -> StageCode:
    """The stage's C pieces; ``layers`` are the stage ops' layers (their declarations made)."""
    functions = [function(e, e.graph.ops[L.op], L, f"l{L.index}", k) for k, L in enumerate(layers)]
    out_t = st.tensors[-1]
    return StageCode(
        layers=len(st.ops),
        patches=len(st.patches),
        streamed=st.streamed,
        spans=_spans(st),
        functions=functions,
        bands=[offsets[t] for t in st.tensors[1:-1]],
        input_offset=offsets[st.tensors[0]],
        input_row_bytes=st.row_bytes[0],
        input_rows=e.t(st.tensors[0]).shape[1],
        window_rows=st.held_rows[0],
        output_offset=offsets[out_t],
        output_row_bytes=st.row_bytes[-1],
        recomputed_macs=st.recomputed_macs,
    )
