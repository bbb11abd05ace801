"""Plans and firmware do not depend on the clock, the load or the hash seed: the same model and
options give a byte-identical memplan.json (its timing field aside) on an idle machine, under a
load that keeps both cores busy and under a clock that jumps an hour per reading; `codegen` +
`build` twice give the same firmware bytes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.common import mlperf_dir
from hardtool.memplan.plan import PlanOptions

ROOT = Path(__file__).resolve().parents[1]
MLPERF = mlperf_dir()
# every search memplan runs: the order search, the exact placer, the first stage, lean rounds
OPTIONS = {"stream": True, "lean_kernels": True}

PLAN = """
import json, sys
from pathlib import Path
from hardtool.memplan.files import plan_document
from hardtool.memplan.plan import PlanOptions
doc, _, _ = plan_document(Path(sys.argv[1]), measure_tflm=False, options=PlanOptions(**json.loads(sys.argv[2])))
doc["planner"].pop("seconds")
sys.stdout.write(json.dumps(doc, indent=1))
"""

BURN = """
import os, time
os.fork()  # two busy processes: both cores
end = time.monotonic() + 600
while time.monotonic() < end:
    pass
"""


def plan_text(model: Path, seed: str) -> str:
    """memplan.json of MODEL (timing aside), planned in a fresh interpreter with PYTHONHASHSEED=seed."""
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-c", PLAN, str(model), json.dumps(OPTIONS)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return r.stdout


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    from hardtool.quantize import zoo_tflite

    out = [zoo_tflite("hard_edge", (128, 256), tmp_path_factory.mktemp("zoo"))]
    if MLPERF is None:
        pytest.skip("the MLPerf Tiny models are not available")
    return out + [MLPERF / "vww_96_int8.tflite"]


@pytest.mark.slow
def test_plan_is_the_same_under_load(models: list[Path]) -> None:
    quiet = [plan_text(m, "0") for m in models]
    burner = subprocess.Popen([sys.executable, "-c", BURN], start_new_session=True)
    try:
        loaded = [plan_text(m, "12345") for m in models]
    finally:
        os.killpg(burner.pid, 9)
        burner.wait()
    for m, a, b in zip(models, quiet, loaded, strict=True):
        assert a == b, f"{m.name}: the plan changed under load"
        assert json.loads(a)["arena_size"] > 0


def test_plan_ignores_the_clock(models: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that jumps an hour at every reading (any time limit would be exhausted at once)
    changes nothing but the timing field (with the former 2 s / 1 s limits, HARD-Edge planned to
    82,048 bytes instead of 64,368 so)."""
    from hardtool.memplan.files import plan_document

    def plan(model: Path) -> dict:
        doc, _, _ = plan_document(model, measure_tflm=False, options=PlanOptions(**OPTIONS))
        doc["planner"].pop("seconds")
        return doc

    model = models[0]  # HARD-Edge: branchy, its order search has thousands of sets per level
    want = plan(model)
    fake = iter(range(0, 10**9, 3600))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(fake)))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(fake)))
    monkeypatch.setattr(time, "time", lambda: float(next(fake)))
    assert plan(model) == want


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
def test_codegen_and_build_twice_give_the_same_firmware(tmp_path: Path) -> None:
    """Two projects generated in different folders, by interpreters with different hash seeds,
    link to the same image byte for byte."""
    from hardtool.quantize import zoo_tflite

    model = zoo_tflite("hard_edge", (64, 128), tmp_path / "zoo")
    images = []
    for k, seed in enumerate(("0", "4242")):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        out = tmp_path / f"run{k}"
        for args in (
            ["memplan", str(model), "--out", str(out), "--no-tflm", "--lean-kernels"],
            [
                "codegen",
                str(model),
                "--plan",
                str(out / f"{model.stem}.memplan.json"),
                "--out",
                str(out / "fw"),
            ],
            ["build", str(out / "fw")],
        ):
            subprocess.run(
                [sys.executable, "-m", "hardtool", *args], env=env, check=True, capture_output=True
            )
        (image,) = (out / "fw" / "build").glob("*.bin")
        images.append(image.read_bytes())
    assert len(images[0]) > 10_000
    assert images[0] == images[1]
