"""The bench firmware (the UART protocol flash-and-bench and `hardtool run` speak) on every emulated
core's board: Cortex-M3 (mps2-an385), M4 (mps2-an386), M7 (mps2-an500), M33 (mps2-an505) and M55
(mps3-an547). A chip picks the board of its core and lends it its limits; a small model planned
for that chip, generated, built and streamed over the serial link must give the host int8
reference's outputs byte for byte, and `hardtool fit`'s per-layer estimate of its instructions per
frame must be within 2 % of the run's exact count. Marked slow: HARD-Edge as fit chooses it for
the nRF52840 and the STM32H743, fit's SRAM, flash and instructions against the full run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import model_builders
import numpy as np
import pytest
from click.testing import CliRunner

from hardtool.core import boards as B
from hardtool.core.errors import HardtoolError
from hardtool.device import icount

pytestmark = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)

# per core, the chip it runs here (None: the machine's own memory as limits)
CHIP = {"cortex-m3": "rp2040", "cortex-m4": "nrf52840", "cortex-m7": "stm32h743"}


def test_a_chip_runs_on_the_board_of_its_core_with_its_limits() -> None:
    for t in B.targets().values():
        b, core = B.emulated_board_for(t), B.core_for(t).core
        assert b.emulated and b.core == core.name and b.emulator["machine"] == core.machine
        assert b.chip == t and t.name.upper() in b.title.upper()
        script = B.link_script(b)
        assert f"ORIGIN = {core.memory['ram'][0]:#010x}, LENGTH = {t.budget_bytes // 1024}K" in script
        assert f"ORIGIN = {core.memory['code'][0]:#010x}, LENGTH = {t.flash_bytes // 1024}K" in script
    assert B.emulated_board_for(B.get_target("stm32h743")).name == B.EMULATED_BOARD
    assert B.emulated_board().name == B.EMULATED_BOARD  # the default stays the Cortex-M7's
    assert B.get_board("qemu-m55").chip.name == "mps3-an547"  # no chip of its own: the machine's memory
    with pytest.raises(HardtoolError, match="has no emulated board.*cortex-m4"):
        B.emulated_board_for(B.Target("x", "Cortex-A53", 1, 1, (), ""))
    with pytest.raises(HardtoolError, match="does not fit QEMU mps3-an547"):
        B.with_chip(B.get_board("qemu-m55"), B.get_target("stm32h743"))  # 2 MB flash, 512 KB ITCM
    with pytest.raises(HardtoolError, match="carries the STM32F746NG"):
        B.with_chip(B.get_board("disco"), B.get_target("nrf52840"))


def test_a_machines_own_memory_is_a_target_named_as_no_chip() -> None:
    """The emulated Cortex-M7 board's own memory (QEMU mps2-an500: 4 MB code RAM, 4 MB RAM), for a
    model no chip holds: resolved by the machine's name, linked at the machine's addresses, labelled
    as no chip's, and never among the chips (targets(): hardtool fit, memplan's help, the README)."""
    t = B.get_target("MPS2_AN500")
    assert t.emulated and t.name == "mps2-an500" and t.name not in B.targets()
    assert not any(c.emulated for c in B.targets().values())
    b = B.emulated_board_for(t)
    assert b.name == B.EMULATED_BOARD and b.chip == t and "no chip's" in b.title
    assert B.chip_limits(b) == "QEMU mps2-an500's own (no chip's) 4 MB RAM / 4 MB flash"
    script = B.link_script(b)
    assert "ORIGIN = 0x00000000, LENGTH = 4096K" in script and "ORIGIN = 0x20000000, LENGTH = 4096K" in script
    with pytest.raises(HardtoolError, match=r"known targets: .*stm32h743 \(or .*no chip's: .*mps2-an500"):
        B.get_target("esp32")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path]:
    """(a 6-class int8 segmentation model at 64 x 128, a folder of two raw input samples)."""
    root = tmp_path_factory.mktemp("bench_cores")
    tfl = root / "model_int8.tflite"
    shutil.copy(model_builders.build("toy_hard", root / "keras", classes=6), tfl)
    samples = root / "samples"
    samples.mkdir()
    rng = np.random.default_rng(3)
    for i in range(2):
        (samples / f"s{i}.bin").write_bytes(rng.integers(-128, 128, 64 * 128 * 3, dtype=np.int8).tobytes())
    return tfl, samples


def _plan(tfl: Path, out: Path, target: str):
    from hardtool.memplan.files import plan_to_files
    from hardtool.memplan.plan import PlanOptions

    # as `hardtool run` plans: the input streamed row by row into the first stage
    _, plan, path, _ = plan_to_files(tfl, out, target, measure_tflm=False, options=PlanOptions(stream=True))
    return plan, path


def _fit_estimate(tfl: Path, core: str, stage) -> int | None:
    from hardtool.core.graph import load_tflite
    from hardtool.fit import counts

    graph = load_tflite(tfl)
    per_layer = counts.layer_counts(graph, core, stage=stage)
    return (
        None
        if per_layer is None
        else counts.frame_instructions(graph, per_layer, B.get_core(core).dsp, stage)[0]
    )


@pytest.mark.parametrize("core", sorted(B.cores()))
def test_small_model_bit_exact_and_counted_on_each_core(small, core: str, tmp_path: Path) -> None:
    from hardtool.codegen.cli import codegen_cmd
    from hardtool.flash_and_bench.run import flash_and_bench

    tfl, samples = small
    c = B.get_core(core)
    target = CHIP.get(core) or B.DEFAULT_TARGET
    shutil.copy(tfl, tmp_path / tfl.name)
    plan, plan_path = _plan(tmp_path / tfl.name, tmp_path, target)
    proj = tmp_path / "qemu"
    args = [str(tmp_path / tfl.name), "--plan", str(plan_path), "--out", str(proj)]
    # a chip of the registry picks its core's board (the plan's target); the others by --board
    args += ["--target", target] if core in CHIP else ["--board", B.get_board(c.board).nickname]
    res = CliRunner().invoke(codegen_cmd, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((proj / "hardtool_build.json").read_text())
    assert manifest["board"] == c.board and manifest.get("target", target) == target
    r = flash_and_bench(proj, samples, n=2, progress=False, log=lambda *_: None)
    assert r["board"]["name"] == f"qemu-{c.machine}" and r["board"]["emulated"]
    assert r["completed"] == 2 and r["agreement"]["bit_exact"], (
        f"{core}: outputs differ from the host int8 reference"
    )
    if core in CHIP:
        assert r["build"]["flash_used"] <= B.get_target(target).flash_bytes
        assert r["sram"]["memplan_peak"] <= B.get_target(target).budget_bytes
    if icount.try_plugin()[0] is None:
        return  # fit counts layers with the plugin only
    run = r["images"][0]["total"]  # exact (the plugin), else SysTick's, to a tick (<= 50 instructions)
    estimate = _fit_estimate(tmp_path / tfl.name, core, plan.stage)
    assert abs(estimate - run) < 0.02 * run, (core, estimate, run)


@pytest.mark.slow
@pytest.mark.parametrize("target,size", [("nrf52840", (96, 192)), ("stm32h743", (128, 256))])
def test_hard_edge_as_fit_chooses_it_matches_the_full_run(target: str, size, tmp_path: Path) -> None:
    """HARD-Edge at the size fit picks at 2 frames/s (width 1): fit's SRAM is the run's plan, its
    flash and instructions per frame within 2 % and 5 % of the linked image and the run (the
    resize -> argmax tail's count depends on the logits: fit counts it on smooth, trained-like
    logits; this seeded-weights model's are one label almost everywhere, the tail's floor)."""
    from hardtool.codegen.generate import generate
    from hardtool.fit.candidates import family
    from hardtool.fit.evaluate import evaluate
    from hardtool.flash_and_bench.run import flash_and_bench
    from hardtool.quantize import zoo_tflite

    (cand,) = family("hard_edge", (1.0,), (size,))
    tfl = zoo_tflite(cand.arch, cand.size, tmp_path / "models", 0)
    fit = evaluate(cand, tfl, [B.get_target(target)])["targets"][target]
    _, plan_path = _plan(tfl, tmp_path, target)
    generate(tfl, plan_path, "qemu", tmp_path / "qemu", target=target)
    samples = tmp_path / "samples"
    samples.mkdir()
    x = np.random.default_rng(5).integers(-128, 128, size[0] * size[1] * 3, dtype=np.int8)
    (samples / "s0.bin").write_bytes(x.tobytes())
    r = flash_and_bench(tmp_path / "qemu", samples, n=1, progress=False, log=lambda *_: None)
    assert r["agreement"]["bit_exact"]
    assert fit["sram_bytes"] == r["sram"]["memplan_peak"] >= r["sram"]["measured_peak"]
    assert abs(fit["flash_bytes"] - r["build"]["flash_used"]) < 0.02 * r["build"]["flash_used"]
    if fit["instructions"] is not None:
        run = r["images"][0]["total"]
        assert abs(fit["instructions"] - run) < 0.05 * run, (fit["instructions"], run)


def test_a_bad_target_fails_before_any_stage(tmp_path: Path, demo_ckpt: Path) -> None:
    from hardtool.pipeline import run_cmd

    res = CliRunner().invoke(
        run_cmd, [str(demo_ckpt), "--data", str(tmp_path), "--target", "esp32", "--out", str(tmp_path / "o")]
    )
    assert isinstance(res.exception, HardtoolError) and "known targets: " in str(res.exception)
    assert not (tmp_path / "o").exists()
