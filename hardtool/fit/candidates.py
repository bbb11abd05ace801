"""The candidates `hardtool fit` weighs: HARD-Edge (or another HARD variant) at width multipliers
and input sizes (multiples of 32), each exported to a full-int8 .tflite with seeded random
weights (sizes, plans and instruction counts do not depend on the weights' values), plus any
user .tflite at its own size."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardtool.core.errors import HardtoolError

DEFAULT_WIDTHS = (0.5, 0.75, 1.0)
DEFAULT_SIZES = ((64, 128), (96, 192), (128, 256))
CALIB_IMAGES = 4  # random calibration: the int8 graph's shapes do not depend on it


@dataclass(frozen=True)
class Candidate:
    name: str  # e.g. hard_edge@w0.75 96x192, or the user file's name
    arch: str | None  # None: a user .tflite
    width: float
    size: tuple[int, int]
    macs: int | None = None
    tflite: Path | None = None  # a user file (or one already exported)


def parse_size(text: str) -> tuple[int, int]:
    """'96x192' -> (96, 192); both multiples of 32."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise HardtoolError(f"bad --size '{text}'; write HxW, e.g. 96x192") from None
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise HardtoolError(f"--size {text}: height and width must be positive multiples of 32")
    return h, w


def family(arch: str, widths: tuple[float, ...], sizes: tuple[tuple[int, int], ...]) -> list[Candidate]:
    """Every width x size of a HARD variant, smallest MACs first; a .tflite path: that one file."""
    from hardtool.models.registry import PEERS, canonical, model_stats, split_width

    if arch.endswith(".tflite"):
        path = Path(arch)
        if not path.is_file():
            raise HardtoolError(f"model file {arch} not found")
        return [Candidate(path.stem, None, 1.0, (0, 0), None, path)]
    base = canonical(split_width(arch)[0])
    if base in PEERS:
        raise HardtoolError(
            f"'{arch}': fit searches the HARD variants (or a .tflite); {base} is a peer model"
        )
    out = []
    for w in widths:
        name = base if w == 1.0 else f"{base}@w{w:g}"
        for s in sizes:
            macs = model_stats(name, s).macs
            out.append(Candidate(f"{name} {s[0]}x{s[1]}", name, w, s, macs))
    return sorted(out, key=lambda c: (c.macs, c.name))


def export_int8(c: Candidate, out: Path, seed: int = 0) -> Path:
    """The candidate's full-int8 .tflite in ``out`` (kept: a second fit reuses it)."""
    if c.tflite is not None:
        return c.tflite
    path = out / f"{c.name.replace(' ', '_').replace('@', '_')}.tflite"
    if path.is_file():
        return path
    import torch

    from hardtool.core.files import atomic_write_bytes
    from hardtool.models.checkpoint import DEFAULT_MEAN, DEFAULT_STD
    from hardtool.models.registry import build_model
    from hardtool.quantize import convert, export
    from hardtool.quantize.pipeline import random_bn_stats

    torch.manual_seed(seed)
    model = random_bn_stats(build_model(c.arch).eval())
    calib = np.random.default_rng(seed).standard_normal((CALIB_IMAGES, 3, *c.size)).astype(np.float32)
    meta = {"arch": c.arch, "input_size": list(c.size), "mean": list(DEFAULT_MEAN), "std": list(DEFAULT_STD)}
    with tempfile.TemporaryDirectory(prefix="hardtool-fit-") as work:
        export.export_onnx(model, c.size, Path(work) / "model.onnx")
        flats, _, _ = convert.onnx_to_tflites(
            Path(work) / "model.onnx", Path(work), calib, meta | {"weights": f"random (seed {seed})"}
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, flats["int8"])
    return path
