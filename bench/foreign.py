"""The seven kinds of foreign models (tests/foreign_models.py, exported with logits out) through
`hardtool quantize` → memplan → codegen → the emulated board, recorded in bench/models.json under
``foreign_models`` (ops, arena next to TFLite Micro's, instructions per inference, bit-exact).
``python -m bench.foreign`` measures only these and keeps the rest of models.json."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import ROOT, commit, foreign_models
from hardtool.core.files import atomic_write_json

SAMPLES, CALIB = 12, 8
SIZE_NOTE = (
    "the fixtures' sizes (segmentation 64x128, the classifier 96x96, ShuffleNetV2 and the U-Nets "
    "64x64), reduced from 128x256 / 224x224 to fit the emulated board's 320 KB of SRAM (at 128x256 "
    "a segmentation net's int8 logits alone are 622,592 B)"
)


def quantized(name: str, work: Path) -> tuple[Path, dict]:
    """Model ``name`` exported, then `hardtool quantize` on ``SAMPLES`` .npy inputs (task generic)."""
    from hardtool.quantize.pipeline import quantize

    fm = foreign_models()
    size = fm.MODELS[name][1]
    data = work / f"npy_{size[0]}x{size[1]}"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(SAMPLES):
        x = np.random.default_rng(i).normal(size=(3, *size)).astype(np.float32)
        np.save(data / f"{i:02d}.npy", x)
    out = work / name
    rep = quantize(
        fm.export_named(name, work), data, out, calib_images=CALIB, force=True, progress=False, task="generic"
    )
    return out / "model_int8.tflite", rep


def measure(name: str, work: Path) -> dict:
    from bench.models import measure_tflite
    from hardtool.core.graph import load_tflite

    tfl, rep = quantized(name, work)
    ops = Counter(op.name for op in load_tflite(tfl, validate=False).ops)
    size = foreign_models().MODELS[name][1]
    return {
        "input": rep["input_quant"]["shape"],
        "output": rep["output_quant"]["shape"],
        "input_size": list(size),
        "ops": dict(ops.most_common()),
        "int8_vs_float": rep.get("output_check"),
        **measure_tflite(tfl, tfl.parent, name),
    }


def run_bench(work: Path) -> dict:
    fm = foreign_models()
    return {
        "commit": commit(),
        "sizes": SIZE_NOTE,
        "quantize": f"hardtool quantize --task generic on {SAMPLES} random .npy inputs, {CALIB} for calibration",
        "models": {name: measure(name, Path(work) / "foreign") for name in fm.MODELS},
    }


def main() -> int:
    """Measure the seven and replace only ``foreign_models`` in bench/models.json."""
    path = ROOT / "bench" / "models.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc["foreign_models"] = run_bench(ROOT / "build" / "bench")
    atomic_write_json(path, doc)
    print(json.dumps({k: v.get("bit_exact") for k, v in doc["foreign_models"]["models"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
