"""`lower(graph)`: the fusions memplan and codegen both rely on, so the memory plan and the generated
code describe the same buffers (docs/contracts.md §1).

1. Every CONV_2D / DEPTHWISE_CONV_2D / AVERAGE_POOL_2D / MAX_POOL_2D gets its padding resolved to
   ``options['explicit_padding'] = (top, bottom, left, right)`` and ``options['padding'] = 'EXPLICIT'``
   (the file's value stays in ``options['tflite_padding']``).
2. A PAD of H and W with the zero point as value, feeding only VALID convs, is folded into them:
   the padded tensor is never materialised.
3. RESIZE_BILINEAR → ARG_MAX(channels) at a graph output becomes one HARD_RESIZE_ARGMAX op with a
   uint8 [1, H, W] label map: the full-resolution logits are never materialised.
   Both also apply to float32 models (PAD with 0.0, float logits), which memplan plans and codegen
   refuses, so a float plan counts the same buffers an int8 one does, at float sizes.
4. SPACE_TO_BATCH_ND → CONV_2D / DEPTHWISE_CONV_2D → BATCH_TO_SPACE_ND (the converter's form of a
   dilated conv when the batch is dynamic) becomes one conv with native dilation, bit-exact with
   TFLite's reference kernels on the three ops; variants it cannot express stay unfused."""

from __future__ import annotations

from hardtool.core.graph.fuse import fuse_residual_adds
from hardtool.core.graph.ir import Graph, Op, Tensor
from hardtool.core.oprules import op_rules

# logits the fused RESIZE_BILINEAR -> ARG_MAX epilogue reads: int8 (our kernel), float32 (planned only)
FUSED_TAIL_TYPES = ("int8", "float32")
POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
# TFLite's schema: the builtins whose options give SAME / VALID padding over a window
WINDOW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", *POOLS)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite's SAME padding (before, after) for one spatial axis."""
    eff = (kernel - 1) * dilation + 1
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _kernel_hw(g: Graph, op: Op) -> tuple[int, int]:
    if op.name in POOLS:
        return int(op.options["filter_height"]), int(op.options["filter_width"])
    w = g.tensors[op.inputs[1]].shape  # CONV_2D [O,kh,kw,I], DEPTHWISE_CONV_2D [1,kh,kw,O]
    return int(w[1]), int(w[2])


def _resolve_padding(g: Graph) -> None:
    for op in g.ops:
        if op.name not in WINDOW_OPS or "explicit_padding" in op.options:
            continue
        o = op.options
        pad = (0, 0, 0, 0)
        if o.get("padding") == "SAME":
            _, h, w, _ = g.tensors[op.inputs[0]].shape
            kh, kw = _kernel_hw(g, op)
            t, b = same_padding(h, kh, int(o.get("stride_h", 1)), int(o.get("dilation_h_factor", 1)))
            l_, r = same_padding(w, kw, int(o.get("stride_w", 1)), int(o.get("dilation_w_factor", 1)))
            pad = (t, b, l_, r)
        o["tflite_padding"] = o.get("padding")
        o["padding"] = "EXPLICIT"
        o["explicit_padding"] = pad


def _pads_with_zero(x: Tensor, y: Tensor) -> bool:
    """The padding value a conv's own padding uses: an int8 zero point (real 0) kept by the PAD, or
    a float32 tensor's 0.0 (float models are planned, never run, by hardtool)."""
    if x.dtype == "float32" and y.dtype == "float32":
        return x.quant is None and y.quant is None
    return x.dtype == "int8" and x.quant is not None and x.quant.same_as(y.quant)


