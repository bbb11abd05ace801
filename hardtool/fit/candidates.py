"""The candidates `hardtool fit` weighs: HARD-Edge (or another HARD variant) at width multipliers
and input sizes (multiples of 32), each exported to a full-int8 .tflite with seeded random
weights (sizes, plans and instruction counts do not depend on the weights' values), plus any
user .tflite at its own size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hardtool.core.errors import HardtoolError

DEFAULT_WIDTHS = (0.5, 0.75, 1.0)
DEFAULT_SIZES = ((64, 128), (96, 192), (128, 256))


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


def family(
    arch: str, widths: tuple[float, ...] | None, sizes: tuple[tuple[int, int], ...]
) -> list[Candidate]:
    """Every width x size of a HARD variant, smallest MACs first (widths None: the name's own
    width, e.g. hard_edge@w0.75, else DEFAULT_WIDTHS); a .tflite path: that one file."""
    from hardtool.models.registry import PEERS, canonical, model_stats, split_width

    if arch.endswith(".tflite"):
        path = Path(arch)
        if not path.is_file():
            raise HardtoolError(f"model file {arch} not found")
        return [Candidate(path.stem, None, 1.0, (0, 0), None, path)]
    base = canonical(split_width(arch)[0])
    if widths is None:
        widths = (split_width(arch)[1],) if "@" in arch else DEFAULT_WIDTHS
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
    """The candidate's full-int8 .tflite in ``out`` (seeded weights, calibrated on synthetic
    scenes; kept: a second fit reuses it)."""
    from hardtool.quantize import zoo_tflite

    if c.tflite is not None:
        return c.tflite
    return zoo_tflite(c.arch, c.size, out, seed)
