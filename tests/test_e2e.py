"""The whole flow on the emulated board: checkpoint → int8 → plan → C → firmware → QEMU →
serial bench; the device's label maps equal the host int8 reference on every pixel."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.test_cli_errors import assert_one_line_error, run

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, demo_ckpt, synth_data):
    out = tmp_path_factory.mktemp("run") / "edge"
    r = run(
        "run",
        str(demo_ckpt),
        "--data",
        str(synth_data),
        "--out",
        str(out),
        "--board",
        "qemu",
        "--n",
        "3",
        "--input-size",
        "64",
        "128",
        "--calib-images",
        "8",
        "--json",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return out, json.loads(r.stdout)


def test_run_on_emulated_board_is_bit_exact(pipeline):
    out, s = pipeline
    assert s["bit_exact"] is True
    bench = json.loads((out / "qemu" / "bench" / "bench.json").read_text())
    assert bench["completed"] == 3 and bench["board"]["emulated"] is True
    assert bench["agreement"]["fraction"] == 1.0 and bench["agreement"]["differing_images"] == []
    assert bench["miou"]["device"] == bench["miou"]["host_int8"]
    assert bench["miou"]["float"] is not None
    assert bench["latency"]["unit"] == "instructions" and "ms" not in bench["latency"]
    assert bench["latency"]["mean"] > 1e6
    layers = bench["per_layer"]
    assert len(layers) == s["codegen"]["layers"] and all(row["mean"] >= 0 for row in layers)
    assert (
        abs(sum(row["mean"] for row in layers) - bench["latency"]["mean"]) <= 0.02 * bench["latency"]["mean"]
    )
    assert (out / "qemu" / "bench" / "masks.png").stat().st_size > 1000
    # measured SRAM close to memplan's prediction (stack and statics are estimates there)
    sram = bench["sram"]
    assert sram["arena"] == json.loads((out / "model_int8.memplan.json").read_text())["arena_size"]
    assert 0 < sram["stack_high_water"] <= sram["stack_reserved"]
    assert abs(sram["ram_used_linker"] - sram["memplan_peak"]) <= 1024


def test_flash_and_bench_again_on_the_same_build(pipeline, synth_data, tmp_path):
    out, _ = pipeline
    r = run(
        "flash-and-bench",
        str(out / "qemu"),
        "--data",
        str(synth_data),
        "--n",
        "1",
        "--board",
        "qemu",
        "--out",
        str(tmp_path / "b"),
        "--json",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["agreement"]["bit_exact"] is True


def test_flash_and_bench_bad_inputs(pipeline, synth_data, tmp_path):
    out, _ = pipeline
    assert_one_line_error(
        run("flash-and-bench", str(tmp_path), "--data", str(synth_data), "--board", "qemu"),
        "not a firmware project",
    )
    assert_one_line_error(
        run("flash-and-bench", str(out / "qemu"), "--data", str(tmp_path / "none"), "--board", "qemu"),
        "does not exist",
    )
    # asking for the real board with a project generated for the emulator
    assert_one_line_error(
        run(
            "flash-and-bench",
            str(out / "qemu"),
            "--data",
            str(synth_data),
            "--board",
            "disco",
            "--port",
            "/dev/null",
        ),
        "baremetal",
    )


def test_ctrl_c_keeps_partial_results(pipeline, synth_data, tmp_path, monkeypatch):
    """An interrupt after the first image still writes bench.json and masks.png for that image."""
    from hardtool.device import session
    from hardtool.flash_and_bench.run import flash_and_bench

    out, _ = pipeline
    real_infer = session.BenchSession.infer
    calls = []

    def infer_then_interrupt(self, index, image):
        calls.append(index)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_infer(self, index, image)

    monkeypatch.setattr(session.BenchSession, "infer", infer_then_interrupt)
    r = flash_and_bench(
        out / "qemu",
        synth_data,
        n=3,
        board="qemu",
        out=tmp_path / "partial",
        progress=False,
        log=lambda *_: None,
    )
    assert r["interrupted"] is True and r["completed"] == 1 and r["requested"] == 3
    assert r["agreement"]["bit_exact"] is True
    saved = json.loads((tmp_path / "partial" / "bench.json").read_text())
    assert saved["completed"] == 1 and (tmp_path / "partial" / "masks.png").is_file()
