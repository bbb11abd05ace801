"""Residual ADDs folded into the convolution producing one of their inputs (part of ``lower()``).

An int8 ADD of two same-shape activations, one of them written by a convolution, becomes that
convolution with a fused epilogue: the convolution's int8 output value is computed as before,
then TFLite's ADD with the other input (the *residual*) at the same position. When nothing else
reads the convolution's output, the fused op takes the ADD's place in the op list (both inputs
exist there), reads the residual as a fourth input and writes the ADD's output; the convolution's
own output tensor no longer exists. When other ops read it too, the convolution keeps its place
and its output and writes the ADD's output as a second one (``keeps_output``): the residual must
then exist before the convolution runs (an earlier op's output, the ADD's being where its fused
convolution runs). Which ops have a kernel with that epilogue is the op records' ``fuses_add``
(through ``core/oprules``); ``residual_adds`` says for every ADD what was decided and why. The
residual may be the convolution's own input: the planner never runs such an op in place over it."""

from __future__ import annotations

from dataclasses import dataclass

from hardtool.core.graph.ir import Graph, Op
from hardtool.core.oprules import op_rules


@dataclass(frozen=True)
class AddFusion:
    """The decision for one ADD: the op it is fused into (None: it runs alone) and why."""

    add: int  # op index in the graph decided on
    conv: int | None
    residual: int | None  # tensor index of the ADD's other input
    conv_side: int  # which ADD input (0 or 1) the convolution wrote
    reason: str
    keeps_output: bool = False  # the convolution's output has other readers: it writes both


def _src(op: Op) -> str:
    return ", ".join(str(i) for i in op.source_ops) or str(op.index)


def _same_shape_int8(g: Graph, add: Op) -> str | None:
    if len(add.inputs) != 2 or min(add.inputs) < 0:
        return "not a two-input ADD"
    a, b, y = (g.tensors[t] for t in (*add.inputs, add.outputs[0]))
    if a.is_constant or b.is_constant or a.shape != y.shape or b.shape != y.shape:
        return "broadcast or a constant operand"
    dtypes = {a.dtype, b.dtype, y.dtype}
    # float32: planned only (compare's FP32 plans count the buffers the int8 plan has, at float sizes)
    if dtypes not in ({"int8"}, {"float32"}) or len(y.shape) != 4 or y.shape[0] != 1:
        return "not a same-shape int8 NHWC ADD"
    if dtypes == {"int8"} and any(t.quant is None for t in (a, b, y)):
        return "unquantised"
    return None


def _convolution(g: Graph, add: Op, side: int, producers: dict) -> tuple[Op | None, str | None]:
    """The convolution writing input ``side`` of ``add`` if its kernels take a fused ADD, or why not."""
    t, r = add.inputs[side], add.inputs[1 - side]
    p = producers.get(t)
    conv = g.ops[p] if p is not None else None
    if conv is None or conv.name not in op_rules().fuses_add:
        return None, f"input {side} is not written by a convolution"
    x, w = g.tensors[conv.inputs[0]], g.tensors[conv.inputs[1]]
    if len(w.shape) != 4 or w.shape[3] != x.shape[-1]:
        return None, f"input {side}: a grouped convolution (its kernels have no fused ADD)"
    if t == r:
        return None, f"input {side}: the residual is the convolution's output"
    return conv, None


def _candidate(g: Graph, add: Op, side: int, producers: dict, consumers: dict) -> str | None:
    """Why input ``side`` of ``add`` cannot take the ADD into its producer in the ADD's place (the
    convolution's output read by the ADD alone), or None when it can."""
    conv, why = _convolution(g, add, side, producers)
    t = add.inputs[side]
    if conv is not None and (consumers.get(t) != [add.index] or t in g.outputs):
        return f"input {side}: the convolution's output is read elsewhere too"
    return why


