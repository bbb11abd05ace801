"""Quantisation: torch → ONNX → TensorFlow → full-int8 TFLite, with float vs int8 accuracy."""

from pathlib import Path


def zoo_tflite(arch: str, input_size: tuple[int, int], out_dir: Path, seed: int = 0) -> Path:
    """An int8 .tflite of a zoo variant (seeded random weights); see pipeline.zoo_tflite."""
    from hardtool.quantize.pipeline import zoo_tflite as _z

    return _z(arch, input_size, out_dir, seed)
