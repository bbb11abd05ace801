"""Quantisation: torch → ONNX → TensorFlow → full-int8 TFLite, with float vs int8 accuracy."""

from pathlib import Path


def zoo_tflite(
    arch: str, input_size: tuple[int, int], out_dir: Path, seed: int = 0, dtype: str = "int8"
) -> Path:
    """A .tflite (full int8, or float32) of a zoo model, HARD variant or peer, with seeded
    random weights; see pipeline.zoo_tflite."""
    from hardtool.quantize.pipeline import zoo_tflite as _z

    return _z(arch, input_size, out_dir, seed, dtype=dtype)
