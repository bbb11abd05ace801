"""`hardtool build`: the bench app + fake model for both boards, -Werror clean, the chip's limits."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hardtool.core.boards import DEFAULT_STACK_BYTES
from hardtool.core.errors import EXIT_DOES_NOT_FIT, HardtoolError

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))
import fakemodel  # noqa: E402

pytestmark = pytest.mark.skipif(
    not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed"
)


@pytest.mark.parametrize("board", ["qemu_mps2_an500", "stm32f746g_disco"])
def test_build_both_boards_without_warnings(tmp_path: Path, board: str) -> None:
    from hardtool.build.firmware import build_firmware

    res = build_firmware(fakemodel.write_project(tmp_path, board))
    assert res.elf.is_file() and res.bin.is_file() and res.map.is_file()
    assert (tmp_path / "build" / "compile.log").read_text() == ""  # no warnings at all
    assert DEFAULT_STACK_BYTES < res.ram_used < 64 * 1024 and 0 < res.flash_used < 32 * 1024
    assert res.largest_ram_symbols[0]["symbol"] in ("hard_arena", "app", "__stack")
    vectors = res.sections[".isr_vector"]["addr"]
    assert vectors == (0x08000000 if board == "stm32f746g_disco" else 0)
    assert res.sections[".stack"]["addr"] == 0x20000000
    report = json.loads((tmp_path / "build" / "build.json").read_text())
    assert report["ram_used"] == res.ram_used


@pytest.mark.parametrize("arena", [10 * 1024, 80 * 1024])
def test_arena_follows_the_stack_in_dtcm(tmp_path: Path, arena: int) -> None:
    """On the DISCO the arena starts right after the stack, at the bottom of the DTCM; the report's
    bytes per region are the ELF's symbols split at the DTCM's end (an 80 KB arena spills into SRAM1)."""
    from hardtool.build.firmware import build_firmware
    from hardtool.build.placement import summary, symbols
    from hardtool.core.toolchain import find_toolchain

    res = build_firmware(
        fakemodel.write_project(tmp_path, "stm32f746g_disco", defines={"HARD_ARENA_SIZE": arena})
    )
    syms = symbols(find_toolchain(), res.elf)
    sstack, estack = syms["_sstack"][0], syms["_estack"][0]
    at, size = syms["hard_arena"]
    assert sstack == 0x20000000 and estack == sstack + DEFAULT_STACK_BYTES
    assert at == estack and size == arena == res.arena_bytes  # 4 KB stack: already 16-aligned
    assert res.sections[".arena"]["addr"] == at and syms["_sbss"][0] == at  # zeroed at reset
    assert res.sections[".data"]["addr"] >= res.sections[".bss"]["addr"] > at
    end = at + size
    dtcm_end = 0x20010000
    p = res.tcm_placement
    assert p["stack"] == [sstack, estack] and p["arena"] == [at, end]
    expect = {"DTCM": min(end, dtcm_end) - sstack} | ({"SRAM1": end - dtcm_end} if end > dtcm_end else {})
    assert p["bytes_by_region"] == expect
    line = summary(p)
    assert line.startswith(
        f"stack 4 KB + arena {arena:,} B: {expect['DTCM']:,} B in DTCM (0x20000000-0x2000ffff)"
    )
    assert ("SRAM1" in line) == (end > dtcm_end)
    report = json.loads((tmp_path / "build" / "build.json").read_text())
    assert report["tcm_placement"]["bytes_by_region"] == expect


def test_build_cli_json(tmp_path: Path) -> None:
    from hardtool.cli import cli

    fakemodel.write_project(tmp_path)
    r = CliRunner().invoke(cli, ["build", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["board"] == "qemu_mps2_an500" and out["ram_total"] == 320 * 1024


def test_oversized_arena_fails_with_one_line(tmp_path: Path) -> None:
    from hardtool.build.firmware import build_firmware

    fakemodel.write_project(tmp_path, defines={"HARD_ARENA_SIZE": 400 * 1024})
    with pytest.raises(HardtoolError) as e:
        build_firmware(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert "RAM overflowed by" in msg and "hard_arena (409,600 bytes, model.c)" in msg
    over = int(msg.split("overflowed by ")[1].split(" bytes")[0].replace(",", ""))
    # 400 KB arena + the default stack + app state - 320 KB
    least = 400 * 1024 + DEFAULT_STACK_BYTES - 320 * 1024
    assert least < over < least + 4096
    assert e.value.exit_code == EXIT_DOES_NOT_FIT


def test_cli_overflow_is_one_line_on_stderr(tmp_path: Path) -> None:
    import subprocess

    fakemodel.write_project(tmp_path, defines={"HARD_ARENA_SIZE": 400 * 1024})
    r = subprocess.run(
        [sys.executable, "-m", "hardtool", "build", str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 3
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        "error: does not fit the STM32F746NG: RAM overflowed by"
    )


def test_compile_error_is_one_line(tmp_path: Path) -> None:
    from hardtool.build.firmware import build_firmware

    (tmp_path / "bad.c").write_text("int f(void) { int unused; return 0; }\n")
    fakemodel.write_project(tmp_path, sources=[str(fakemodel.HERE / "model.c"), "bad.c"])
    with pytest.raises(HardtoolError, match=r"compile failed: .*bad\.c.*unused") as e:
        build_firmware(tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "manifest, match",
    [
        ({"board": "nucleo", "sources": ["a.c"]}, "'board' must be one of"),
        ({"board": "qemu_mps2_an500", "sources": []}, "'sources' must be"),
        ({"board": "qemu_mps2_an500", "sources": ["a.c"], "colour": 1}, "unknown key"),
        ({"board": "qemu_mps2_an500", "sources": ["missing.c"]}, "source missing.c not found"),
    ],
)
def test_manifest_errors(tmp_path: Path, manifest: dict, match: str) -> None:
    from hardtool.build.firmware import build_firmware

    (tmp_path / "hardtool_build.json").write_text(json.dumps(manifest))
    with pytest.raises(HardtoolError, match=match):
        build_firmware(tmp_path)


def test_missing_manifest(tmp_path: Path) -> None:
    from hardtool.build.firmware import build_firmware

    with pytest.raises(HardtoolError, match="hardtool_build.json"):
        build_firmware(tmp_path)


def test_missing_toolchain_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hardtool.core import toolchain

    toolchain.find_toolchain.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("HARDTOOL_ARM_GCC", raising=False)
    monkeypatch.delenv("ARM_GCC_PATH", raising=False)
    monkeypatch.setattr(toolchain, "_CUBEIDE_GLOBS", [])
    try:
        with pytest.raises(HardtoolError, match="apt-get install -y gcc-arm-none-eabi"):
            toolchain.find_toolchain()
        # an explicit location wins
        real = Path(
            shutil.which("arm-none-eabi-gcc", path="/usr/bin:/usr/local/bin") or "/usr/bin/arm-none-eabi-gcc"
        )
        monkeypatch.setenv("HARDTOOL_ARM_GCC", str(real.parent))
        toolchain.find_toolchain.cache_clear()
        assert toolchain.find_toolchain().bin_dir == real.parent
    finally:
        toolchain.find_toolchain.cache_clear()


def test_flasher_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hardtool.device import flashers

    monkeypatch.setenv("PATH", str(tmp_path))
    for name in ("st-flash", "openocd", "cubeprogrammer", "mass-storage"):
        with pytest.raises(HardtoolError, match=f"flasher {name} not available") as e:
            flashers.get_flasher(name)
        assert "\n" not in str(e.value)
    with pytest.raises(HardtoolError, match="unknown flasher"):
        flashers.get_flasher("jlink")
    monkeypatch.setattr(flashers.PyOCDFlasher, "available", lambda self: False)
    with pytest.raises(HardtoolError, match="no flashing tool found"):
        flashers.get_flasher("auto")
    with pytest.raises(HardtoolError, match="not found; build it first"):
        flashers.flash(tmp_path / "none.bin")


def test_board_port_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools import list_ports
    from serial.tools.list_ports_common import ListPortInfo

    from hardtool.device import flashers

    other = ListPortInfo("/dev/ttyUSB0")
    other.vid, other.pid = 0x10C4, 0xEA60
    stlink = ListPortInfo("/dev/ttyACM0")
    stlink.vid, stlink.pid = 0x0483, 0x374B
    monkeypatch.setattr(list_ports, "comports", lambda: [other])
    with pytest.raises(HardtoolError, match="no STM32F746G-DISCO found .*ttyUSB0.*--port"):
        flashers.find_board_port()
    monkeypatch.setattr(list_ports, "comports", lambda: [other, stlink])
    assert flashers.find_board_port() == "/dev/ttyACM0"


def test_busy_or_missing_port_is_one_line() -> None:
    from hardtool.device.link import open_port

    with pytest.raises(HardtoolError, match="cannot open serial port /dev/ttyNOPE0: no such port"):
        open_port("/dev/ttyNOPE0")
    with pytest.raises(HardtoolError, match="nothing listens there"):
        open_port("socket://127.0.0.1:1")
