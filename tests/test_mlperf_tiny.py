"""The MLPerf Tiny reference architectures (Keras, random weights, full int8) end to end: memplan at
most TFLite Micro's arena, codegen, firmware for the emulated board, every output bit-exact with
TFLite's reference kernels there; and the MLPerf Tiny / EEMBC device-under-test protocol (name,
profile, timestamp, db load, db, infer, results) driven over the emulated board's UART."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import model_builders
import numpy as np
import pytest
from mlperf_client import DutClient, results

from hardtool.codegen.generate import generate
from hardtool.memplan.files import plan_to_files

needs_board = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)
ARCHITECTURES = ["mlperf_vww", "mlperf_kws", "mlperf_ic", "mlperf_ad"]
pytestmark = pytest.mark.slow  # the MLPerf Tiny reference architectures end to end


@pytest.fixture(scope="module")
def keras_dir(tmp_path_factory) -> Path:
    """Where the Keras models are converted, once per module."""
    return tmp_path_factory.mktemp("keras")


def planned(kind: str, work: Path, keras: Path, tflm: bool = True) -> tuple[Path, dict]:
    """The model as work/model_int8.tflite, planned (with TFLite Micro's arena measured)."""
    tfl = work / "model_int8.tflite"
    shutil.copy(model_builders.build(kind, keras), tfl)
    doc, _, _, _ = plan_to_files(tfl, work, measure_tflm=tflm)
    return tfl, doc


def reference(tfl: Path, xs: list[np.ndarray]) -> list[list[np.ndarray]]:
    from hardtool.flash_and_bench.samples import reference_outputs

    return reference_outputs(tfl, [[x] for x in xs])


def sample_folder(folder: Path, xs: list[np.ndarray], classes: list[int]) -> Path:
    folder.mkdir(parents=True)
    for i, x in enumerate(xs):
        (folder / f"s{i}.bin").write_bytes(x.tobytes())
    (folder / "labels.csv").write_text(
        "file,class\n" + "".join(f"s{i}.bin,{c}\n" for i, c in enumerate(classes))
    )
    return folder


def random_inputs(shape, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(n)]


@needs_board
@pytest.mark.parametrize("kind", ARCHITECTURES)
def test_reference_architecture_on_the_emulated_board(kind, tmp_path, keras_dir):
    from hardtool.flash_and_bench.run import flash_and_bench

    tfl, doc = planned(kind, tmp_path, keras_dir)
    assert doc["arena_size"] <= doc["tflm_arena"]["arena_bytes"], (doc["arena_size"], doc["tflm_arena"])
    summary = generate(tfl, tmp_path / "model_int8.memplan.json", "qemu", tmp_path / "qemu")
    shape = summary["inputs"][0]["dims"]
    xs = random_inputs(shape, 3, seed=7)
    host = reference(tfl, xs)
    classes = [int(np.argmax(h[0])) for h in host]
    classes[2] = (classes[2] + 1) % host[2][0].size  # one wrong label: top-1 is 2/3 on both
    data = sample_folder(tmp_path / "data", xs, classes)
    r = flash_and_bench(tmp_path / "qemu", data, n=3, board="qemu", progress=False, log=lambda *_: None)
    assert r["completed"] == 3 and r["agreement"]["bit_exact"], r["agreement"]
    assert r["agreement"]["values"] == 3 * summary["outputs"][0]["bytes"]
    assert r["accuracy"] == r["host_accuracy"] == {"n": 3, "correct": 2, "top1": 2 / 3}
    lat = r["latency"]
    assert lat["unit"] == "instructions" and lat["min"] > summary["macs"] and "ms" not in lat
    assert len(r["per_layer"]) == summary["layers"] and r["sram"]["arena"] == doc["arena_size"]
    saved = json.loads((tmp_path / "qemu" / "bench" / "bench.json").read_text())
    assert saved["agreement"]["bit_exact"] and not (tmp_path / "qemu" / "bench" / "masks.png").exists()


def requantize(values: np.ndarray, out: dict) -> np.ndarray:
    return np.round(values / out["scale"]).astype(np.int64) + out["zero_point"]


@needs_board
def test_mlperf_tiny_protocol_on_the_emulated_board(tmp_path, keras_dir):
    from hardtool.build.firmware import build_firmware
    from hardtool.device.qemu import QemuBoard

    tfl, _ = planned("mlperf_kws", tmp_path, keras_dir, tflm=False)
    proj = tmp_path / "dut"
    summary = generate(
        tfl, tmp_path / "model_int8.memplan.json", "qemu", proj, name="kws01", protocol="mlperf-tiny"
    )
    assert summary["protocol"] == "mlperf-tiny" and not (proj / "app").exists() and (proj / "mlperf").is_dir()
    elf = build_firmware(proj).elf
    out = summary["outputs"][0]
    xs = random_inputs(summary["inputs"][0]["dims"], 2, seed=11)
    with QemuBoard(elf, timeout=240) as board:
        dut = DutClient(board.serial)
        boot = dut.lines()
        assert boot[0] == "m-timestamp-mode-performance" and boot[-2:] == ["m-init-done", "m-ready"]
        assert dut.command("name") == ["m-name-dut-[hardtool]", "m-ready"]
        profile = dut.command("profile")
        assert profile[0].startswith("m-profile-[") and profile[1] == "m-model-[kws01]"
        assert dut.command("bogus") == ["e-[Unknown command: bogus]", "m-ready"]
        assert dut.command("db load 7")[0].startswith("e-[The model's input is 490 bytes")
        for x, want in zip(xs, reference(tfl, xs), strict=True):
            dut.load(x.tobytes())
            printed = [ln for ln in dut.command("db print") if ln.startswith("m-buffer-")]
            assert (
                bytes.fromhex("".join(ln[len("m-buffer-") :].replace("-", "") for ln in printed))
                == x.tobytes()
            )
            lines = dut.command("infer 3 1", timeout=120)
            assert lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3"]
            laps = [int(ln.rsplit("-", 1)[1]) for ln in lines if ln.startswith("m-lap-instructions-")]
            assert len(laps) == 2 and laps[1] - laps[0] > 3 * summary["macs"]
            assert "m-infer-done" in lines and lines[-1] == "m-ready"
            assert np.array_equal(requantize(results(lines), out), want[0].reshape(-1).astype(np.int64))
            assert np.array_equal(results(dut.command("results")), results(lines))


@pytest.mark.parametrize("mode", ["uint8", "float32"])
def test_mlperf_input_conversions_on_the_host(mode, tmp_path, keras_dir):
    """`db` bytes as uint8 pixels (the IC / VWW references subtract 128) or float32 values (the AD
    reference quantises them): the DUT firmware built for the PC, driven over a pipe."""
    from hardtool.core.boards import C_FLAGS
    from hardtool.core.errors import HardtoolError
    from hardtool.core.resources import firmware_dir
    from hardtool.flash_and_bench.run import read_project

    tfl, _ = planned("mlperf_ad", tmp_path, keras_dir, tflm=False)
    proj = tmp_path / "dut"
    summary = generate(  # float32: the AD reference's input and anomaly score; uint8 as IC's
        tfl,
        tmp_path / "model_int8.memplan.json",
        "qemu",
        proj,
        protocol="mlperf-tiny",
        mlperf_input=mode,
        mlperf_model="ic01" if mode == "uint8" else None,
    )
    defines = [f"-D{k}={v}" for k, v in summary["defines"].items()]
    srcs = [proj / "model.c", proj / "mlperf" / "mlperf_dut.c", *sorted((proj / "kernels").glob("*.c"))]
    srcs.append(firmware_dir() / "bsp" / "host" / "bsp_host.c")
    exe = tmp_path / "dut_host"
    inc = [f"-I{d}" for d in (proj, proj / "kernels", firmware_dir() / "bsp" / "include")]
    subprocess.run(["gcc", *C_FLAGS, *defines, *inc, *map(str, srcs), "-o", str(exe), "-lm"], check=True)
    inp = summary["inputs"][0]
    rng = np.random.default_rng(5)
    if mode == "uint8":
        raw = rng.integers(0, 256, inp["dims"]).astype(np.uint8)
        x = (raw.astype(np.int16) - 128).astype(np.int8)
    else:
        raw = rng.uniform(-40, 40, inp["dims"]).astype(np.float32)
        q = raw / np.float32(inp["scale"])  # float32, rounded half away from zero, as the firmware
        r = np.trunc(q + np.where(q < 0, np.float32(-0.5), np.float32(0.5))).astype(np.int32)
        x = np.clip(r + inp["zero_point"], -128, 127).astype(np.int8)
    data = raw.tobytes()
    script = f"db load {len(data)}%" + "".join(
        f"db {data[i : i + 31].hex()}%" for i in range(0, len(data), 31)
    )
    stdout = subprocess.run(
        [str(exe)], input=(script + "infer 1 0%").encode(), capture_output=True, timeout=60
    ).stdout
    lines = [ln.strip() for ln in stdout.decode().splitlines() if ln.strip()]
    assert "m-load-done" in lines
    want = reference(tfl, [x])[0][0]
    if mode == "uint8":  # the MLPerf Tiny firmware is for device templates, and flash-and-bench refuses it
        with pytest.raises(HardtoolError, match="device templates"):
            generate(
                tfl, tmp_path / "model_int8.memplan.json", "host", tmp_path / "h", protocol="mlperf-tiny"
            )
        with pytest.raises(HardtoolError, match="mlperf-tiny protocol"):
            read_project(proj)
    if mode == "uint8":
        assert np.array_equal(
            requantize(results(lines), summary["outputs"][0]), want.reshape(-1).astype(np.int64)
        )
        return
    out = summary["outputs"][0]
    d = np.float32(out["scale"]) * (want.reshape(-1).astype(np.float32) - out["zero_point"]) - raw.reshape(-1)
    (score,) = results(lines)
    assert abs(score - float(np.mean(d * d, dtype=np.float32))) <= 0.0011
