"""STM32F746G-DISCO readiness, checked without a board: the pyOCD target against pyOCD's own
tables and pack matching, each flasher's "cannot confirm" path, the clock and reset code run on a
register model from cold and warm states, the STM32CubeIDE project against real CubeIDE projects
and built with the command lines CubeIDE's makefiles run, the Mbed OS 6 files, and the runtime
statics the registry records against the linked firmware."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hardtool.core.boards import C_FLAGS, DEFAULT_BOARD, EMULATED_BOARD, boards, get_board, statics_estimate
from hardtool.core.errors import HardtoolError
from hardtool.core.resources import firmware_dir

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "fake_model"))
import cubeide  # noqa: E402
import fakemodel  # noqa: E402

DISCO = get_board(DEFAULT_BOARD)
MODEL_DIR = Path(__file__).parent / "fixtures" / "stm32f7_model"
needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"
)
needs_cc = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")

# The device hierarchy of Keil.STM32F7xx_DFP (the pack `pyocd pack install stm32f746ng` fetches):
# family → subFamily STM32F746 → device STM32F746NG → variant STM32F746NGHx (BGA216, the DISCO's).
PDSC = """<?xml version="1.0" encoding="UTF-8"?>
<package schemaVersion="1.7.36">
  <vendor>Keil</vendor>
  <name>STM32F7xx_DFP</name>
  <description>test fixture with the pack's device hierarchy</description>
  <releases><release version="0.0.1">fixture</release></releases>
  <devices>
    <family Dfamily="STM32F7 Series" Dvendor="STMicroelectronics:13">
      <processor Dcore="Cortex-M7" DcoreVersion="r0p1" Dfpu="SP_FPU" Dmpu="MPU" Dendian="Little-endian"
                 Dclock="216000000"/>
      <subFamily DsubFamily="STM32F746">
        <device Dname="STM32F746NG">
          <memory name="IROM1" access="rx" start="0x08000000" size="0x00100000" startup="1" default="1"/>
          <memory name="IRAM1" access="rwx" start="0x20010000" size="0x00040000" default="1"/>
          <variant Dvariant="STM32F746NGHx"/>
        </device>
      </subFamily>
    </family>
  </devices>
