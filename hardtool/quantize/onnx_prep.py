"""The user's ONNX graph made ready for onnx2tf and int8 calibration, before any conversion:
one fixed [1, C, H, W] input, padded MaxPools padded with a finite value, and optionally the
argmax label-map tail.

A padded ``MaxPool`` reaches TFLite as PADV2 with −FLT_MAX then a VALID pool; the int8
calibration then takes −3.4e38 as the tensor's minimum, the scale becomes ~1e36 and every value
after it is zero. Padding with the smallest value the pool's input takes on the calibration
data (0 after a ReLU) gives the same maximum wherever a window holds a real value — every
window does, since a pad is narrower than the kernel — and the same int8 result everywhere,
because no int8 value can be below the tensor's calibrated minimum."""

from __future__ import annotations

import io

import numpy as np
import onnx
from onnx import helper, numpy_helper

from hardtool.core.errors import HardtoolError


def _dims(vi) -> list:
    return [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
        for d in vi.type.tensor_type.shape.dim
    ]


def graph_inputs(m: onnx.ModelProto) -> list:
    """The real inputs (ONNX files from older exporters list initializers among the inputs)."""
    inits = {i.name for i in m.graph.initializer}
    return [i for i in m.graph.input if i.name not in inits]


def fix_input(m: onnx.ModelProto, name: str, input_size: tuple[int, int] | None) -> tuple[int, int]:
    """Check (and with ``input_size``, set) the model's one image input; returns its (H, W).
    A dynamic batch becomes 1; dynamic H/W need ``input_size``; a fixed batch > 1 is refused."""
    ins = graph_inputs(m)
    if len(ins) != 1:
        raise HardtoolError(
            f"{name} has {len(ins)} inputs ({', '.join(i.name for i in ins)}); hardtool quantizes "
            "models with one image input: re-export with a single input"
        )
    vi = ins[0]
    dims = _dims(vi)
    if len(dims) != 4:
        raise HardtoolError(f"{name}: input '{vi.name}' has shape {dims}; expected [1, C, H, W] (NCHW)")
    n, c, h, w = dims
    if isinstance(n, int) and n > 1:
        raise HardtoolError(
            f"{name}: input '{vi.name}' has batch {n}; re-export it with a batch of 1 "
            "(torch.onnx.export with an example input of shape [1, C, H, W])"
        )
    if not isinstance(c, int) or c <= 0:
        raise HardtoolError(
            f"{name}: input '{vi.name}' has a dynamic channel count; re-export with a fixed one"
        )
    fixed = isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0
    if fixed and input_size and tuple(input_size) != (h, w):
        raise HardtoolError(f"{name}: input '{vi.name}' has a fixed size of {h}×{w}; drop --input-size")
    if not fixed and not input_size:
        raise HardtoolError(
            f"{name}: input '{vi.name}' has a dynamic size {dims}; give it with --input-size H W"
        )
    h, w = (h, w) if fixed else (int(input_size[0]), int(input_size[1]))
    shape = vi.type.tensor_type.shape
    for d, v in zip(shape.dim, (1, c, h, w), strict=True):
        d.ClearField("dim_param")
        d.dim_value = v
    return h, w


def _inferred(m: onnx.ModelProto) -> onnx.ModelProto:
    """The model with static shapes where they follow from the input (for onnx2tf's sake)."""
    try:
        return onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # noqa: BLE001 - shape inference is a help, not a requirement
        return m


def _producers(m: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in m.graph.node for o in n.output}


