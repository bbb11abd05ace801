"""Canonicalise converter output so TFLite Micro and MCU kernel libraries run it unchanged.

1. A grouped CONV_2D with one input channel per group and one
output channel per group is a depthwise conv. onnx2tf sometimes emits such depthwise layers as
grouped CONV_2D, which TFLite Micro does not run and which no MCU kernel library treats as
depthwise. Rewriting it as DEPTHWISE_CONV_2D (filter [O,kh,kw,1] → [1,kh,kw,O], per-channel
axis 0 → 3, same options) is exact: both compute the same sums with the same requantisation.
2. ONNX ArgMax yields int64 indices; TFLite Micro's ARG_MAX writes only int32. Class indices
fit either, so the label map is made int32.
3. Where onnx2tf computed a concat and elementwise ops in NCHW between TRANSPOSEs, they are
computed in NHWC without them (`hardtool.quantize.nhwc`).
4. A stride-2 dilated depthwise conv, which TensorFlow cannot express, comes out as the conv at
stride 1 followed by a STRIDED_SLICE that keeps every other row and column; that is exactly the
conv at stride 2 on the same padded input, which TFLite runs, so it becomes that.
5. An int8 DEPTH_TO_SPACE, which TFLite's reference kernels do not register (the reference every
int8 graph is checked against), becomes the same byte permutation in ops they have: RESHAPE
[n·h, w, b, b·c] → TRANSPOSE (0, 2, 1, 3) → RESHAPE to the output (block size b).
6. Tensors no op uses any more are removed (TFLite Micro refuses tensors without a lifetime)."""

from __future__ import annotations

import numpy as np

from hardtool.core.graph.edit import rewrite
from hardtool.core.graph.reader import schema
from hardtool.quantize.nhwc import remove_nchw_islands


def _code_of(model, s, i: int) -> int:
    c = model.operatorCodes[i]
    return max(c.builtinCode, c.deprecatedBuiltinCode)


def _opcode(model, s, builtin: int, version: int) -> int:
    """Index of the operator code for ``builtin``, added when the model has none."""
    codes = model.operatorCodes
    for i in range(len(codes)):
        if _code_of(model, s, i) == builtin:
            return i
    c = s.OperatorCodeT()
    c.builtinCode = c.deprecatedBuiltinCode = builtin
    c.version = version
    codes.append(c)
    return len(codes) - 1


def _grouped_to_depthwise(model, s) -> int:
    changed = 0
    for sg in model.subgraphs:
        for op in sg.operators:
            if _code_of(model, s, op.opcodeIndex) != s.BuiltinOperator.CONV_2D:
                continue
            x, w = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]]
            o, kh, kw, cin = (int(v) for v in w.shape)
            if not (cin == 1 and o == int(x.shape[3]) and o > 1):
                continue
            dtype = np.float32 if w.type == s.TensorType.FLOAT32 else np.int8
            data = np.asarray(model.buffers[w.buffer].data, dtype=np.uint8).view(dtype).reshape(o, kh, kw, 1)
            nb = s.BufferT()
            nb.data = list(np.ascontiguousarray(data.transpose(3, 1, 2, 0)).view(np.uint8).ravel())
            model.buffers.append(nb)
            w.buffer = len(model.buffers) - 1
            w.shape = [1, kh, kw, o]
            if w.quantization is not None:
                w.quantization.quantizedDimension = 3
            co = op.builtinOptions
            do = s.DepthwiseConv2DOptionsT()
            do.padding, do.strideW, do.strideH = co.padding, co.strideW, co.strideH
            do.depthMultiplier = 1
            do.fusedActivationFunction = co.fusedActivationFunction
            do.dilationWFactor, do.dilationHFactor = co.dilationWFactor, co.dilationHFactor
            op.builtinOptionsType = s.BuiltinOptions.DepthwiseConv2DOptions
            op.builtinOptions = do
            op.opcodeIndex = _opcode(model, s, s.BuiltinOperator.DEPTHWISE_CONV_2D, 3)
            changed += 1
    return changed


def _argmax_int32(model, s) -> int:
    changed = 0
    for sg in model.subgraphs:
        for op in sg.operators:
            if (
                _code_of(model, s, op.opcodeIndex) == s.BuiltinOperator.ARG_MAX
                and op.builtinOptions is not None
            ):
                out = sg.tensors[op.outputs[0]]
                if out.type == s.TensorType.INT64:
                    out.type = s.TensorType.INT32
                    op.builtinOptions.outputType = s.TensorType.INT32
                    changed += 1
    return changed


def _is_const(model, sg, t: int) -> bool:
    b = sg.tensors[t].buffer
    return bool(b) and model.buffers[b].data is not None and len(model.buffers[b].data) > 0


