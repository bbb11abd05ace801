"""Every codegen template, rendered and compiled as its users build it: the host template with its
own Makefile (and its output equals TFLite's reference kernels), the Mbed template with
arm-none-eabi-g++ against the Mbed OS API it uses (a header stub of it: Mbed OS is not installed
here), and the board templates with `hardtool build`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hardtool.codegen.generate import generate, templates
from hardtool.core.boards import C_FLAGS, EMULATED_BOARD, get_board
from hardtool.memplan.files import plan_to_files

STUB = Path(__file__).parent / "fixtures" / "mbed_stub"
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"
)


@pytest.fixture(scope="module")
def planned(zoo_model, tmp_path_factory) -> tuple[Path, Path]:
    model = zoo_model("hard_edge")
    folder = tmp_path_factory.mktemp("planned")
    shutil.copy(model, folder / "model_int8.tflite")
    plan_json = plan_to_files(folder / "model_int8.tflite", folder, measure_tflm=False)[2]
    return folder / "model_int8.tflite", plan_json


def test_every_template_renders(planned, tmp_path):
    model, plan = planned
    assert set(templates()) >= {"host", "qemu", "baremetal", "mbed"}
    for t in templates():
        summary = generate(model, plan, t, tmp_path / t)
        assert {"model.c", "model.h", "README.md", "codegen.json"} <= set(summary["files"]) | {"codegen.json"}
        assert len(summary["layer_table"]) == summary["layers"]


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_host_template_builds_with_its_makefile_and_matches_tflite(planned, tmp_path):
    from hardtool.quantize.runtime import Int8Model

    model, plan = planned
    proj = tmp_path / "host"
    generate(model, plan, "host", proj)
    r = subprocess.run(["make", "-C", str(proj), "CC=gcc"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ref = Int8Model(model)
    rng = np.random.default_rng(0)
    h, w = ref.input_size
    xs = rng.integers(-128, 128, (2, h, w, 3)).astype(np.int8)
    out = subprocess.run(
        [str(proj / "model_host")], input=xs.tobytes(), capture_output=True, check=True
    ).stdout
    labels = np.frombuffer(out, np.uint8).reshape(2, h, w)
    for x, got in zip(xs, labels, strict=True):
        assert np.array_equal(got, ref.run_int8(x[None])), "host executable differs from TFLite's reference"


@needs_arm
@pytest.mark.skipif(shutil.which("arm-none-eabi-g++") is None, reason="arm-none-eabi-g++ not installed")
def test_mbed_template_compiles_against_the_mbed_api(planned, tmp_path):
    model, plan = planned
    proj = tmp_path / "mbed"
    generate(model, plan, "mbed", proj)
    cpu = list(get_board(EMULATED_BOARD).cpu_flags)
    inc = ["-I", str(proj), "-I", str(proj / "kernels")]
    cxx = [
        "arm-none-eabi-g++",
        *cpu,
        "-std=gnu++14",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
        str(STUB),
        *inc,
    ]
    r = subprocess.run(
        [*cxx, "-c", str(proj / "main.cpp"), "-o", str(tmp_path / "main.o")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    for src in [proj / "model.c", *sorted((proj / "kernels").glob("*.c"))]:
        cc = [
            "arm-none-eabi-gcc",
            *cpu,
            *C_FLAGS,
            *inc,
            "-c",
            str(src),
            "-o",
            str(tmp_path / f"{src.stem}.o"),
        ]
        r = subprocess.run(cc, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@needs_arm
@pytest.mark.parametrize("template", ["qemu", "baremetal"])
def test_board_templates_build(planned, tmp_path, template):
    from hardtool.build.firmware import build_firmware

    model, plan = planned
    generate(model, plan, template, tmp_path / template)
    res = build_firmware(tmp_path / template)
    assert (tmp_path / template / "build" / "compile.log").read_text() == ""
    assert 0 < res.ram_used <= res.ram_total and 0 < res.flash_used <= res.flash_total


@needs_arm
def test_board_project_builds_for_the_emulated_board(planned, tmp_path):
    """A project made for the DISCO board is built for the emulated one with that board's support."""
    from hardtool.build.firmware import build_firmware

    model, plan = planned
    generate(model, plan, "baremetal", tmp_path / "bm")
    res = build_firmware(tmp_path / "bm", out=tmp_path / "bm" / "build_qemu", board="qemu")
    assert res.board == EMULATED_BOARD and res.sections[".isr_vector"]["addr"] == 0
