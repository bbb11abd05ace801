"""Measured CONV_2D kernel choices: per layer signature, the candidates' (kernel, filter layout,
GEMM tile) exact instruction counts on the emulated Cortex-M7 (``hardtool codegen --tune``
measures them, hardtool.device.conv_tune) and the fastest, cached in ``conv_tuned.json`` beside
this file (or $HARDTOOL_CONV_TUNE_CACHE). The conv record chooses the cached candidate when the
layer's signature is there (deterministic given the cache), else by rule.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hardtool.core.graph.ir import Graph, Op

CACHE = Path(__file__).resolve().parent / "conv_tuned.json"
Q15 = "gemm_q15_pairs"
# output pixels x channels per GEMM tile: the q15-filter GEMMs take hard_conv_params.tile_pixels
# (4, their default, or 2); the int8-filter GEMMs have the one 2 x 2 tile
TILE_SUFFIX = ":2px"  # a candidate's name: the kernel, plus this for the q15 GEMMs' 2-pixel tile


@dataclass(frozen=True)
class Candidate:
    """One way to run a conv layer: kernel, filter layout and tile (``tile_pixels`` 0: the
    kernel's default), named in the cache as the kernel, with TILE_SUFFIX for the 2-pixel tile."""

    name: str
    kernel: str
    layout: str | None
    tile_pixels: int = 0

    @property
    def tile(self) -> str:
        pixels = self.tile_pixels or (4 if self.layout == Q15 else 2)
        return f"{pixels}-pixel x 2-channel"


def cache_path() -> Path:
    """$HARDTOOL_CONV_TUNE_CACHE, else the cache kept in the package (``CACHE``)."""
    env = os.environ.get("HARDTOOL_CONV_TUNE_CACHE")
    return Path(env) if env else CACHE


def candidates(g: Graph, op: Op) -> list[Candidate]:
    """Every (kernel, filter layout, tile) a DSP target can run this (non-grouped) CONV_2D with."""
    w = g.tensors[op.inputs[1]].shape
    pads = tuple(op.options.get("explicit_padding", (0, 0, 0, 0)))
    kernels = [("hard_convolve_im2col_q15_s8", Q15), ("hard_convolve_im2col_s8", None)]
    if w[1] == w[2] == 1 and not any(pads):
        kernels = [("hard_convolve_1x1_q15_s8", Q15), ("hard_convolve_1x1_s8", None), *kernels]
    out = []
    for kernel, layout in kernels:
        out.append(Candidate(kernel, kernel, layout))
        if layout == Q15:
            out.append(Candidate(kernel + TILE_SUFFIX, kernel, layout, 2))
    return out


def layouts(g: Graph, op: Op) -> dict[str, str | None]:
    """Each candidate kernel's filter layout."""
    return {c.kernel: c.layout for c in candidates(g, op)}


def signature(g: Graph, op: Op) -> str:
    """What the instruction count depends on: shapes, geometry, whether the output is clamped."""
    x, w, y = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    o = op.options
    geo = [o.get(k, 1) for k in ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor")]
    act = o.get("fused_activation_function", "NONE")
    dims = lambda s: "x".join(map(str, s))  # noqa: E731
    pads = ",".join(map(str, o.get("explicit_padding", (0, 0, 0, 0))))
    return f"in {dims(x.shape)} filter {dims(w.shape)} out {dims(y.shape)} s/d {geo} pad {pads} act {act}"


_loaded: dict[tuple[str, float], dict] = {}


def load_cache(path: Path | None = None) -> dict:
    """The cache's entries by signature ({} when there is no file)."""
    path = path or cache_path()
    if not path.is_file():
        return {}
    key = (str(path), path.stat().st_mtime)
    if key not in _loaded:
        _loaded[key] = json.loads(path.read_text()).get("layers", {})
    return _loaded[key]


def tuned(g: Graph, op: Op, path: Path | None = None) -> tuple[Candidate, str, dict] | None:
    """(candidate, reason, what was measured) measured fastest for this layer's signature, or None
    (not measured, or the chosen candidate is not one of this layer's). A cache written before
    tiles were tuned names bare kernels: those are the kernels' default tiles."""
    entry = load_cache(path).get(signature(g, op))
    if not entry:
        return None
    per_mac = entry["instructions_per_mac"]
    best = {c.name: c for c in candidates(g, op)}.get(entry["chosen"])
    if best is None:
        return None
    others = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(per_mac.items(), key=lambda kv: kv[1]) if k != best.name
    )
    tile = f", {best.tile} tile" if best.tile_pixels else ""
    measured = {
        "chosen": best.name,
        "tile": best.tile,
        "instructions": entry["instructions"],
        "instructions_per_mac": per_mac,
    }
    return best, f"tuned: {per_mac[best.name]:.2f} instr/MAC vs {others}{tile}", measured


def stale(entry: dict, cands: list[Candidate]) -> bool:
    """True when the entry has not counted every current candidate (a cache from before the tiles
    were candidates): ``codegen --tune`` measures it again."""
    return not {c.name for c in cands} <= set(entry.get("instructions", {}))