def _pad_amounts(g: Graph, op: Op) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) if this PAD/PADV2 pads only H and W of an int8 tensor with its
    zero point (or of a float32 tensor with 0.0)."""
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    p = g.tensors[op.inputs[1]].data if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if p is None or p.shape != (4, 2) or len(x.shape) != 4 or not _pads_with_zero(x, y):
        return None
    if int(p[0, 0]) or int(p[0, 1]) or int(p[3, 0]) or int(p[3, 1]):
        return None
    if op.name == "PADV2":
        v = g.tensors[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        zero = y.quant.zero_point[0] if y.quant is not None else 0
        if v is None or v.size != 1 or v.reshape(-1)[0] != zero:
            return None
    return int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])


def _fold_pads(g: Graph) -> set[int]:
    consumers = g.consumers()
    folds = op_rules().folds_pad
    dead: set[int] = set()
    for op in g.ops:
        if op.name not in ("PAD", "PADV2"):
            continue
        pad = _pad_amounts(g, op)
        y = op.outputs[0]
        users = [g.ops[i] for i in consumers.get(y, [])]
        if pad is None or y in g.outputs or not users:
            continue
        if not all(
            u.name in folds
            and u.options.get("tflite_padding") == "VALID"
            and u.inputs[0] == y
            and y not in u.inputs[1:]
            for u in users
        ):
            continue
        for u in users:
            t, b, l_, r = u.options["explicit_padding"]
            u.options["explicit_padding"] = (t + pad[0], b + pad[1], l_ + pad[2], r + pad[3])
            u.options["folded_pad"] = True
            u.inputs = (op.inputs[0], *u.inputs[1:])
            u.source_ops = tuple(sorted((*op.source_ops, *u.source_ops)))
        dead.add(op.index)
    return dead


def _const_ints(g: Graph, op: Op, i: int, shape: tuple[int, ...]) -> list[int] | None:
    t = op.inputs[i] if len(op.inputs) > i else -1
    data = g.tensors[t].data if t >= 0 else None
    return None if data is None or data.shape != shape else [int(v) for v in data.reshape(-1)]


def _sole_user(g: Graph, consumers: dict[int, list[int]], tensor: int, name: tuple[str, ...]) -> Op | None:
    """The only op reading ``tensor`` (as its first and only data input) if its type is in ``name``."""
    users = consumers.get(tensor, [])
    if len(users) != 1 or tensor in g.outputs:
        return None
    op = g.ops[users[0]]
    if op.name not in name or op.inputs[0] != tensor or tensor in op.inputs[1:]:
        return None
    return op


def _dilated_padding(g: Graph, s2b: Op, conv: Op, b2s: Op) -> tuple[int, int, int, int] | None:
    """Explicit (top, bottom, left, right) padding of the dilated conv equal to the pattern, or None.

    The space-to-batch pads with the zero point (real 0, as a conv's padding) and the block-strided
    sub-images convolved at stride 1 and re-interleaved are a conv dilated by the block on the padded
    input: out[y] = sum_k in[y + crop_top - pad_top - inner_top * d + k * d]."""
    block = _const_ints(g, s2b, 1, (2,))
    pads = _const_ints(g, s2b, 2, (2, 2))
    crops = _const_ints(g, b2s, 2, (2, 2))
    o = conv.options
    if block is None or pads is None or crops is None or _const_ints(g, b2s, 1, (2,)) != block:
        return None
    if any(int(o.get(k, 1)) != 1 for k in ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor")):
        return None
    (dh, dw), (it, _, il, _) = block, o["explicit_padding"]
    top, left = pads[0] + it * dh - crops[0], pads[2] + il * dw - crops[2]
    _, h, w, _ = g.tensors[s2b.inputs[0]].shape
    _, oh, ow, _ = g.tensors[b2s.outputs[0]].shape
    kh, kw = _kernel_hw(g, conv)
    bottom, right = oh - 1 + (kh - 1) * dh + 1 - h - top, ow - 1 + (kw - 1) * dw + 1 - w - left
    return (top, bottom, left, right) if min(top, bottom, left, right) >= 0 else None


def _fold_space_to_batch(g: Graph) -> set[int]:
    consumers = g.consumers()
    dead: set[int] = set()
    for s2b in g.ops:
        if s2b.name != "SPACE_TO_BATCH_ND":
            continue
        x, y = g.tensors[s2b.inputs[0]], g.tensors[s2b.outputs[0]]
        conv = _sole_user(g, consumers, y.index, tuple(op_rules().folds_pad))
        b2s = conv and _sole_user(g, consumers, conv.outputs[0], ("BATCH_TO_SPACE_ND",))
        if conv is None or b2s is None or x.dtype != "int8" or len(x.shape) != 4:
            continue
        z, out = g.tensors[conv.outputs[0]], g.tensors[b2s.outputs[0]]
        if (
            x.quant is None
            or not x.quant.same_as(y.quant)
            or z.quant is None
            or not z.quant.same_as(out.quant)
        ):
            continue
        pad = _dilated_padding(g, s2b, conv, b2s)
        if pad is None or out.shape[0] != x.shape[0]:
            continue
        block = _const_ints(g, s2b, 1, (2,))
        conv.inputs = (x.index, *conv.inputs[1:])
        conv.outputs = (out.index,)
        conv.options.update(dilation_h_factor=block[0], dilation_w_factor=block[1], explicit_padding=pad)
        conv.options["folded_space_to_batch"] = True
        conv.source_ops = tuple(sorted((*s2b.source_ops, *conv.source_ops, *b2s.source_ops)))
        dead |= {s2b.index, b2s.index}
    return dead


def _fuse_resize_argmax(g: Graph) -> set[int]:
    consumers = g.consumers()
    producers = g.producers()
    dead: set[int] = set()
    for a in g.ops:
        if a.name != "ARG_MAX" or a.outputs[0] not in g.outputs or consumers.get(a.outputs[0]):
            continue
        y = a.inputs[0]
        r_index = producers.get(y)
        if r_index is None or g.ops[r_index].name != "RESIZE_BILINEAR":
            continue
        r = g.ops[r_index]
        axis = g.tensors[a.inputs[1]].data if len(a.inputs) > 1 else None
        ys = g.tensors[y]
        if axis is None or axis.size != 1 or int(axis.reshape(-1)[0]) % len(ys.shape) != len(ys.shape) - 1:
            continue
        x = g.tensors[r.inputs[0]]
        if consumers.get(y) != [a.index] or y in g.outputs or x.dtype not in FUSED_TAIL_TYPES:
            continue
        if ys.shape[-1] > 256:
            continue
        if len(ys.shape) != 4 or ys.shape[0] != 1:
            continue
        z = g.tensors[a.outputs[0]]
        source_dtype = z.dtype
        z.dtype, z.shape, z.quant = "uint8", tuple(ys.shape[:3]), None
        a.name = "HARD_RESIZE_ARGMAX"
        a.inputs = (x.index,)
        a.options = {
            "align_corners": bool(r.options.get("align_corners", False)),
            "half_pixel_centers": bool(r.options.get("half_pixel_centers", False)),
            "output_height": int(ys.shape[1]),
            "output_width": int(ys.shape[2]),
            "num_classes": int(ys.shape[3]),
            "source_output_type": source_dtype,
        }
        a.source_ops = tuple(sorted((*r.source_ops, *a.source_ops)))
        dead.add(r.index)
    return dead


def _compact(g: Graph, dead_ops: set[int]) -> Graph:
    ops = [op for op in g.ops if op.index not in dead_ops]
    used = {t for op in ops for t in (*op.inputs, *op.outputs) if t >= 0} | set(g.inputs) | set(g.outputs)
    keep = sorted(used)
    remap = {old: new for new, old in enumerate(keep)}
    remap[-1] = -1
    tensors: list[Tensor] = []
    for new, old in enumerate(keep):
        t = g.tensors[old]
        t.index = new
        tensors.append(t)
    for i, op in enumerate(ops):
        op.index = i
        op.inputs = tuple(remap[t] for t in op.inputs)
        op.outputs = tuple(remap[t] for t in op.outputs)
    g.tensors, g.ops = tensors, ops
    g.inputs = tuple(remap[t] for t in g.inputs)
    g.outputs = tuple(remap[t] for t in g.outputs)
    return g


def lower(graph: Graph) -> Graph:
    """A new graph with padding resolved, space-to-batch dilated convs folded, PADs folded into
    convs, the resize+argmax tail fused and residual ADDs folded into a convolution (``fuse``)."""
    if graph.lowered:
        return graph
    g = graph.copy()
    _resolve_padding(g)
    dead = _fold_space_to_batch(g)
    g = _compact(g, dead)
    dead = _fold_pads(g) | _fuse_resize_argmax(g)
    g = _compact(g, dead)
    g = _compact(g, fuse_residual_adds(g))
    g.lowered = True
    g.check()
    return g