</package>
"""


@pytest.fixture(scope="module")
def stm32f7_pack(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pack") / "Keil.STM32F7xx_DFP.0.0.1.pack"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Keil.STM32F7xx_DFP.pdsc", PDSC)
    return path


# --- 1. pyOCD -----------------------------------------------------------------------------------


def test_pyocd_target_is_the_one_pyocd_names_the_disco_board() -> None:
    from pyocd.board.board_ids import BOARD_ID_TO_INFO

    info = BOARD_ID_TO_INFO[DISCO.flash["pyocd_board_id"]]
    assert info.name == "DISCO-F746NG"
    assert info.target == DISCO.flash["pyocd_target"] == "stm32f746nghx"


def test_pyocd_finds_the_target_in_the_stm32f7_pack_as_pyocd_does(stm32f7_pack: Path) -> None:
    from pyocd.core.session import Session
    from pyocd.target import TARGET
    from pyocd.target.pack.pack_target import is_pack_target_available

    from hardtool.device.pyocd_flash import pack_target_names, target_known

    assert "stm32f746nghx" not in TARGET and "stm32f746xx" not in TARGET  # not built in: a pack is needed
    assert {"stm32f746ng", "stm32f746nghx"} <= pack_target_names([str(stm32f7_pack)])
    session = Session(None, pack=[str(stm32f7_pack)])
    for name in ("stm32f746nghx", "stm32f746xx"):
        assert target_known(name, [str(stm32f7_pack)]) == is_pack_target_available(name, session)
    assert target_known(DISCO.flash["pyocd_target"], [str(stm32f7_pack)])
    assert not target_known("stm32f746xx", [str(stm32f7_pack)])  # the name pyOCD never knew


def test_pyocd_flasher_says_how_to_get_the_pack(monkeypatch: pytest.MonkeyPatch, stm32f7_pack: Path) -> None:
    from hardtool.device import flashers, pyocd_flash

    monkeypatch.delenv(pyocd_flash.PACK_ENV, raising=False)
    monkeypatch.setattr(pyocd_flash, "target_known", lambda target, packs=None: False)
    with pytest.raises(HardtoolError, match="pyocd pack install stm32f746nghx") as e:
        flashers.get_flasher("pyocd")
    assert "\n" not in str(e.value)
    # auto passes over pyOCD when its target is missing and takes the next tool present
    monkeypatch.setattr(flashers.StFlashFlasher, "unavailable", lambda self: None)
    assert flashers.get_flasher("auto").name == "st-flash"
    monkeypatch.undo()
    monkeypatch.setenv(pyocd_flash.PACK_ENV, str(stm32f7_pack))
    assert flashers.get_flasher("pyocd").name == "pyocd"
    monkeypatch.setenv(pyocd_flash.PACK_ENV, str(stm32f7_pack.with_name("missing.pack")))
    with pytest.raises(HardtoolError, match="missing pack file"):
        flashers.get_flasher("pyocd")


class _FakeTarget:
    def __init__(self, flash: bytearray, corrupt_at: int | None) -> None:
        self.flash, self.corrupt_at, self.resets = flash, corrupt_at, 0

    def read_memory_block8(self, address: int, n: int) -> list[int]:
        data = bytearray(self.flash[address - 0x08000000 : address - 0x08000000 + n])
        if self.corrupt_at is not None:
            data[self.corrupt_at] ^= 0xFF
        return list(data)

    def reset(self) -> None:
        self.resets += 1


def _fake_pyocd(monkeypatch: pytest.MonkeyPatch, corrupt_at: int | None) -> _FakeTarget:
    """pyOCD's session and programmer replaced by a flash array: what is programmed lands there."""
    import pyocd.flash.file_programmer as fp
    from pyocd.core.helpers import ConnectHelper

    target = _FakeTarget(bytearray(1 << 20), corrupt_at)

    class Session:
        board = type("Board", (), {"target": target})()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class Programmer:
        def __init__(self, session) -> None:
            pass

        def program(self, path: str, base_address: int, file_format: str) -> None:
            assert file_format == "bin"
            data = Path(path).read_bytes()
            target.flash[base_address - 0x08000000 : base_address - 0x08000000 + len(data)] = data

    monkeypatch.setattr(ConnectHelper, "session_with_chosen_probe", staticmethod(lambda **kw: Session()))
    monkeypatch.setattr(fp, "FileProgrammer", Programmer)
    return target


def test_pyocd_flash_reads_back_what_it_wrote(monkeypatch, tmp_path, stm32f7_pack) -> None:
    from hardtool.device import flashers, pyocd_flash

    image = tmp_path / "fw.bin"
    image.write_bytes(bytes(range(256)) * 40)
    monkeypatch.setenv(pyocd_flash.PACK_ENV, str(stm32f7_pack))
    target = _fake_pyocd(monkeypatch, corrupt_at=None)
    assert flashers.flash(image, flasher="pyocd") == "pyocd"
    assert bytes(target.flash[: len(image.read_bytes())]) == image.read_bytes() and target.resets == 1
    bad = _fake_pyocd(monkeypatch, corrupt_at=1000)
    with pytest.raises(HardtoolError, match=r"verify failed at 0x080003e8") as e:
        flashers.flash(image, flasher="pyocd")
    assert "\n" not in str(e.value) and bad.resets == 0


# --- 2. ST-LINK USB drive -------------------------------------------------------------------------


def _drive_script(tmp_path: Path, states: list[set[str] | None]):
    """find() for wait_for_result: the drive's content at each poll (None = unmounted), last one kept."""
    drive = tmp_path / "DIS_F746NG"
    step = {"i": 0}

    def find() -> Path | None:
        state = states[min(step["i"], len(states) - 1)]
        step["i"] += 1
        if drive.exists():
            shutil.rmtree(drive)
        if state is None:
            return None
        drive.mkdir()
        for name in state:
            (drive / name).write_text(
                "The target device is not responding\r\n" if name == "FAIL.TXT" else "x"
            )
        return drive

    return find


