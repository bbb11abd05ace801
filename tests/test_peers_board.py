"""The ten peers as published (tests/test_peers_deploy.py's seeded models) on the emulated board:
`hardtool quantize` → memplan → codegen -t qemu → flash-and-bench on QEMU mps2-an500 (Cortex-M7)
with the STM32F746NG's limits from the board registry (320 KB SRAM, 1 MB flash), every output byte
equal to TFLite's reference kernels on the same int8 input.

None fits at 128×256 (bench/compare.json: only FastSCNN's int8 plan fits the SRAM there, and its
int8 weights do not fit the flash). ENet, FSSNet, ESPNet, EDANet, CGNet and DABNet run at 64×128,
the largest of bench/peers.py's sizes whose plan fits, with the q15 filter copies codegen's flash
budget keeps. The four others do not fit the flash at any input size: ESPNetV2's, FastSCNN's and
ERFNet's int8 weights alone exceed 1 MB, and LEDNet's arrays (928 KB of weights, its per-channel
multipliers, shifts and fused-ADD tables) and code do with every filter int8; the board build
refuses it naming the flash and that a chip with more flash is the fix (FLASH_BOUND)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hardtool.codegen.generate import generate
from hardtool.core.boards import emulated_board
from hardtool.memplan.files import plan_to_files
from hardtool.quantize import export
from hardtool.quantize.pipeline import quantize
from tests.test_peers_deploy import calib_samples, peer_model

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)

# the largest of 128x256, 64x128, 48x96, 32x64 whose int8 plan fits the board (bench/peers.py)
BOARD_SIZES = {n: (64, 128) for n in ("cgnet", "dabnet", "edanet", "enet", "espnet", "fssnet")}
FLASH_BOUND = ("lednet",)  # 928 KB of int8 weights: over 1 MB with its other arrays and code
FAST = ("fssnet",)  # run by default; the others are marked slow


def _param(name: str):
    return name if name in FAST else pytest.param(name, marks=pytest.mark.slow)


@pytest.fixture(scope="session")
def board_int8(tmp_path_factory):
    """(name, size) → the int8 .tflite `hardtool quantize` wrote; once a session."""
    root = tmp_path_factory.mktemp("peers_board")
    done: dict[str, Path] = {}

    def get(name: str, size: tuple[int, int]) -> Path:
        key = f"{name}_{size[0]}x{size[1]}"
        if key not in done:
            data = calib_samples(root, size)
            export.export_onnx(peer_model(name), size, root / f"{key}.onnx")
            quantize(
                root / f"{key}.onnx", data, root / key, calib_images=8, progress=False, log=lambda s: None
            )
            done[key] = root / key / "model_int8.tflite"
        return done[key]

    return get


def _project(tfl: Path, work: Path) -> Path:
    work.mkdir()
    shutil.copy(tfl, work / "model_int8.tflite")
    doc, _, plan, _ = plan_to_files(work / "model_int8.tflite", work, force=True, measure_tflm=False)
    assert doc["verdict"]["fits"], doc["verdict"]
    generate(work / "model_int8.tflite", plan, "qemu", work / "qemu", force=True)
    return work / "qemu"


@pytest.mark.parametrize("name", [_param(n) for n in sorted(BOARD_SIZES)])
def test_peer_on_emulated_board_bit_exact(name, board_int8, tmp_path):
    from hardtool.flash_and_bench.run import flash_and_bench

    proj = _project(board_int8(name, BOARD_SIZES[name]), tmp_path / "m")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rng = np.random.default_rng(1)
    shape = (1, *BOARD_SIZES[name], 3)
    (inputs / "input0.bin").write_bytes(rng.integers(-128, 128, shape).astype(np.int8).tobytes())
    r = flash_and_bench(proj, inputs, n=1, board="qemu", progress=False, log=lambda *_: None)
    assert r["completed"] == 1
    assert r["agreement"]["bit_exact"], r["agreement"]
    assert r["latency"]["mean"] > 0
    print(f"{name} {BOARD_SIZES[name]}: {r['latency']['mean']:,.0f} instructions, bit-exact")


@pytest.mark.slow
@pytest.mark.parametrize("name", FLASH_BOUND)
def test_peer_too_big_for_the_flash_is_refused(name, board_int8, tmp_path):
    """Flash does not depend on the input size: at one whose plan fits the SRAM, every conv filter
    int8, the board build says the flash is short and a chip with more flash is the fix."""
    from hardtool.build.firmware import build_firmware
    from hardtool.core.errors import HardtoolError

    proj = _project(board_int8(name, (64, 128)), tmp_path / "m")
    with pytest.raises(
        HardtoolError,
        match=r"does not fit the STM32F746NG: FLASH overflowed by [\d,]+ bytes.*with every conv filter int8.*more flash",
    ):
        build_firmware(proj)
    assert emulated_board().chip.flash_bytes == 1 << 20


def test_bench_runs_a_peer_over_the_f746_flash_on_the_larger_flash_m7(monkeypatch, tmp_path):
    """bench/peers.py: a model whose flash the F746 cannot hold runs on the first Cortex-M7 chip
    with more (the STM32H743), labelled with it and why not the F746; one no such chip holds
    either (nor the emulated board's own memory) is recorded with each one's reason, and a chip
    with no more flash than one that failed (the STM32F769NI's 2 MB after the H743's) is not tried."""
    from bench import peers

    tried = []

    def on(ok: set[str]):
        def measure_on(name, work, chip):
            tried.append(chip)
            if chip in ok:
                return {"size": [64, 128], "bit_exact": True}
            return {"error": f"{chip} flash", "flash_short": True}

        return measure_on

    monkeypatch.setattr(peers, "measure_on", on({"stm32h743"}))
    rec = peers.measure("x", tmp_path)
    assert rec["target"] == "stm32h743" and rec["bit_exact"]
    assert [s["target"] for s in rec["not_on"]] == ["stm32f746ng"]
    tried.clear()
    monkeypatch.setattr(peers, "measure_on", on(set()))
    rec = peers.measure("x", tmp_path)
    assert tried == ["stm32f746ng", "stm32h743", "mps2-an500"]  # the board's own memory last
    assert "fits no listed Cortex-M7's flash" in rec["error"] and "stm32h743: stm32h743 flash" in rec["error"]
    assert "stm32f769ni: its 2,097,152 B flash is no more than that of stm32h743" in rec["error"]
    tried.clear()
    monkeypatch.setattr(peers, "measure_on", on({"stm32f746ng"}))
    assert "target" not in peers.measure("x", tmp_path) and tried == ["stm32f746ng"]


def test_bench_runs_a_peer_no_chip_holds_with_the_emulated_boards_own_memory(monkeypatch, tmp_path):
    """bench/peers.py: a model no listed chip's flash holds (ERFNet) runs last with the emulated
    board's own memory (QEMU mps2-an500), labelled as no real chip's budget with each chip's reason;
    one even that cannot hold is recorded as not run."""
    from bench import peers

    own = peers.board_memory()
    assert own.emulated and own.name == "mps2-an500" and own.flash_bytes == own.budget_bytes == 4 << 20
    tried = []

    def on(ok: set[str]):
        def measure_on(name, work, chip):
            tried.append(chip)
            if chip in ok:
                return {"size": [128, 256], "bit_exact": True}
            return {"error": f"{chip} flash", "flash_short": True}

        return measure_on

    monkeypatch.setattr(peers, "measure_on", on({own.name}))
    rec = peers.measure("x", tmp_path)
    assert tried == ["stm32f746ng", "stm32h743", "mps2-an500"]
    assert rec["target"] == "mps2-an500" and rec["bit_exact"] and "error" not in rec
    assert [s["target"] for s in rec["not_on"]] == ["stm32f746ng", "stm32h743", "stm32f769ni"]
    assert "emulated board's own memory" in rec["emulator_only"] and "no real chip's" in rec["emulator_only"]
    assert "fits no listed Cortex-M7's flash (stm32f746ng: stm32f746ng flash" in rec["emulator_only"]
    monkeypatch.setattr(peers, "measure_on", on(set()))
    rec = peers.measure("x", tmp_path)
    assert "target" not in rec and rec["not_on"][-1]["target"] == "mps2-an500"
    assert "nor the emulated board's own memory (mps2-an500 flash)" in rec["error"]