def _const_i32(model, sg, t: int) -> list[int] | None:
    if not _is_const(model, sg, t):
        return None
    return np.asarray(model.buffers[sg.tensors[t].buffer].data, np.uint8).view(np.int32).tolist()


def _strided_slice_of(model, s, sg, op, users: dict[int, list]):
    """(the STRIDED_SLICE, [s_h, s_w]) when that is the only reader of ``op``'s output and keeps
    every s-th row and column from 0, else None."""
    nxt = users.get(op.outputs[0], [])
    if len(nxt) != 1 or op.outputs[0] in sg.outputs:
        return None
    sl = nxt[0]
    if _code_of(model, s, sl.opcodeIndex) != s.BuiltinOperator.STRIDED_SLICE or len(sl.inputs) != 4:
        return None
    so = sl.builtinOptions
    begin, steps = _const_i32(model, sg, sl.inputs[1]), _const_i32(model, sg, sl.inputs[3])
    if begin is None or steps is None or len(steps) != 4 or steps[0] != 1 or steps[3] != 1:
        return None
    if any(begin) or so.ellipsisMask or so.newAxisMask or so.shrinkAxisMask or so.endMask != 15:
        return None
    return sl, steps[1:3]


def _insert_pad(model, s, sg, op, pads: list[tuple[int, int]]) -> None:
    """A PAD (zero point, which is real 0) of H and W in front of conv ``op``."""
    import copy

    x = sg.tensors[op.inputs[0]]
    padded = s.TensorT()
    padded.shape = [x.shape[0], x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1]), x.shape[3]]
    padded.type, padded.buffer = x.type, 0
    padded.name = (x.name or b"") + b"/pad"
    padded.quantization = copy.deepcopy(x.quantization)
    amounts = s.TensorT()
    amounts.shape, amounts.type, amounts.name = [4, 2], s.TensorType.INT32, padded.name + b"/amounts"
    buf = s.BufferT()
    buf.data = np.array([[0, 0], *pads, [0, 0]], np.int32).view(np.uint8).ravel().tolist()
    model.buffers.append(buf)
    amounts.buffer = len(model.buffers) - 1
    sg.tensors += [padded, amounts]
    pad = s.OperatorT()
    pad.opcodeIndex = _opcode(model, s, s.BuiltinOperator.PAD, 2)
    pad.inputs, pad.outputs = [op.inputs[0], len(sg.tensors) - 1], [len(sg.tensors) - 2]
    pad.builtinOptionsType, pad.builtinOptions = s.BuiltinOptions.PadOptions, s.PadOptionsT()
    sg.operators.insert(sg.operators.index(op), pad)
    op.inputs = [len(sg.tensors) - 2, *op.inputs[1:]]