@pytest.mark.parametrize(
    ("states", "outcome"),
    [
        # copied, drive drops away, comes back clean (twice): flashed
        ([{"MBED.HTM", "fw.bin"}, None, None, {"MBED.HTM", "DETAILS.TXT"}], None),
        # comes back with FAIL.TXT: the old code had already returned success when the file vanished
        ([{"MBED.HTM", "fw.bin"}, None, {"MBED.HTM", "FAIL.TXT"}], "flashing failed: The target device"),
        # drive never comes back: unconfirmed, not success
        ([{"MBED.HTM", "fw.bin"}, None], "never came back"),
        # file never taken: unconfirmed, not success
        ([{"MBED.HTM", "fw.bin"}], "did not confirm"),
    ],
)
def test_mass_storage_confirms_or_fails(tmp_path: Path, states, outcome) -> None:
    from hardtool.device.mass_storage import wait_for_result

    find = _drive_script(tmp_path, states)
    if outcome is None:
        wait_for_result(find, "fw.bin", timeout=5, poll=0.5, sleep=lambda s: None)
        return
    with pytest.raises(HardtoolError, match=outcome) as e:
        wait_for_result(find, "fw.bin", timeout=5, poll=0.5, sleep=lambda s: None)
    assert "\n" not in str(e.value)


# --- 3. clock and reset code on a register model --------------------------------------------------


@pytest.fixture(scope="module")
def clock_model(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("model") / "stm32f7_model"
    bsp = firmware_dir() / "bsp"
    cmd = ["gcc", *C_FLAGS, "-include", str(MODEL_DIR / "stm32f7_model.h")]
    cmd += [f"-I{bsp / DISCO.name}", f"-I{bsp / 'common'}", str(MODEL_DIR / "stm32f7_model.c")]
    cmd += [str(bsp / DISCO.name / "disco_clock.c"), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr
    return exe


def _run_model(exe: Path, scenario: str) -> tuple[int, dict, list[str]]:
    r = subprocess.run([str(exe), scenario], capture_output=True, text=True, timeout=60)
    lines = [ln.split("=", 1) for ln in r.stdout.splitlines() if "=" in ln]
    return (
        r.returncode,
        {k: v for k, v in lines if k != "violation"},
        [v for k, v in lines if k == "violation"],
    )


@needs_cc
@pytest.mark.parametrize("start", ["cold", "warm"])
def test_clock_init_from_cold_and_warm_state(clock_model: Path, start: str) -> None:
    rc, regs, violations = _run_model(clock_model, start)
    assert rc == 0 and violations == [], violations
    assert int(regs["sysclk"]) == 216_000_000 and regs["sws"] == "2"
    pllcfgr = int(regs["pllcfgr"], 16)
    assert pllcfgr & (1 << 29), "PLLCFGR reserved bit 29 (reset value 0x24003010) was cleared"
    assert (pllcfgr & 0x3F, (pllcfgr >> 6) & 0x1FF, (pllcfgr >> 16) & 3, (pllcfgr >> 24) & 0xF) == (
        25,
        432,
        0,
        9,
    )
    assert int(regs["acr"], 16) & 0xF == 7
    ccr = int(regs["ccr"], 16)
    assert ccr & (1 << 16) and ccr & (1 << 17)  # D- and I-cache on
    # a live D-cache is never invalidated (that would drop data written since reset)
    assert int(regs["dcisw_writes"]) == (128 if start == "cold" else 0)


@needs_cc
def test_register_model_catches_the_warm_start_hang(clock_model: Path) -> None:
    """Stopping the PLL while it drives SYSCLK (the previous clock code's first step) hangs."""
    rc, regs, violations = _run_model(clock_model, "naive-warm")
    assert rc == 3 and regs["hang"] == "1"
    assert violations == ["PLLON cleared while the PLL drives SYSCLK"]


@needs_cc
def test_reset_state_sets_vtor_and_quiets_interrupts(clock_model: Path) -> None:
    rc, regs, violations = _run_model(clock_model, "reset-state")
    assert rc == 0 and violations == []
    assert regs["vtor"] == "0x08000000" and int(regs["syst_csr"], 16) == 0
    assert all(regs[f"{k}{i}"] == "0xFFFFFFFF" for k in ("icer", "icpr") for i in range(8))
    assert int(regs["icsr"], 16) == (1 << 27) | (1 << 25)


# --- 4. builds shared by the startup, statics and CubeIDE checks -----------------------------------


@pytest.fixture(scope="module")
def disco_project(zoo_model, tmp_path_factory) -> Path:
    """A baremetal (STM32F746G-DISCO) project generated for HARD-Edge, built with `hardtool build`."""
    from hardtool.build.firmware import build_firmware
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import plan_to_files

    folder = tmp_path_factory.mktemp("disco")
    shutil.copy(zoo_model("hard_edge"), folder / "model_int8.tflite")
    plan_to_files(folder / "model_int8.tflite", folder, measure_tflm=False)
    generate(folder / "model_int8.tflite", folder / "model_int8.memplan.json", "baremetal", folder / "bm")
    build_firmware(folder / "bm")
    return folder / "bm"


def _build(project: Path):
    from hardtool.build.firmware import build_firmware

    return build_firmware(project)


@needs_arm
def test_disco_startup_points_vtor_at_its_vector_table(disco_project: Path) -> None:
    elf = next((disco_project / "build").glob("*.elf"))
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True).stdout
    assert re.search(r"^08000000 [tTrRdD] vectors$", syms, re.M), "vector table not at the start of flash"
    dis = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "--disassemble=Reset_Handler", str(elf)],
        capture_output=True,
        text=True,
    ).stdout
    words = set(re.findall(r"\.word\s+0x([0-9a-f]{8})", dis))
    vtor_store = "0xe000ed08" in dis or (
        "0xe000e000" in dis and re.search(r"\bstr(?:\.w)?\s+r\d+, \[r\d+, #3336\]", dis) is not None
    )
    assert "08000000" in words and vtor_store, "Reset_Handler does not write the table's address to SCB->VTOR"


