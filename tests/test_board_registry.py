"""One board registry (hardtool.core.boards) generates the rest: linker scripts, the CLI's choices,
the flashers of a board, the emulated board's sources, the limits templates print. A second real
board, the STM32F769I-DISCO, comes from data (its board.json and chip JSON) plus the C its board
support needs (its UART pins), and a generated project for it builds."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from hardtool.core import boards as B
from hardtool.core.errors import HardtoolError

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))
import fakemodel  # noqa: E402

GCC = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
KIB = 1024


def memory(script: str) -> dict[str, tuple[int, int]]:
    """{region: (origin, bytes)} of a linker script's MEMORY block."""
    out = {}
    for name, origin, size in re.findall(
        r"(\w+)\s+\(\w+\)\s*:\s*ORIGIN = (0x[0-9a-f]+), LENGTH = (\d+)K", script
    ):
        out[name] = (int(origin, 16), int(size) * KIB)
    return out


@pytest.mark.parametrize("name", sorted(B.boards()))
def test_link_script_regions_come_from_the_chip(name: str) -> None:
    b = B.get_board(name)
    regions = memory(B.link_script(b))
    assert regions["FLASH"] == (b.flash_address, b.chip.flash_bytes)
    assert regions["RAM"] == (b.chip.ram_origin, b.chip.budget_bytes)
    assert "@" not in B.link_script(b)


def test_the_f769_board_is_data() -> None:
    b = B.get_board("disco769")
    assert b.name == "stm32f769i_disco" and not b.emulated
    assert (
        b.chip.core == "Cortex-M7" and b.chip.budget_bytes == 512 * KIB and b.chip.flash_bytes == 2048 * KIB
    )
    assert memory(B.link_script(b)) == {"FLASH": (0x08000000, 2048 * KIB), "RAM": (0x20000000, 512 * KIB)}
    assert B.chip_limits(b) == "the STM32F769NI's 512 KB RAM / 2 MB flash"
    assert B.get_board("disco").chip.budget_bytes == 320 * KIB  # the first board keeps its limits


def test_cli_choices_come_from_the_registry() -> None:
    from click.testing import CliRunner

    from hardtool.cli import cli

    for cmd in ("build", "codegen"):
        out = " ".join(CliRunner().invoke(cli, [cmd, "--help"]).output.split())
        for b in B.boards().values():
            assert b.nickname in out and b.title in out
    assert set(B.board_choices()) == {"auto"} | {n for b in B.boards().values() for n in (b.name, b.nickname)}
    from hardtool.memplan.cli import memplan_cmd

    assert "stm32f769ni" in CliRunner().invoke(memplan_cmd, ["--help"]).output


def test_flashers_are_the_boards() -> None:
    from hardtool.device import flashers

    assert set(B.flasher_names()) - {"auto"} <= set(flashers.TOOLS)
    for b in B.boards().values():
        fl = flashers.board_flashers(b)
        assert [f.name for f in fl] == list(b.flashers) and all(f.board is b for f in fl)
        assert bool(fl) != b.emulated
    f769 = flashers.board_flashers(B.get_board("disco769"))
    assert {f.address for f in f769} == {0x08000000}
    with pytest.raises(HardtoolError, match="is not flashed"):
        flashers.get_flasher("st-flash", "qemu")


def test_a_board_json_may_hold_keys_for_other_stages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hardtool.core import resources

    fw = tmp_path / "firmware"
    shutil.copytree(resources.firmware_dir(), fw)
    path = fw / "bsp" / "stm32f769i_disco" / "board.json"
    d = json.loads(path.read_text()) | {"probe_notes": {"swo_mhz": 2, "bridge": "st-link"}}
    path.write_text(json.dumps(d))
    monkeypatch.setenv("HARDTOOL_FIRMWARE_DIR", str(fw))
    caches = (B.boards, B.targets, resources.data_dir)
    [c.cache_clear() for c in caches]
    try:
        assert B.get_board("disco769").extra == {"probe_notes": {"swo_mhz": 2, "bridge": "st-link"}}
        assert B.get_board("disco769").chip.budget_bytes == 512 * KIB
    finally:
        monkeypatch.undo()
        [c.cache_clear() for c in caches]


def test_kernel_runner_builds_the_emulated_boards_sources() -> None:
    import inspect

    from hardtool.device import kernel_runner

    src = inspect.getsource(kernel_runner.build_qemu_runner)
    assert "board.sources" in src and "bsp_qemu.c" not in src


@GCC
@pytest.mark.parametrize("board", sorted(B.boards()))
def test_app_builds_for_every_board(tmp_path: Path, board: str) -> None:
    from hardtool.build.firmware import build_firmware

    b = B.get_board(board)
    res = build_firmware(fakemodel.write_project(tmp_path, board))
    assert (tmp_path / "build" / "compile.log").read_text() == ""
    assert res.ram_total == b.chip.budget_bytes and res.flash_total == b.chip.flash_bytes
    assert res.sections[".isr_vector"]["addr"] == b.flash_address


@GCC
def test_generated_project_builds_for_the_f769(zoo_model, tmp_path: Path) -> None:
    """codegen --board disco769 + build: the F769's board support, its linker script (512 KB RAM,
    2 MB flash), its UART pins; the image names the board; rebuilt for the emulated board, the
    F769's files leave the link."""
    from hardtool.build.firmware import build_firmware
    from hardtool.codegen.generate import generate
    from hardtool.memplan import plan_file, to_json

    model = zoo_model("hard_edge")
    plan = tmp_path / "memplan.json"
    plan.write_text(json.dumps(to_json(plan_file(model))))
    out = tmp_path / "fw"
    summary = generate(model, plan, "qemu", out, board="disco769")
    assert summary["board"] == "stm32f769i_disco"
    script = (out / "bsp" / "stm32f769i_disco" / "link.ld").read_text()
    assert memory(script)["RAM"] == (0x20000000, 512 * KIB)
    assert "512 KB RAM / 2 MB flash" in (out / "README.md").read_text()
    manifest = json.loads((out / "hardtool_build.json").read_text())
    assert "bsp/stm32f769i_disco/disco_f769.c" in manifest["sources"]
    assert "bsp/stm32f746g_disco/disco_f746.c" not in manifest["sources"]
    res = build_firmware(out)
    assert (out / "build" / "compile.log").read_text() == ""
    assert res.board == "stm32f769i_disco" and res.ram_total == 512 * KIB
    assert b"stm32f769i-disco" in res.bin.read_bytes()
    emu = build_firmware(out, out=tmp_path / "emu", board="qemu")
    assert emu.board == "qemu_mps2_an500" and b"stm32f769i-disco" not in emu.bin.read_bytes()


def test_board_for_a_host_template_is_refused(zoo_model, tmp_path: Path) -> None:
    from hardtool.codegen.generate import generate
    from hardtool.memplan import plan_file, to_json

    model = zoo_model("hard_edge")
    plan = tmp_path / "memplan.json"
    plan.write_text(json.dumps(to_json(plan_file(model))))
    with pytest.raises(HardtoolError, match="--board is for the device templates"):
        generate(model, plan, "host", tmp_path / "h", board="disco769")
