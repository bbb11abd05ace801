"""How far the int8 model's outputs are from the float model's on held-out inputs: RMSE, max
absolute error and cosine similarity (the metrics ST's validate prints), and top-1 accuracy for
classifiers. Float outputs come from onnxruntime on the ONNX file that was converted; int8 ones
from TFLite's reference kernels (which TFLite Micro and hardtool's runtime match bit for bit),
dequantised with the output tensor's scale and zero point."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# below this cosine similarity between float and int8 outputs, quantize warns
COSINE_MIN = 0.98


def run_onnx(onnx_path: Path, xs: np.ndarray) -> np.ndarray:
    """The first output of the ONNX model on each input [n, C, H, W] → [n, ...] (NCHW)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: x[None].astype(np.float32)})[0][0] for x in xs])


def run_tflite(tflite_path: Path, xs: np.ndarray) -> np.ndarray:
    """The first output of the (int8) TFLite model on NCHW float inputs, dequantised, with a 4-D
    output transposed back to NCHW so it lines up with the ONNX model's."""
    from hardtool.quantize.validate import load_interpreter

    it = load_interpreter(tflite_path)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    s_in, z_in = inp["quantization"]
    s_out, z_out = out["quantization"]
    res = []
    for x in xs:
        x = np.transpose(x, (1, 2, 0))[None] if len(inp["shape"]) == 4 else x[None]
        if np.dtype(inp["dtype"]) == np.int8:
            x = np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8)
        it.set_tensor(inp["index"], x.astype(inp["dtype"]))
        it.invoke()
        y = it.get_tensor(out["index"])[0]
        y = (y.astype(np.float32) - z_out) * s_out if np.dtype(out["dtype"]) == np.int8 and s_out else y
        res.append(np.transpose(y, (2, 0, 1)) if y.ndim == 3 and len(out["shape"]) == 4 else y)
    return np.stack(res)


def output_report(ref: np.ndarray, q: np.ndarray, cosine_min: float = COSINE_MIN) -> dict:
    """Float vs int8 outputs over all held-out samples, and whether they are within the threshold."""
    if q.shape != ref.shape and q.ndim == 4 and np.transpose(q, (0, 2, 3, 1)).shape == ref.shape:
        q = np.transpose(q, (0, 2, 3, 1))  # the int8 graph already ends in NCHW (a final TRANSPOSE)
    r, v = ref.astype(np.float64).ravel(), q.astype(np.float64).ravel()
    denom = float(np.linalg.norm(r) * np.linalg.norm(v))
    cos = float(r @ v / denom) if denom > 0 else (1.0 if not r.any() and not v.any() else 0.0)
    rep = {
        "samples": int(len(ref)),
        "output_shape": list(ref.shape[1:]),
        "rmse": float(np.sqrt(np.mean((r - v) ** 2))),
        "max_abs_error": float(np.max(np.abs(r - v))),
        "cosine_similarity": cos,
        "float_std": float(np.std(r)),
        "threshold": {"cosine_similarity_min": cosine_min},
    }
    rep["within_threshold"] = cos >= cosine_min
    return rep


def top1(outputs: np.ndarray, labels: list[int]) -> float:
    return float(np.mean(np.argmax(outputs.reshape(len(outputs), -1), axis=1) == np.asarray(labels)))


def classification_report(ref: np.ndarray, q: np.ndarray, labels: list[int], classes: list[str]) -> dict:
    """Top-1 of float and int8 on the held-out images, and how often their predictions agree."""
    n = int(ref.reshape(len(ref), -1).shape[1])
    return {
        "images": len(labels),
        "classes": len(classes),
        "model_outputs": n,
        "float": {"top1": top1(ref, labels)},
        "int8": {"top1": top1(q, labels)},
        "agreement": float(
            np.mean(np.argmax(ref.reshape(len(ref), -1), 1) == np.argmax(q.reshape(len(q), -1), 1))
        ),
    }
