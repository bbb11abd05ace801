"""Seven kinds of models hardtool did not write (tests/foreign_models.py: MobileNetV3 LR-ASPP and
DeepLabV3 heads, an FCN on ResNet bottlenecks, a MobileNetV3-Small classifier, ShuffleNetV2, U-Nets
with PReLU and LeakyReLU), exported as a user would (logits out, no argmax): `hardtool quantize` →
memplan → codegen -t host → the host program's build, and the bytes it writes equal TFLite's
reference kernels on the int8 model quantize wrote."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hardtool.codegen.generate import generate
from hardtool.memplan.files import plan_to_files
from hardtool.quantize.pipeline import quantize
from tests import foreign_models as fm
from tests.test_codegen import assert_bit_exact, reference

# the two quickest through quantize and the build run by default; the others are marked slow
DEFAULT = ("shufflenet_v2", "mbv3_small_cls")
KINDS = [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in fm.MODELS]
SAMPLES = 12


def npy_samples(folder: Path, size: tuple[int, int]) -> Path:
    """``SAMPLES`` preprocessed inputs [3, H, W] as .npy files: calibration and held-out data."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(SAMPLES):
        x = np.random.default_rng(i).normal(size=(3, *size)).astype(np.float32)
        np.save(folder / f"{i:02d}.npy", x)
    return folder


@pytest.fixture(scope="session")
def foreign_int8(tmp_path_factory) -> Callable[[str], tuple[Path, Path]]:
    """name → (the int8 .tflite `hardtool quantize` wrote for that kind, its .npy samples);
    quantized once a session."""
    root = tmp_path_factory.mktemp("foreign_e2e")
    cache: dict[str, tuple[Path, Path]] = {}

    def get(name: str) -> Path:
        if name not in cache:
            size = fm.MODELS[name][1]
            data = npy_samples(root / f"npy_{size[0]}x{size[1]}", size)
            out = root / f"q_{name}"
            rep = quantize(
                fm.export_named(name, root), data, out, calib_images=8, progress=False, task="generic"
            )
            assert rep["input_quant"]["dtype"] == "int8" and rep["output_quant"]["dtype"] == "int8"
            assert "DEQUANTIZE" not in rep["ops"] and "ARG_MAX" not in rep["ops"]  # logits stay logits
            cache[name] = out / "model_int8.tflite", data
        return cache[name]

    return get


def _inputs(detail: dict, sample: Path) -> list[np.ndarray]:
    """The input at its zero point, a random int8 one, and a real sample quantized as the model's
    input tensor says."""
    scale, zp = detail["quantization"]
    x = np.load(sample).transpose(1, 2, 0)[None]
    real = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
    rng = np.random.default_rng(7)
    return [
        np.full(detail["shape"], zp, np.int8),
        rng.integers(-128, 128, detail["shape"]).astype(np.int8),
        real,
    ]


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
@pytest.mark.parametrize("name", KINDS)
def test_foreign_model_bit_exact(name, foreign_int8, tmp_path):
    tfl, data = foreign_int8(name)
    work = tmp_path / "m"
    work.mkdir()
    shutil.copy(tfl, work / "model_int8.tflite")
    tfl = work / "model_int8.tflite"
    doc, _, plan, _ = plan_to_files(tfl, work, force=True, measure_tflm=False)
    assert doc["verdict"]["fits"], doc["verdict"]  # on the default board (STM32F746NG, 320 KB)
    proj = work / "host"
    generate(tfl, plan, "host", proj, force=True)
    build = subprocess.run(["make", "-C", str(proj), "CC=gcc"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]

    it = reference(tfl)
    (d,), (o,) = it.get_input_details(), it.get_output_details()
    xs = _inputs(d, sorted(data.glob("*.npy"))[-1])
    run = subprocess.run(
        [str(proj / "model_host")], input=b"".join(x.tobytes() for x in xs), capture_output=True, check=True
    )
    got = np.frombuffer(run.stdout, np.int8).reshape(len(xs), *o["shape"][1:])
    for k, x in enumerate(xs):
        it.set_tensor(d["index"], x)
        it.invoke()
        want = it.get_tensor(o["index"])[0]
        if not np.array_equal(want, got[k]):
            assert_bit_exact(proj, n_inputs=2)  # names the first layer that differs
            pytest.fail(f"input {k}: {(want != got[k]).sum()} of {want.size} output values differ")