# --- 5. runtime statics -----------------------------------------------------------------------------


def _arena(h: int, w: int, c: int) -> int:
    """The fake model's arena (model.h), a multiple of 16 like every generated arena: the .bss
    padding after it then matches a generated project's."""
    return -(-(h * w * c + 2 * h * w + 2) // 16) * 16


@needs_arm
@pytest.mark.parametrize("board", [DEFAULT_BOARD, EMULATED_BOARD])
def test_registry_statics_are_what_the_linked_firmware_has(tmp_path: Path, board: str) -> None:
    """board.json's runtime statics = .data + .bss - arena of the bench firmware linked for its
    reference model (the fake model at the reference's shape has exactly the generated model's)."""
    rec = boards()[board].runtime_statics
    h, w, c = rec["reference"]["input"]
    defines = {"FAKE_H": h, "FAKE_W": w, "FAKE_C": c, "HARD_NUM_LAYERS": rec["reference"]["layers"]}
    res = _build(
        fakemodel.write_project(tmp_path, board, defines=defines | {"HARD_ARENA_SIZE": _arena(h, w, c)})
    )
    assert res.statics_bytes == rec["bytes"]
    assert res.arena_bytes == _arena(h, w, c)
    assert res.ram_used == res.arena_bytes + res.stack_bytes + res.statics_bytes


@needs_arm
def test_fake_model_stands_in_for_a_generated_one(disco_project: Path, tmp_path: Path) -> None:
    """The generated model adds nothing to RAM but its arena: a fake model of the same shape links to
    the same statics, so the registry's reference measurement holds for generated projects."""
    summary = json.loads((disco_project / "codegen.json").read_text())
    _, h, w, c = summary["inputs"][0]["dims"]
    dims = {"FAKE_H": h, "FAKE_W": w, "FAKE_C": c, "HARD_NUM_LAYERS": summary["layers"]}
    report = json.loads((disco_project / "build" / "build.json").read_text())
    arena = _arena(h, w, c)
    fake = _build(fakemodel.write_project(tmp_path, DEFAULT_BOARD, defines=dims | {"HARD_ARENA_SIZE": arena}))
    assert report["statics_bytes"] == fake.statics_bytes > 0
    assert report["arena_bytes"] == json.loads((disco_project / "memplan.json").read_text())["arena_size"]


def test_memplan_budgets_the_largest_statics_measured_for_the_chip() -> None:
    figures = [b.runtime_statics["bytes"] for b in boards().values() if b.chip.name == "stm32f746ng"]
    statics, source = statics_estimate("stm32f746ng")
    assert statics == max(figures) == DISCO.runtime_statics["bytes"] and DISCO.name in source
    # a chip no board carries still gets a measured figure, and says where it comes from
    statics, source = statics_estimate("rp2040")
    assert statics == max(figures) and "no board carries the rp2040" in source


# --- 6. STM32CubeIDE project ------------------------------------------------------------------------

P = cubeide.P
# Every option / tool superClass a real STM32CubeIDE project for an STM32F746 uses (read from
# public CubeIDE projects for STM32F746NGHx and STM32F746ZGTx, and the option ids ST's own CubeIDE
# project checker reads). Anything outside this set is an id CubeIDE would not know.
REAL_SUPERCLASSES = {
    f"{P}.{s}"
    for s in (
        "toolchain.exe.debug",
        "toolchain.exe.release",
        "option.target_mcu",
        "option.target_cpuid",
        "option.target_coreid",
        "option.fpu",
        "option.floatabi",
        "option.target_board",
        "option.defaults",
        "option.converthex",
        "option.nanoprintffloat",
        "targetplatform",
        "builder",
        "tool.assembler",
        "tool.assembler.option.debuglevel",
        "tool.assembler.option.definedsymbols",
        "tool.assembler.option.includepaths",
        "tool.assembler.input",
        "tool.c.compiler",
        "tool.c.compiler.option.debuglevel",
        "tool.c.compiler.option.optimization.level",
        "tool.c.compiler.option.definedsymbols",
        "tool.c.compiler.option.includepaths",
        "tool.c.compiler.option.warnings.extra",
        "tool.c.compiler.option.otherflags",
        "tool.c.compiler.input.c",
        "tool.cpp.compiler",
        "tool.cpp.compiler.option.debuglevel",
        "tool.cpp.compiler.option.optimization.level",
        "tool.c.linker",
        "tool.c.linker.option.script",
        "tool.c.linker.option.otherflags",
        "tool.c.linker.input",
        "tool.cpp.linker",
        "tool.archiver",
        "tool.size",
        "tool.objdump.listfile",
        "tool.objcopy.hex",
        "tool.objcopy.binary",
    )
}
# the natures of a CubeIDE "STM32 project" without CubeMX (managed makefile, one core)
REAL_NATURES = {
    "com.st.stm32cube.ide.mcu.MCUProjectNature",
    "org.eclipse.cdt.core.cnature",
    "com.st.stm32cube.ide.mcu.MCUCubeIdeServicesRevAev2ProjectNature",
    "com.st.stm32cube.ide.mcu.MCUManagedMakefileProjectNature",
    "com.st.stm32cube.ide.mcu.MCUSingleCpuProjectNature",
    "com.st.stm32cube.ide.mcu.MCURootProjectNature",
    "org.eclipse.cdt.managedbuilder.core.managedBuildNature",
    "org.eclipse.cdt.managedbuilder.core.ScannerConfigNature",
}


def test_cubeide_project_files_use_real_option_ids(disco_project: Path) -> None:
    natures = {n.text for n in ET.parse(disco_project / ".project").getroot().iter("nature")}
    assert natures == REAL_NATURES
    root = ET.parse(disco_project / ".cproject").getroot()
    used = {e.get("superClass") for e in root.iter() if e.get("superClass")}
    assert used <= REAL_SUPERCLASSES, sorted(used - REAL_SUPERCLASSES)
    configs = cubeide.read_configs(disco_project / ".cproject")
    assert set(configs) == {"Debug", "Release"}
    sha = json.loads((disco_project / "codegen.json").read_text())["model_sha256"]
    for c in configs.values():
        assert c.value(f"{P}.option.target_mcu") == "STM32F746NGHx"
        assert c.value(f"{P}.option.fpu") == f"{P}.option.fpu.value.fpv5-sp-d16"
        assert c.value(f"{P}.option.floatabi") == f"{P}.option.floatabi.value.hard"
        defines = c.value(f"{P}.tool.c.compiler.option.definedsymbols")
        assert f'APP_BUILD_ID="{sha[:12]}"' in defines and not any("\\" in d for d in defines)
        assert "build" in c.excluding  # `hardtool build`'s objects are never linked in again
    for inp in root.iter("inputType"):
        if inp.get("superClass") == f"{P}.tool.c.linker.input":
            assert {a.get("paths") for a in inp.iter("additionalInput")} >= {"$(LIBS)", "$(USER_OBJS)"}


def _cube_build(project: Path, name: str) -> tuple[list[tuple[str, subprocess.CompletedProcess]], Path]:
    """Compile and link one configuration with CubeIDE's command lines, run through a shell."""
    c = cubeide.read_configs(project / ".cproject")[name]
    out = project / name
    sources = cubeide.managed_sources(project, c)

    def one(rel: str) -> tuple[str, subprocess.CompletedProcess]:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        cmd = cubeide.compile_command(c, f"../{rel}", rel[:-2] + ".o")
        return cmd, subprocess.run(cmd, shell=True, cwd=out, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(one, sources))
    (out / "objects.list").write_text("".join(f'"./{rel[:-2]}.o"\n' for rel in sources))
    link = subprocess.run(
        cubeide.link_command(c, project, "fw"), shell=True, cwd=out, capture_output=True, text=True
    )
    results.append(("link", link))
    return results, out / "fw.elf"


def _sized_symbols(elf: Path) -> list[tuple[str, str, str]]:
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True).stdout
    return sorted(tuple(ln.split()[1:]) for ln in out.splitlines() if len(ln.split()) == 4)


