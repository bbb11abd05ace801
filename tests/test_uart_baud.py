"""The UART rate end to end: a codegen option that reaches the firmware's divider, checked against
the board (positive, within 2 % at its UART clock, within its USB-serial bridge's limit in
board.json), the host using the same; bad rates refused in one line by codegen, build and
flash-and-bench; and the MLPerf Tiny names refused the same way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import model_builders
import pytest

from hardtool.core.boards import get_board
from hardtool.core.errors import HardtoolError
from hardtool.core.uart import check_baud, default_baud, divider, made_baud


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hardtool", *args], capture_output=True, text=True, timeout=600
    )


def one_line_error(r: subprocess.CompletedProcess, *needles: str) -> str:
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def test_the_disco_makes_its_default_and_the_fallback_within_2_percent():
    disco = get_board("disco")
    assert default_baud(disco) == disco.uart["default_baud"] == 1228800
    for baud in (default_baud(disco), disco.uart["fallback_baud"], 115200):
        assert check_baud(disco, baud) == baud
        assert abs(made_baud(disco, baud) - baud) / baud <= 0.02
        assert divider(disco, baud) == (108_000_000 + baud // 2) // baud  # BRR, as bsp_disco.c
    assert disco.uart["bridge_max_baud"] >= default_baud(disco)


@pytest.mark.parametrize(
    ("board", "baud", "needle"),
    [
        ("disco", 0, "positive"),
        ("qemu", -9600, "positive"),
        ("disco", 3_000_000, "ST-LINK/V2-1 USB-serial bridge carries at most 1,843,200"),
        ("qemu", 2_000_000, "divider 13 is outside 16"),
        ("qemu", 1_600_000, "more than 2 %"),
    ],
)
def test_rates_the_board_cannot_make_name_the_nearest_it_can(board, baud, needle):
    with pytest.raises(HardtoolError) as e:
        check_baud(get_board(board), baud)
    msg = str(e.value)
    assert needle in msg and "\n" not in msg
    if baud > 0:
        nearest = [
            int(x.replace(",", "")) for x in msg.split("nearest it makes: ")[1].split(" (")[0].split(", ")
        ]
        assert nearest and all(check_baud(get_board(board), b) == b for b in nearest)


@pytest.fixture(scope="module")
def ad_project(tmp_path_factory) -> Path:
    from hardtool.memplan.files import plan_to_files

    work = tmp_path_factory.mktemp("ad")
    tfl = work / "model_int8.tflite"
    shutil.copy(model_builders.build("mlperf_ad", work / "keras"), tfl)
    plan_to_files(tfl, work, measure_tflm=False)
    return work


def test_codegen_rejects_bad_rates_and_mlperf_names_in_one_line(ad_project):
    tfl = str(ad_project / "model_int8.tflite")
    one_line_error(
        run("codegen", tfl, "-t", "qemu", "--out", str(ad_project / "a"), "--baud", "0"), "--baud 0"
    )
    err = one_line_error(
        run("codegen", tfl, "-t", "baremetal", "--out", str(ad_project / "b"), "--baud", "2500000"), "nearest"
    )
    assert "1,843,200" in err
    r = run("codegen", tfl, "-t", "qemu", "--out", str(ad_project / "c"), "--protocol", "mlperf-tiny")
    assert r.returncode == 0, r.stderr
    assert (
        json.loads((ad_project / "c" / "codegen.json").read_text())["defines"]["MLPERF_MODEL_NAME"]
        == '"ad01"'
    )
    assert (
        json.loads((ad_project / "c" / "hardtool_build.json").read_text())["uart_baud"] == 921600
    )  # the runner's
    bad = run("codegen", tfl, "-t", "qemu", "--out", str(ad_project / "d"), "--protocol", "mlperf-tiny",
              "--mlperf-model", "kws02")  # fmt: skip
    one_line_error(bad, "kws02", "kws01, vww01, ic01, ad01, sww01")
    assert not (ad_project / "a").exists() and not (ad_project / "d").exists()


def test_the_rate_reaches_the_build_and_the_host(ad_project):
    from hardtool.codegen.generate import generate

    proj = ad_project / "disco"
    generate(ad_project / "model_int8.tflite", ad_project / "model_int8.memplan.json", "baremetal", proj)
    manifest = json.loads((proj / "hardtool_build.json").read_text())
    assert manifest["uart_baud"] == 1228800
    cproject = (proj / ".cproject").read_text()
    assert "BSP_UART_BAUD=1228800u" in cproject
    data = ad_project / "data"
    data.mkdir(exist_ok=True)
    (data / "s0.bin").write_bytes(bytes(640))
    one_line_error(
        run("flash-and-bench", str(proj), "--data", str(data), "--baud", "-1", "--board", "qemu"), "positive"
    )
    mismatch = run("flash-and-bench", str(proj), "--data", str(data), "--baud", "115200", "--board", "qemu")
    one_line_error(mismatch, "runs its UART at 1,228,800 baud")
    (proj / "hardtool_build.json").write_text(json.dumps(manifest | {"uart_baud": 0}))
    one_line_error(run("build", str(proj), "--board", "qemu"), "uart_baud", "positive")