def _sliced_conv(model, s) -> int:
    """A stride-1 conv whose output only a STRIDED_SLICE from 0 with steps [1, s, s, 1] reads is
    that conv at stride s on the same padded input: VALID stays VALID, SAME becomes an explicit
    PAD (SAME's amounts at stride 1) + VALID, since SAME at stride s would pad differently."""
    convs = (s.BuiltinOperator.CONV_2D, s.BuiltinOperator.DEPTHWISE_CONV_2D)
    changed = 0
    for sg in model.subgraphs:
        users: dict[int, list] = {}
        for op in sg.operators:
            for t in op.inputs:
                users.setdefault(t, []).append(op)
        for op in list(sg.operators):
            o = op.builtinOptions
            if _code_of(model, s, op.opcodeIndex) not in convs or (o.strideH, o.strideW) != (1, 1):
                continue
            found = _strided_slice_of(model, s, sg, op, users)
            if found is None:
                continue
            sl, (sh, sw) = found
            if o.padding == s.Padding.SAME:
                _, kh, kw, _ = sg.tensors[op.inputs[1]].shape
                th, tw = o.dilationHFactor * (kh - 1), o.dilationWFactor * (kw - 1)
                _insert_pad(model, s, sg, op, [(th // 2, th - th // 2), (tw // 2, tw - tw // 2)])
                o.padding = s.Padding.VALID
            o.strideH, o.strideW = sh, sw
            op.outputs = list(sl.outputs)
            sg.operators.remove(sl)
            changed += 1
    return changed


def _new_tensor(model, s, sg, shape: list[int], like, name: bytes, data: np.ndarray | None = None) -> int:
    """Index of a new tensor: an activation typed and quantised like ``like``, or (``data``) an
    int32 constant."""
    import copy

    t = s.TensorT()
    t.shape, t.name, t.buffer = [int(v) for v in shape], name, 0
    if data is None:
        t.type, t.quantization = like.type, copy.deepcopy(like.quantization)
    else:
        t.type = s.TensorType.INT32
        buf = s.BufferT()
        buf.data = np.asarray(data, np.int32).view(np.uint8).ravel().tolist()
        model.buffers.append(buf)
        t.buffer = len(model.buffers) - 1
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _op(model, s, builtin: int, inputs: list[int], outputs: list[int], options_type: int, options):
    """A new operator (version 2: int8 TRANSPOSE's; RESHAPE's only version is 1)."""
    op = s.OperatorT()
    op.opcodeIndex = _opcode(model, s, builtin, 2 if builtin == s.BuiltinOperator.TRANSPOSE else 1)
    op.inputs, op.outputs = inputs, outputs
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def _depth_to_space_as_transpose(model, s) -> int:
    """Every int8 DEPTH_TO_SPACE as RESHAPE → TRANSPOSE → RESHAPE (item 5 of the module docstring)."""
    B, Opt = s.BuiltinOperator, s.BuiltinOptions
    changed = 0
    for sg in model.subgraphs:
        for op in list(sg.operators):
            x = sg.tensors[op.inputs[0]]
            if _code_of(model, s, op.opcodeIndex) != B.DEPTH_TO_SPACE or x.type != s.TensorType.INT8:
                continue
            b, (n, h, w, c), out = op.builtinOptions.blockSize, x.shape, op.outputs[0]
            name = x.name or b"d2s"
            shapes = ([n * h, w, b, c // b], [n * h, b, w, c // b], list(sg.tensors[out].shape))
            mid = [
                _new_tensor(model, s, sg, shp, x, name + f"/d2s{i}".encode())
                for i, shp in enumerate(shapes[:2])
            ]
            consts = [
                _new_tensor(model, s, sg, [len(v)], None, name + f"/d2s_c{i}".encode(), v)
                for i, v in enumerate((shapes[0], [0, 2, 1, 3], shapes[2]))
            ]
            ro = [s.ReshapeOptionsT(), s.ReshapeOptionsT()]
            ro[0].newShape, ro[1].newShape = shapes[0], shapes[2]
            new = [
                _op(model, s, B.RESHAPE, [op.inputs[0], consts[0]], [mid[0]], Opt.ReshapeOptions, ro[0]),
                _op(
                    model,
                    s,
                    B.TRANSPOSE,
                    [mid[0], consts[1]],
                    [mid[1]],
                    Opt.TransposeOptions,
                    s.TransposeOptionsT(),
                ),
                _op(model, s, B.RESHAPE, [mid[1], consts[2]], [out], Opt.ReshapeOptions, ro[1]),
            ]
            at = sg.operators.index(op)
            sg.operators[at : at + 1] = new
            changed += 1
    return changed


def _drop_unused_opcodes(model) -> None:
    """Operator codes no op uses any more are removed: TFLite resolves every one at load."""
    used = sorted({op.opcodeIndex for sg in model.subgraphs for op in sg.operators})
    if len(used) == len(model.operatorCodes):
        return
    remap = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for sg in model.subgraphs:
        for op in sg.operators:
            op.opcodeIndex = remap[op.opcodeIndex]


def _drop_orphans(model) -> None:
    for i, sg in enumerate(model.subgraphs):
        used = {t for op in sg.operators for t in (*op.inputs, *op.outputs) if t >= 0}
        used |= set(sg.inputs) | set(sg.outputs)
        keep = sorted(used)
        if len(keep) == len(sg.tensors):
            continue
        remap = {old: new for new, old in enumerate(keep)}
        remap[-1] = -1
        sg.tensors = [sg.tensors[t] for t in keep]
        for op in sg.operators:
            op.inputs = [remap[t] for t in op.inputs]
            op.outputs = [remap[t] for t in op.outputs]
        sg.inputs = [remap[t] for t in sg.inputs]
        sg.outputs = [remap[t] for t in sg.outputs]
        for sig in model.signatureDefs or []:
            if sig.subgraphIndex == i:
                for tm in (*(sig.inputs or []), *(sig.outputs or [])):
                    tm.tensorIndex = remap[tm.tensorIndex]


def canonicalize(tflite: bytes) -> tuple[bytes, int]:
    """Return the rewritten model and the number of ops rewritten."""
    s = schema()
    changed = 0

    def change(model) -> None:
        nonlocal changed
        removed = remove_nchw_islands(model, s) + _sliced_conv(model, s)
        removed += _depth_to_space_as_transpose(model, s)
        changed = _grouped_to_depthwise(model, s) + _argmax_int32(model, s) + removed
        if removed:
            _drop_orphans(model)
            _drop_unused_opcodes(model)

    out = rewrite(tflite, change)
    return (out, changed) if changed else (tflite, 0)
