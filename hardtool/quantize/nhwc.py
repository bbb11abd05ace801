"""Undo the NCHW islands onnx2tf leaves in a TFLite graph.

When it cannot tell a tensor's layout (an ADD's output feeding a concat, typically), onnx2tf
computes the following ops in NCHW: TRANSPOSE ops to NCHW where the island starts, the concat and
the elementwise ops after it in NCHW, TRANSPOSE ops back to NHWC where it ends. Concat, elementwise
ops and constants that vary along one axis at most mean the same in either layout, so the island
is rewritten in NHWC (concat axes and constant shapes relabelled) and its transposes dropped:
exact, since a transpose only moves values, with the same scale and zero point."""

from __future__ import annotations

import numpy as np

TO_NCHW = [0, 3, 1, 2]  # TRANSPOSE perm NHWC → NCHW; NCHW axis j is NHWC axis TO_NCHW[j]
TO_NHWC = [0, 2, 3, 1]
UNARY = {"RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "QUANTIZE", "DEQUANTIZE"}
BINARY = {"ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"}


class _Index:
    """Producers, readers and op names of one subgraph."""

    def __init__(self, model, s, sg):
        self.model, self.sg = model, sg
        self.names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
        self.producer = {t: op for op in sg.operators for t in op.outputs}
        self.users: dict[int, list] = {}
        for op in sg.operators:
            for t in op.inputs:
                if t >= 0:
                    self.users.setdefault(t, []).append(op)

    def name(self, op) -> str:
        c = self.model.operatorCodes[op.opcodeIndex]
        return self.names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "")

    def const(self, t: int) -> bool:
        b = self.sg.tensors[t].buffer
        return bool(b) and self.model.buffers[b].data is not None and len(self.model.buffers[b].data) > 0

    def perm(self, op) -> list[int] | None:
        if self.name(op) != "TRANSPOSE" or not self.const(op.inputs[1]):
            return None
        return (
            np.asarray(self.model.buffers[self.sg.tensors[op.inputs[1]].buffer].data, np.uint8)
            .view(np.int32)
            .tolist()
        )

    def layout_free(self, op) -> bool:
        """Means the same in NCHW and NHWC once axes and constant shapes are relabelled."""
        name = self.name(op)
        consts = [t for t in op.inputs if t >= 0 and self.const(t)]
        if name == "CONCATENATION":
            return not consts and all(len(self.sg.tensors[t].shape) == 4 for t in op.inputs)
        if name in UNARY:
            return True
        if name not in BINARY:
            return False
        for t in consts:
            shape = [int(d) for d in self.sg.tensors[t].shape]
            if sum(d != 1 for d in shape) > 1 or (len(shape) not in (0, 4) and int(np.prod(shape)) != 1):
                return False
        return True


def _grow(ix: _Index, seed) -> tuple[dict, dict, dict] | None:
    """(entry transposes, NCHW ops, exit transposes) of the island that starts at ``seed``, or
    None when something that is not layout-free reads or writes an NCHW tensor of it."""
    entries, ops, exits = {id(seed): seed}, {}, {}
    work = [seed]
    while work:
        op = work.pop()
        for t in op.outputs:
            if t in ix.sg.outputs:
                return None
            for u in ix.users.get(t, []):
                if ix.perm(u) == TO_NHWC:
                    exits[id(u)] = u
                elif ix.layout_free(u):
                    if id(u) not in ops:
                        ops[id(u)] = u
                        work.append(u)
                else:
                    return None
        if id(op) in entries:
            continue
        for x in op.inputs:
            if x < 0 or ix.const(x):
                continue
            p = ix.producer.get(x)
            if p is None:
                return None
            group = entries if ix.perm(p) == TO_NCHW else ops if ix.layout_free(p) else None
            if group is None:
                return None
            if id(p) not in group:
                group[id(p)] = p
                work.append(p)
    return entries, ops, exits


def _relabel(t) -> None:
    """An NCHW rank-4 tensor (shape, per-axis quantisation) as NHWC; data with one non-1 axis at
    most is already in the right order."""
    if t.shape is None or len(t.shape) != 4:
        return
    shape = [0] * 4
    for j, d in enumerate(t.shape):
        shape[TO_NCHW[j]] = int(d)
    t.shape = shape
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale) > 1:
        q.quantizedDimension = TO_NCHW[q.quantizedDimension]


def _rewrite(ix: _Index, entries: dict, ops: dict, exits: dict) -> None:
    src = {e.outputs[0]: e.inputs[0] for e in entries.values()}
    tensors = set()
    for op in ops.values():
        op.inputs = [src.get(t, t) for t in op.inputs]
        if ix.name(op) == "CONCATENATION":
            op.builtinOptions.axis = TO_NCHW[op.builtinOptions.axis % 4]
        tensors |= {t for t in op.inputs if t >= 0 and ix.const(t)} | set(op.outputs)
    for t in tensors:
        _relabel(ix.sg.tensors[t])
    back = {x.outputs[0]: src.get(x.inputs[0], x.inputs[0]) for x in exits.values()}
    for op in ix.sg.operators:
        op.inputs = [back.get(t, t) for t in op.inputs]
    drop = set(entries) | set(exits)
    ix.sg.operators = [op for op in ix.sg.operators if id(op) not in drop]


def remove_nchw_islands(model, s) -> int:
    """Rewrite every NCHW island in NHWC; returns the number of TRANSPOSE ops removed."""
    removed = 0
    for sg in model.subgraphs:
        done = False
        while not done:
            done = True
            ix = _Index(model, s, sg)
            for seed in sg.operators:
                if ix.perm(seed) != TO_NCHW:
                    continue
                found = _grow(ix, seed)
                if found is None or any(x.outputs[0] in sg.outputs for x in found[2].values()):
                    continue
                _rewrite(ix, *found)
                removed += len(found[0]) + len(found[2])
                done = False
                break
    return removed