def _keeping(g: Graph, add: Op, side: int, producers: dict, made: dict, taken: set) -> str | None:
    """Why the convolution writing input ``side`` cannot write the ADD's output besides its own in
    its place, or None when it can; ``made``: the op position each tensor is written at."""
    conv, why = _convolution(g, add, side, producers)
    if conv is None:
        return why
    r = add.inputs[1 - side]
    if conv.index in taken:
        return f"input {side}: the convolution already writes another ADD"
    if r not in g.inputs and not made.get(r, conv.index) < conv.index:
        return f"input {side}: the residual is made after the convolution runs"
    return None


def _fused(g: Graph, add: Op, conv: Op, side: int, keeps: bool) -> AddFusion:
    r = add.inputs[1 - side]
    kept = ", which also keeps its own output (other ops read it)" if keeps else ""
    reason = (
        f"ADD (.tflite op {_src(add)}) fused into the output stage of {conv.name} (.tflite op "
        f"{_src(conv)}){kept}; residual: its input {1 - side} '{g.tensors[r].name}'"
    )
    return AddFusion(add.index, conv.index, r, side, reason, keeps)


def decide(g: Graph) -> list[AddFusion]:
    """One decision per ADD of ``g``, in op order: fused in the ADD's place into the later-running
    eligible convolution (its residual is then more likely already made), else into a
    convolution whose output other ops read too (keeping that output), else the reasons."""
    producers, consumers = g.producers(), g.consumers()
    made, taken, out = dict(producers), set(), []
    for add in (op for op in g.ops if op.name == "ADD"):
        why = _same_shape_int8(g, add)
        reasons = [why] if why else [_candidate(g, add, s, producers, consumers) for s in (0, 1)]
        sides = [s for s in (0, 1) if why is None and reasons[s] is None]
        keeps = not sides and why is None
        if keeps:
            reasons = [_keeping(g, add, s, producers, made, taken) for s in (0, 1)]
            sides = [s for s in (0, 1) if reasons[s] is None]
        if not sides:
            why = "; ".join(r for r in reasons if r)
            out.append(AddFusion(add.index, None, None, 0, f"ADD (.tflite op {_src(add)}) runs alone: {why}"))
            continue
        side = max(sides, key=lambda s: producers[add.inputs[s]])
        conv = g.ops[producers[add.inputs[side]]]
        out.append(_fused(g, add, conv, side, keeps))
        taken.add(conv.index)
        if keeps:
            made[add.outputs[0]] = conv.index
    return out


def fuse_residual_adds(g: Graph) -> set[int]:
    """Rewrites each fusable ADD of ``g`` into its convolution (in place); the op indices now dead
    (the convolutions fused in the ADD's place, the ADDs fused into a convolution keeping its output)."""
    dead: set[int] = set()
    for d in decide(g):
        if d.conv is None:
            g.ops[d.add].options["not_fused"] = d.reason
            continue
        add, conv = g.ops[d.add], g.ops[d.conv]
        t = g.tensors[add.inputs[d.conv_side]]
        bias = conv.inputs[2] if len(conv.inputs) > 2 else -1
        fused = {
            "add_source_ops": add.source_ops,
            "conv_side": d.conv_side,
            "conv_output": t.name,
            "conv_quant": t.quant,
            "activation": add.options.get("fused_activation_function", "NONE"),
            "keeps_output": d.keeps_output,
            "reason": d.reason,
        }
        host = conv if d.keeps_output else add  # the op that runs: in the convolution's or the ADD's place
        outputs = (conv.outputs[0], add.outputs[0]) if d.keeps_output else add.outputs
        host.name, host.outputs = conv.name, outputs
        host.inputs = (conv.inputs[0], conv.inputs[1], bias, d.residual)
        host.options = dict(conv.options) | {"fused_add": fused}
        host.source_ops = tuple(sorted((*conv.source_ops, *add.source_ops)))
        dead.add(add.index if d.keeps_output else conv.index)
    return dead
