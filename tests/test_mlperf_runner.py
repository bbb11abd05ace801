"""The MLPerf Tiny runner's exchange (name, profile, db load N, db HEX, infer N W, results), in
performance and accuracy mode, replayed against the DUT firmware of each of the five MLPerf Tiny
reference models on the emulated board: the benchmark's name, the reference firmware's results
(dequantised scores as "%0.3f", AD's anomaly score) equal to TFLite's reference kernels, exactly
N timed runs between the two timestamps. Written from the documented protocol (tests/mlperf_client.py).
Skipped where the MLPerf Tiny files are absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from mlperf_client import DutClient, laps, results

from bench.common import mlperf_dir

MLPERF_DIR = mlperf_dir() or Path("shared/mlperf-tiny")
FILES = {
    "kws01": "kws_ref_model.tflite",
    "vww01": "vww_96_int8.tflite",
    "ic01": "resnet8_quant.tflite",
    "ad01": "ad01_int8.tflite",
    "sww01": "strm_ww_int8.tflite",
}
needs_board = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)


def firmware(name: str, work: Path) -> tuple[Path, Path, dict]:
    from hardtool.build.firmware import build_firmware
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import plan_to_files

    src = MLPERF_DIR / FILES[name]
    if not src.is_file():
        pytest.skip(f"{src} not present")
    tfl = work / "model_int8.tflite"
    shutil.copy(src, tfl)
    plan_to_files(tfl, work, measure_tflm=False)
    summary = generate(tfl, work / "model_int8.memplan.json", "qemu", work / "dut", protocol="mlperf-tiny")
    return tfl, build_firmware(work / "dut").elf, summary


def samples(summary: dict, n: int, seed: int) -> list[tuple[bytes, np.ndarray]]:
    """(what `db` carries, the int8 input the firmware must make of it), as the references read it."""
    inp, mode = summary["inputs"][0], summary["defines"]["MLPERF_INPUT"]
    rng, out = np.random.default_rng(seed), []
    for _ in range(n):
        if mode == 1:  # uint8 pixels, minus 128
            raw = rng.integers(0, 256, inp["dims"]).astype(np.uint8)
            out.append((raw.tobytes(), (raw.astype(np.int16) - 128).astype(np.int8)))
        elif mode == 2:  # float32, quantised with round half away from zero
            raw = rng.normal(0, 8, inp["dims"]).astype(np.float32)
            q = raw / np.float32(inp["scale"])
            r = np.trunc(q + np.where(q < 0, np.float32(-0.5), np.float32(0.5))).astype(np.int32)
            out.append((raw.tobytes(), np.clip(r + inp["zero_point"], -128, 127).astype(np.int8)))
        else:
            x = rng.integers(-128, 128, inp["dims"]).astype(np.int8)
            out.append((x.tobytes(), x))
    return out


def expected(tfl: Path, summary: dict, raw: bytes, x: np.ndarray) -> list[str]:
    """What the reference firmware prints for this input, from TFLite's reference kernels."""
    from hardtool.flash_and_bench.samples import reference_outputs

    out = summary["outputs"][0]
    (y,) = reference_outputs(tfl, [[x]])[0]
    deq = np.float32(out["scale"]) * (y.reshape(-1).astype(np.int32) - out["zero_point"]).astype(np.float32)
    if summary["defines"]["MLPERF_RESULTS"] == 1:
        d = deq - np.frombuffer(raw, dtype=np.float32)
        return [f"{float(np.sum(d * d, dtype=np.float32) / np.float32(d.size)):0.3f}"]
    return [f"{float(v):0.3f}" for v in deq]


def result_items(lines: list[str]) -> list[str]:
    (line,) = [ln for ln in lines if ln.startswith("m-results-[")]
    return line[len("m-results-[") : -1].split(",")


def close(got: list[str], want: list[str], anomaly: bool) -> bool:
    if not anomaly:
        return got == want
    return abs(float(got[0]) - float(want[0])) <= 0.0011  # float summation order (the FPU's FMA)


@needs_board
@pytest.mark.parametrize("name", list(FILES))
def test_runner_exchange_on_the_emulated_board(name, tmp_path):
    from hardtool.device.qemu import QemuBoard

    tfl, elf, summary = firmware(name, tmp_path)
    anomaly = summary["defines"]["MLPERF_RESULTS"] == 1
    data = samples(summary, 3, seed=len(name))
    with QemuBoard(elf, timeout=600) as board:
        dut = DutClient(board.serial)
        assert dut.lines()[-2:] == ["m-init-done", "m-ready"]
        assert dut.command("name") == ["m-name-dut-[hardtool]", "m-ready"]
        profile = dut.command("profile")
        assert profile[1:] == [f"m-model-[{name}]", "m-ready"] and profile[0].startswith("m-profile-[")
        assert dut.command("frobnicate 3") == ["e-[Unknown command: frobnicate]", "m-ready"]
        if name == "sww01":  # the runner's stream step: no audio input here, the reference's error reply
            assert dut.command("start") == ["e-[Unknown command: start]", "m-ready"]
        for raw, x in data[:2]:  # accuracy mode: infer 1 0 per input
            dut.load(raw)
            lines = dut.command("infer 1 0", timeout=300)
            assert lines[:3] == ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1"]
            assert "m-infer-done" in lines and len(laps(lines)) == 2
            assert close(result_items(lines), expected(tfl, summary, raw, x), anomaly), lines
            assert len(results(lines)) == (1 if anomaly else summary["outputs"][0]["bytes"])
        raw, x = data[2]  # performance mode: W warm-ups, exactly N timed runs
        dut.load(raw)
        one = laps(dut.command("infer 1 0", timeout=300), "instructions")
        lines = dut.command("infer 3 1", timeout=300)
        assert lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3"]
        us, insns = laps(lines), laps(lines, "instructions")
        assert (
            insns[1] - insns[0] >= 3 * (one[1] - one[0]) * 0.99 and insns[1] - insns[0] > 3 * summary["macs"]
        )
        assert us[1] - us[0] == insns[1] // 1000 - insns[0] // 1000  # 1 ns per instruction
        assert close(result_items(lines), expected(tfl, summary, raw, x), anomaly)
        assert result_items(dut.command("results")) == result_items(lines)


@needs_board
def test_serve_puts_the_uart_on_a_pty_until_ctrl_c(tmp_path):
    """`hardtool serve DIR`: prints the pty, any serial client talks to the firmware there (twice,
    as the runner opens the port more than once), Ctrl-C -> exit 130 with QEMU gone."""
    import os
    import signal
    import subprocess
    import sys

    import serial

    firmware("sww01", tmp_path)
    link = tmp_path / "tty"
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "hardtool", "serve", str(tmp_path / "dut"), "--link", str(link)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert "its UART is on /dev/" in first and link.is_symlink(), (first, proc.stderr.read())
        for _ in range(2):
            with serial.Serial(str(link), 115200, timeout=0.1) as port:
                port.write(b"name%")
                dut = DutClient(port)
                assert dut.lines() == ["m-name-dut-[hardtool]", "m-ready"]
                assert dut.command("profile")[1] == "m-model-[sww01]"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
        assert "interrupted (Ctrl-C)" in proc.stderr.read() and not link.exists()
        qemu = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
        assert not qemu.strip(), qemu
    finally:  # a failed assertion: stop it as Ctrl-C does, so that it stops its QEMU too
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