def _tensor_minima(m: onnx.ModelProto, names: list[str], calib_nchw: np.ndarray) -> dict[str, float]:
    """The smallest value each named tensor takes on the calibration images (onnxruntime)."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    del probe.graph.output[:]
    for n in names:
        probe.graph.output.append(helper.make_empty_tensor_value_info(n))
    buf = io.BytesIO()
    onnx.save(probe, buf)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    feed = sess.get_inputs()[0].name
    lows = {n: np.inf for n in names}
    for x in calib_nchw:
        for n, v in zip(names, sess.run(names, {feed: x[None].astype(np.float32)}), strict=True):
            lows[n] = min(lows[n], float(np.min(v)))
    return lows


NONNEG = {"Relu", "Sigmoid", "HardSigmoid", "Softmax", "Abs"}


def simplified(m: onnx.ModelProto) -> onnx.ModelProto:
    """onnxsim's simplification, done here (not inside onnx2tf) so that edits made after it stay:
    onnxsim folds a Pad into the MaxPool after it. The model as is when onnxsim cannot run."""
    import onnxsim

    from hardtool.core.quiet import silence_fds

    try:
        with silence_fds((1, 2)):
            out, ok = onnxsim.simplify(m)
    except Exception:  # noqa: BLE001 - onnxsim is an optimisation; onnx2tf copes without it
        return m
    return out if ok else m


def pad_maxpools(m: onnx.ModelProto, calib_nchw: np.ndarray) -> int:
    """Rewrite every padded MaxPool as Pad(constant = the input's calibrated minimum, or 0 after a
    non-negative op) → unpadded MaxPool. Returns how many were rewritten."""
    pools = [
        n for n in m.graph.node
        if n.op_type == "MaxPool" and any(a.name == "pads" and any(a.ints) for a in n.attribute)
    ]  # fmt: skip
    if not pools:
        return 0
    prod = _producers(m)
    need = [
        p.input[0] for p in pools if prod.get(p.input[0]) is None or prod[p.input[0]].op_type not in NONNEG
    ]
    lows = _tensor_minima(m, sorted(set(need)), calib_nchw) if need else {}
    nodes = list(m.graph.node)
    for i, p in enumerate(pools):
        pads = next(list(a.ints) for a in p.attribute if a.name == "pads")
        k = len(pads) // 2
        value = min(0.0, lows.get(p.input[0], 0.0))
        padded = f"{p.input[0]}__hardtool_pad{i}"
        full = [0, 0, *pads[:k], 0, 0, *pads[k:]]  # ONNX Pad: all begins, then all ends, per axis
        m.graph.initializer.extend(
            [
                numpy_helper.from_array(np.asarray(full, np.int64), f"{padded}_pads"),
                numpy_helper.from_array(np.asarray(value, np.float32), f"{padded}_value"),
            ]
        )
        pad = helper.make_node(
            "Pad", [p.input[0], f"{padded}_pads", f"{padded}_value"], [padded], mode="constant"
        )
        nodes.insert(nodes.index(p), pad)
        for a in p.attribute:
            if a.name == "pads":
                del a.ints[:]
                a.ints.extend([0] * len(pads))
        p.input[0] = padded
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return len(pools)


def add_argmax(m: onnx.ModelProto) -> None:
    """Append ArgMax over channels to the one NCHW output: logits → label map (the tail codegen
    fuses with a preceding bilinear Resize)."""
    if len(m.graph.output) != 1:
        raise HardtoolError(f"--tail argmax needs a model with one output, not {len(m.graph.output)}")
    out = _inferred(m).graph.output[0]
    dims = _dims(out)
    if len(dims) != 4:
        raise HardtoolError(
            f"--tail argmax needs [1, classes, H, W] logits; output '{out.name}' has shape {dims}"
        )
    labels = f"{out.name}_labels"
    m.graph.node.append(helper.make_node("ArgMax", [out.name], [labels], axis=1, keepdims=0))
    del m.graph.output[:]
    shape = [d if isinstance(d, int) else None for d in (dims[0], dims[2], dims[3])]
    m.graph.output.append(helper.make_tensor_value_info(labels, onnx.TensorProto.INT64, shape))


def output_shape(m: onnx.ModelProto) -> list:
    """The first output's shape as ONNX records it (after shape inference)."""
    return _dims(_inferred(m).graph.output[0])


def ends_in_argmax(m: onnx.ModelProto) -> bool:
    prod = _producers(m).get(m.graph.output[0].name)
    return prod is not None and prod.op_type == "ArgMax"


def argmax_logits(m: onnx.ModelProto) -> str | None:
    """For a graph ending in ArgMax over channels: the logits it takes the argmax of, before the
    bilinear Resize feeding it if there is one (the label map's upsampled logits); else None."""
    prod = _producers(m)
    last = prod.get(m.graph.output[0].name)
    if last is None or last.op_type != "ArgMax":
        return None
    before = prod.get(last.input[0])
    return before.input[0] if before is not None and before.op_type == "Resize" else last.input[0]