@needs_arm
def test_cubeide_builds_the_project_as_its_makefiles_would(disco_project: Path) -> None:
    for name in ("Debug", "Release"):
        results, elf = _cube_build(disco_project, name)
        for cmd, r in results:
            assert r.returncode == 0 and r.stderr == "", f"{cmd}\n{r.stderr}"
        assert "'-DAPP_BUILD_ID=\"" in results[0][0]  # single-quoted by the shell, as CubeIDE writes it
        sha = json.loads((disco_project / "codegen.json").read_text())["model_sha256"]
        assert sha[:12].encode() in elf.read_bytes()
    # the Release build is the firmware `hardtool build` makes: same objects, same sizes
    ours = next((disco_project / "build").glob("*.elf"))
    assert _sized_symbols(disco_project / "Release" / "fw.elf") == _sized_symbols(ours)


@needs_arm
def test_backslash_escaped_define_fails_as_cubeide_reported(disco_project: Path) -> None:
    """The harness is the real thing: the old `APP_BUILD_ID=\\"…\\"` value breaks the compile."""
    c = cubeide.read_configs(disco_project / ".cproject")["Release"]
    key = f"{P}.tool.c.compiler.option.definedsymbols"
    c.options[key] = [d.replace('"', '\\"') if d.startswith("APP_BUILD_ID") else d for d in c.options[key]]
    out = disco_project / "Release"
    out.mkdir(exist_ok=True)
    (out / "app").mkdir(exist_ok=True)
    r = subprocess.run(
        cubeide.compile_command(c, "../app/main.c", "app/main.o"),
        shell=True,
        cwd=out,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "stray '\\'" in r.stderr


# --- 7. Mbed OS 6 -------------------------------------------------------------------------------------

# what Mbed OS 6's default minimal-printf prints: %d %i %u %x %X %c %s %p with h/hh/l/ll/z/j/t and a
# width; no precision except on floats, which are off by default; other flags ignored
MINIMAL_PRINTF = re.compile(r"%(?:%|\d*(?:hh|h|ll|l|z|j|t)?[diuxXcsp])")


def test_mbed_files_match_mbed_os_6_for_disco_f746ng(zoo_model, tmp_path: Path) -> None:
    from hardtool.codegen.generate import generate
    from hardtool.memplan.files import plan_to_files

    shutil.copy(zoo_model("hard_edge"), tmp_path / "model_int8.tflite")
    plan_to_files(tmp_path / "model_int8.tflite", tmp_path, measure_tflm=False)
    generate(
        tmp_path / "model_int8.tflite",
        tmp_path / "model_int8.memplan.json",
        "mbed",
        tmp_path / "mbed",
        uart_baud=921600,
    )
    app = json.loads((tmp_path / "mbed" / "mbed_app.json").read_text())
    assert app["requires"] == ["bare-metal"]
    overrides = app["target_overrides"]["DISCO_F746NG"]
    assert overrides["platform.stdio-baud-rate"] == 921600
    assert set(overrides) <= {"platform.stdio-baud-rate", "platform.stdio-convert-newlines", "target.c_lib"}
    main = (tmp_path / "mbed" / "main.cpp").read_text()
    formats = re.findall(r'printf\("((?:[^"\\]|\\.)*)"', main)
    specs = [
        m for f in formats for m in re.findall(r"%[-+ #0]*\d*(?:\.\d*)?(?:hh|h|ll|l|z|j|t|L)?[a-zA-Z%]", f)
    ]
    assert len(formats) >= 3 and specs and all(MINIMAL_PRINTF.fullmatch(m) for m in specs), specs
    assert "DWT->LAR = 0xC5ACCE55u" in main  # Cortex-M7: CYCCNT stays locked without it
