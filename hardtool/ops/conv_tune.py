"""Measured CONV_2D kernel choices: per layer signature, the candidates' exact instruction counts
on the emulated Cortex-M7 (``hardtool codegen --tune`` measures them, hardtool.device.conv_tune)
and the fastest, cached in ``conv_tuned.json`` beside this file (or $HARDTOOL_CONV_TUNE_CACHE). The conv record chooses the
cached kernel when the layer's signature is there (deterministic given the cache), else by rule.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hardtool.core.graph.ir import Graph, Op

CACHE = Path(__file__).resolve().parent / "conv_tuned.json"
Q15 = "gemm_q15_pairs"


def cache_path() -> Path:
    """$HARDTOOL_CONV_TUNE_CACHE, else the cache kept in the package (``CACHE``)."""
    env = os.environ.get("HARDTOOL_CONV_TUNE_CACHE")
    return Path(env) if env else CACHE


def candidates(g: Graph, op: Op) -> list[tuple[str, str | None]]:
    """(kernel, filter layout) a DSP target can run this (non-grouped) CONV_2D with."""
    w = g.tensors[op.inputs[1]].shape
    pads = tuple(op.options.get("explicit_padding", (0, 0, 0, 0)))
    im2col = [("hard_convolve_im2col_q15_s8", Q15), ("hard_convolve_im2col_s8", None)]
    if w[1] == w[2] == 1 and not any(pads):
        return [("hard_convolve_1x1_q15_s8", Q15), ("hard_convolve_1x1_s8", None), *im2col]
    return im2col


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


def tuned(g: Graph, op: Op, path: Path | None = None) -> tuple[str, str] | None:
    """(kernel, reason) measured fastest for this layer's signature, or None (not measured)."""
    entry = load_cache(path).get(signature(g, op))
    if not entry:
        return None
    per_mac = entry["instructions_per_mac"]
    best = entry["chosen"]
    if best not in dict(candidates(g, op)):
        return None
    others = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per_mac.items(), key=lambda kv: kv[1]) if k != best)
    return best, f"tuned: {per_mac[best]:.2f} instr/MAC vs {others}"
