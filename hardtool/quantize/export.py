"""torch → ONNX, checked against torch with onnxruntime on real images."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from hardtool.core.errors import HardtoolError
from hardtool.models.hard import HARD, ExportHARD
from hardtool.quantize.export_modules import exportable


def export_onnx(model: HARD, input_size: tuple[int, int], path: Path, argmax: bool = True) -> None:
    """Export the deployed graph (logits → bilinear upsample → argmax, or with ``argmax=False``
    the model's own logits) at a fixed input size.

    The TorchScript-based exporter at opset 17 gives a plain graph that onnx2tf converts into
    native TFLite ops (no leftover transposes). Modules the exporter cannot take are first
    swapped for exact equivalents (`export_modules.exportable`)."""
    x = torch.zeros(1, 3, *input_size)
    model = exportable(model.eval())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ExportHARD(model.eval()).eval()
            if argmax
            else model.eval(),  # eval wrapper: export restores its mode
            x,
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["labels" if argmax else "logits"],
            do_constant_folding=True,
        )


def load_onnx(path: Path) -> onnx.ModelProto:
    """Load and check an ONNX file; corrupt files become one clear error."""
    try:
        m = onnx.load(str(path))
        onnx.checker.check_model(m)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise HardtoolError(
            f"{path} is not a valid ONNX model ({type(e).__name__}: {str(e)[:120]}); "
            "re-export it from the checkpoint"
        ) from None
    return m


def onnx_input_size(m: onnx.ModelProto) -> tuple[int, int]:
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or min(dims[2:]) <= 0:
        raise HardtoolError(f"ONNX input must be a fixed [1, 3, H, W] image; got {dims}")
    return dims[2], dims[3]


def logits_name(m: onnx.ModelProto) -> str:
    """The tensor entering the final Resize: the 1/8-resolution logits."""
    for node in m.graph.node:
        if node.op_type == "Resize":
            last = node
    try:
        return last.input[0]
    except NameError:
        raise HardtoolError(
            "ONNX graph has no final Resize → ArgMax tail; export with hardtool quantize"
        ) from None


def compare_with_torch(model: HARD, onnx_path: Path, images: np.ndarray) -> dict:
    """Max |logit difference| and label agreement of onnxruntime vs torch on real images."""
    import onnxruntime as ort

    m = onnx.load(str(onnx_path))
    name = logits_name(m)
    m.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    buf = io.BytesIO()
    onnx.save(m, buf)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    max_diff, agree, total = 0.0, 0, 0
    exp = ExportHARD(model.eval())
    for x in images:
        xt = torch.from_numpy(x[None])
        with torch.no_grad():
            ref_logits = model(xt).numpy()
            ref_labels = exp(xt).numpy()
        labels, logits = sess.run(["labels", name], {"input": x[None]})
        max_diff = max(max_diff, float(np.abs(logits - ref_logits).max()))
        agree += int((labels == ref_labels).sum())
        total += labels.size
    return {"max_abs_logit_diff": max_diff, "label_agreement": agree / max(total, 1), "images": len(images)}
