"""Host runtimes for the exported models: onnxruntime for ONNX and TFLite's reference kernels
for the int8 graph (the kernels TFLite Micro and our C runtime match bit for bit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hardtool.core.errors import HardtoolError
from hardtool.data.cityscapes import normalize
from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD


def label_map(out: np.ndarray, size: tuple[int, int], channels_last: bool) -> np.ndarray:
    """A segmentation output as a uint8 label map of ``size``: a label map as is, logits (one
    image's [C, H, W] or [H, W, C]) by argmax over classes; nearest-resized when smaller."""
    if out.ndim == 3:
        out = np.argmax(out, axis=-1 if channels_last else 0)
    if out.ndim != 2:
        raise HardtoolError(
            f"a segmentation model outputs a label map or [C, H, W] logits, not shape {list(out.shape)}"
        )
    if out.shape != tuple(size):
        rows = np.arange(size[0]) * out.shape[0] // size[0]
        cols = np.arange(size[1]) * out.shape[1] // size[1]
        out = out[rows][:, cols]
    return out.astype(np.uint8)


class Int8Model:
    """An int8 .tflite on the reference interpreter, with the preprocessing stored in its metadata."""

    def __init__(self, path: Path, mean=None, std=None):
        from hardtool.core.graph.metadata import read_metadata
        from hardtool.quantize.validate import load_interpreter

        self.path = Path(path)
        if not self.path.is_file():
            raise HardtoolError(f"{self.path} not found")
        data = self.path.read_bytes()
        self.interp = load_interpreter(self.path)
        try:
            meta = read_metadata(data)
        except Exception:  # noqa: BLE001 - a model written by another tool has no metadata of ours
            meta = {}
        self.meta = meta
        self.mean = tuple(mean or meta.get("mean", DEFAULT_MEAN))
        self.std = tuple(std or meta.get("std", DEFAULT_STD))
        d = self.interp.get_input_details()[0]
        self.input_index = d["index"]
        self.input_dtype = np.dtype(d["dtype"])
        self.scale, self.zero_point = d["quantization"]
        _, self.h, self.w, _ = d["shape"]
        self.output_index = self.interp.get_output_details()[0]["index"]

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.h), int(self.w)

    def quantize_input(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 [H, W, 3] → the int8 NHWC tensor the model (and the device) consumes."""
        x = normalize(rgb, self.mean, self.std).transpose(1, 2, 0)
        if self.input_dtype != np.int8:
            return x[None].astype(self.input_dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)[None]

    def run_int8(self, x_int8: np.ndarray) -> np.ndarray:
        self.interp.set_tensor(self.input_index, x_int8)
        self.interp.invoke()
        return label_map(self.interp.get_tensor(self.output_index)[0], self.input_size, channels_last=True)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.run_int8(self.quantize_input(rgb))


class OnnxModel:
    def __init__(self, path: Path, mean=DEFAULT_MEAN, std=DEFAULT_STD):
        import onnxruntime as ort

        from hardtool.quantize.export import load_onnx, onnx_input_size

        m = load_onnx(path)
        self.input_size = onnx_input_size(m)
        self.sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        self.input_name = self.sess.get_inputs()[0].name
        self.mean, self.std = mean, std

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = self.sess.run(None, {self.input_name: normalize(rgb, self.mean, self.std)[None]})[0]
        return label_map(out[0], self.input_size, channels_last=False)


def load_predictor(path: Path):
    """(predictor, input size, info) for .onnx or .tflite files."""
    path = Path(path)
    if not path.is_file():
        raise HardtoolError(f"model {path} not found")
    if path.suffix.lower() == ".onnx":
        m = OnnxModel(path)
        return m, m.input_size, {"kind": "onnx"}
    m = Int8Model(path)
    return m, m.input_size, {"kind": "tflite", "mean": m.mean, "std": m.std}
