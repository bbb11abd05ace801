"""What every benchmark shares: where results go, the demo checkpoint, its dataset and its int8 model,
and the test-suite's model builders (Keras models with random weights)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType

import hardtool

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str | None:
    """The commit measured: HEAD, with "+changes" when tracked files other than bench/'s JSON
    differ from it (a measurement of uncommitted code says so)."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if not head:
        return None
    diff = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", ".", ":(exclude)bench/*.json"])
    return head + ("+changes" if diff.returncode else "")


def write_result(path: Path, res: dict) -> dict:
    """A stage's JSON, stamped with the commit it measured (first key), written atomically."""
    from hardtool.core.files import atomic_write_json

    res = {"commit": commit()} | {k: v for k, v in res.items() if k != "commit"}
    atomic_write_json(path, res)
    return res


def mlperf_dir() -> Path | None:
    """The MLPerf Tiny reference models (read in place, never copied into the repository):
    $HARDTOOL_MLPERF_TINY, else shared/mlperf-tiny beside the repository or one of its parents."""
    env = os.environ.get("HARDTOOL_MLPERF_TINY")
    found = [Path(env)] if env else [p / "shared" / "mlperf-tiny" for p in ROOT.parents]
    return next((p for p in found if p.is_dir() and any(p.glob("*.tflite"))), None)


DEMO_CKPT = Path(hardtool.__file__).resolve().parent / "zoo" / "hard_edge_synth.pt"


def bench_data(work: Path) -> Path:
    """The demo dataset (same seed and size as the README), generated once."""
    from hardtool.data.synth import generate

    root = work / "synth"
    if not (root / "leftImg8bit" / "val").is_dir():
        generate(root, 64, seed=0, splits=("train",))
        generate(root, 100, seed=0, splits=("val",))
    return root


def demo_model(work: Path) -> Path:
    """The bundled checkpoint quantized at 128×256 (reuses the quantize benchmark's output)."""
    from hardtool.quantize.pipeline import quantize

    q = work / "quantize"
    if not (q / "model_int8.tflite").is_file():
        quantize(DEMO_CKPT, bench_data(work), q, calib_images=64, force=True, progress=False)
    return q / "model_int8.tflite"


def _test_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_builders() -> ModuleType:
    """tests/model_builders.py: Keras models (MobileNetV2, U-Net, ...) converted to full int8."""
    return _test_module("model_builders")


def foreign_models() -> ModuleType:
    """tests/foreign_models.py: seven kinds of plain-torch models exported to ONNX as users do."""
    return _test_module("foreign_models")
