"""Put a built firmware on the STM32F746G-DISCO, and find the board's serial port.

One interface, several tools: ``--flasher auto|pyocd|st-flash|openocd|cubeprogrammer|mass-storage``;
``auto`` takes the first one present in that order. Every failure is one line saying what to do.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hardtool.core.boards import DEFAULT_BOARD, FLASHERS, get_board
from hardtool.core.errors import HardtoolError

# how the board is flashed and found: from its board.json
_FLASH = get_board(DEFAULT_BOARD).flash
FLASH_ADDRESS = int(_FLASH["address"], 0)
PYOCD_TARGET = _FLASH["pyocd_target"]
VOLUME_NAME = _FLASH["volume_name"]
ST_VID = int(_FLASH["usb_vid"], 0)
ST_LINK_PIDS = {int(p, 0) for p in _FLASH["usb_pids"]}  # ST-LINK/V2-1 and V3 variants (VCP-capable)


def _tool_run(cmd: list[str], what: str, timeout: float = 120.0) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise HardtoolError(f"{cmd[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise HardtoolError(
            f"{what} did not finish within {timeout:.0f} s (board stuck? press its reset button)"
        ) from None
    if r.returncode != 0:
        lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if "rror" in ln), lines[-1] if lines else "no output")
        hint = ""
        if any(
            s in (r.stderr + r.stdout)
            for s in ("No ST-LINK", "Couldn't find any ST-Link", "No debug probe", "open failed", "No STLink")
        ):
            hint = " (no board found: plug the STM32F746G-DISCO's ST-LINK USB port in)"
        raise HardtoolError(f"{what} failed: {last.strip()}{hint}")


@dataclass(frozen=True)
class Flasher:
    """A flashing tool: ``available()`` says if it can be used here, ``flash()`` writes the image."""

    name: str

    def available(self) -> bool:
        raise NotImplementedError

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        raise NotImplementedError


class PyOCDFlasher(Flasher):
    def available(self) -> bool:
        try:
            import pyocd  # noqa: F401
        except ImportError:
            return False
        return True

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        try:
            from pyocd.core.helpers import ConnectHelper
            from pyocd.flash.file_programmer import FileProgrammer
        except ImportError:
            raise HardtoolError("pyOCD is not installed: pip install pyocd") from None
        try:
            session = ConnectHelper.session_with_chosen_probe(
                target_override=PYOCD_TARGET,
                blocking=False,
                return_first=True,
                options={"frequency": 4000000},
            )
        except Exception as e:  # noqa: BLE001 - pyOCD raises many types
            raise HardtoolError(f"pyOCD: {e}") from None
        if session is None:
            raise HardtoolError("pyOCD found no debug probe: plug the board's ST-LINK USB port in")
        try:
            with session:
                FileProgrammer(session).program(str(bin_path), base_address=FLASH_ADDRESS, file_format="bin")
                session.board.target.reset()
        except Exception as e:  # noqa: BLE001
            text = str(e)
            if "target" in text.lower() and ("not" in text.lower() or "unknown" in text.lower()):
                raise HardtoolError(
                    f"pyOCD has no {PYOCD_TARGET} target: install the STM32F7 pack with "
                    "`pyocd pack install stm32f746ng` (needs internet) or use --flasher st-flash"
                ) from None
            raise HardtoolError(f"pyOCD flashing failed: {text}") from None


class StFlashFlasher(Flasher):
    def available(self) -> bool:
        return shutil.which("st-flash") is not None

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        _tool_run(["st-flash", "--reset", "write", str(bin_path), hex(FLASH_ADDRESS)], "st-flash")


class OpenOCDFlasher(Flasher):
    def available(self) -> bool:
        return shutil.which("openocd") is not None

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        image = elf_path or bin_path
        prog = f"program {Path(image).as_posix()} verify reset exit"
        if elf_path is None:
            prog = f"program {Path(bin_path).as_posix()} {hex(FLASH_ADDRESS)} verify reset exit"
        _tool_run(["openocd", "-f", "board/stm32f7discovery.cfg", "-c", prog], "openocd")


class CubeProgrammerFlasher(Flasher):
    EXE = "STM32_Programmer_CLI"

    def _exe(self) -> str | None:
        found = shutil.which(self.EXE)
        if found:
            return found
        for pattern in (
            "/opt/st/stm32cubeprogrammer*/bin/" + self.EXE,
            "~/STMicroelectronics/STM32Cube/STM32CubeProgrammer/bin/" + self.EXE,
            "C:/Program Files/STMicroelectronics/STM32Cube/STM32CubeProgrammer/bin/" + self.EXE + ".exe",
            "/Applications/STMicroelectronics/STM32CubeProgrammer.app/Contents/MacOs/bin/" + self.EXE,
        ):
            hits = glob.glob(os.path.expanduser(pattern))
            if hits:
                return hits[0]
        return None

    def available(self) -> bool:
        return self._exe() is not None

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        exe = self._exe() or self.EXE
        _tool_run(
            [exe, "-c", "port=SWD", "-w", str(bin_path), hex(FLASH_ADDRESS), "-v", "-rst"],
            "STM32_Programmer_CLI",
        )


def find_mass_storage() -> Path | None:
    """The ST-LINK USB drive (volume DIS_F746NG), if mounted."""
    if sys.platform == "win32":
        import ctypes

        for letter in "DEFGHIJKLMNOPQRSTUVWXYZ":
            root = f"{letter}:\\"
            buf = ctypes.create_unicode_buffer(64)
            if ctypes.windll.kernel32.GetVolumeInformationW(root, buf, 64, None, None, None, None, 0):  # type: ignore[attr-defined]
                if buf.value == VOLUME_NAME:
                    return Path(root)
        return None
    user = os.environ.get("USER", "*")
    for pattern in (
        f"/media/{user}/{VOLUME_NAME}",
        f"/run/media/{user}/{VOLUME_NAME}",
        f"/media/{VOLUME_NAME}",
        f"/Volumes/{VOLUME_NAME}",
        f"/mnt/{VOLUME_NAME}",
    ):
        for hit in glob.glob(pattern):
            if os.path.isdir(hit):
                return Path(hit)
    return None


class MassStorageFlasher(Flasher):
    def available(self) -> bool:
        return find_mass_storage() is not None

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        drive = find_mass_storage()
        if drive is None:
            raise HardtoolError(
                f"ST-LINK USB drive {VOLUME_NAME} not mounted: plug the board in and mount it"
            )
        dst = drive / Path(bin_path).name
        shutil.copyfile(bin_path, dst)
        with open(dst, "rb+") as f:
            os.fsync(f.fileno())
        # the ST-LINK flashes, then re-enumerates the drive; FAIL.TXT reports errors
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fail = drive / "FAIL.TXT"
            if fail.exists():
                raise HardtoolError(
                    f"ST-LINK drag-and-drop flashing failed: {fail.read_text(errors='replace').strip()}"
                )
            if not dst.exists():
                return
            time.sleep(0.5)


_ALL: dict[str, Flasher] = {
    "pyocd": PyOCDFlasher("pyocd"),
    "st-flash": StFlashFlasher("st-flash"),
    "openocd": OpenOCDFlasher("openocd"),
    "cubeprogrammer": CubeProgrammerFlasher("cubeprogrammer"),
    "mass-storage": MassStorageFlasher("mass-storage"),
}


def get_flasher(name: str = "auto") -> Flasher:
    """The flasher called ``name``; ``auto`` = first available. One-line error if none/unusable."""
    if name not in FLASHERS:
        raise HardtoolError(f"unknown flasher {name!r}; choose one of {', '.join(FLASHERS)}")
    if name == "auto":
        for f in _ALL.values():
            if f.available():
                return f
        raise HardtoolError(
            "no flashing tool found: pip install pyocd (plus `pyocd pack install stm32f746ng`), "
            "or sudo apt-get install -y stlink-tools (st-flash) or openocd, or mount the "
            f"{VOLUME_NAME} USB drive"
        )
    f = _ALL[name]
    if not f.available():
        hints = {
            "pyocd": "pip install pyocd",
            "st-flash": "sudo apt-get install -y stlink-tools",
            "openocd": "sudo apt-get install -y openocd",
            "cubeprogrammer": "install STM32CubeProgrammer from st.com and put STM32_Programmer_CLI on PATH",
            "mass-storage": f"plug the board in and mount its {VOLUME_NAME} drive",
        }
        raise HardtoolError(f"flasher {name} not available: {hints[name]}")
    return f


def flash(bin_path: Path, elf_path: Path | None = None, flasher: str = "auto") -> str:
    """Write the image to the board; returns the flasher's name."""
    if not Path(bin_path).is_file():
        raise HardtoolError(f"{bin_path} not found; build it first with `hardtool build`")
    f = get_flasher(flasher)
    f.flash(Path(bin_path), Path(elf_path) if elf_path else None)
    return f.name


def find_board_port() -> str:
    """Serial port of the first ST-LINK virtual COM port (VID 0x0483). One-line error if none."""
    from serial.tools import list_ports

    ports = [p for p in list_ports.comports() if p.vid == ST_VID and (p.pid in ST_LINK_PIDS or p.pid is None)]
    if not ports:
        others = ", ".join(p.device for p in list_ports.comports()) or "none"
        raise HardtoolError(
            f"no STM32F746G-DISCO found (ST-LINK USB VID 0x0483; serial ports seen: {others}); "
            "plug the board's ST-LINK USB port in or pass --port"
        )
    ports.sort(key=lambda p: p.device)
    return ports[0].device
