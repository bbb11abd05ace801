"""A normal (non-editable) install works: the wheel carries the templates and the firmware sources,
and `hardtool codegen` + `hardtool build` run from a fresh venv, outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src") / "hardtool"
    # build from a clean copy, so no build output or egg-info of the checkout leaks in
    skip = shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__", "dist")

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(skip(folder, names)) | ({"build"} if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, src, ignore=ignore)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
        str(src),
    ]
    subprocess.run(cmd, check=True, capture_output=True, cwd=src)
    return next(out.glob("hardtool-*.whl"))


def test_wheel_holds_templates_and_firmware(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for need in (
        "hardtool/_data/templates/common/model.c.j2",
        "hardtool/_data/templates/qemu/template.json",
        "hardtool/_data/firmware/kernels/hard_kernels.h",
        "hardtool/_data/firmware/bsp/qemu_mps2_an500/board.json",
        "hardtool/_data/firmware/targets/stm32f746ng.json",
        "hardtool/zoo/hard_edge_synth.pt",
    ):
        assert need in names, need


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
@pytest.mark.slow
def test_installed_wheel_generates_and_builds(wheel, zoo_model, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # the heavy dependencies come from this environment's site-packages (a .pth adds the folder
    # without running its .pth files, so the checkout's editable install stays out)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "--version"], capture_output=True
    )  # not needed: install by unzipping
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(zoo_model("hard_edge"), work / "model_int8.tflite")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARDTOOL_", "PYTHONPATH"))}

    def hardtool(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(py), "-m", "hardtool", *args], cwd=work, env=env, capture_output=True, text=True
        )

    where = subprocess.run(
        [str(py), "-c", "import hardtool; print(hardtool.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert str(site) in where, where
    for args in (
        ("memplan", "model_int8.tflite", "--no-tflm"),
        ("codegen", "model_int8.tflite", "-t", "qemu"),
    ):
        r = hardtool(*args)
        assert r.returncode == 0, r.stderr
    r = hardtool("build", "qemu", "--json")
    assert r.returncode == 0, r.stderr
    assert (work / "qemu" / "build" / "firmware.elf").is_file() or list(
        (work / "qemu" / "build").glob("*.elf")
    )
