"""Put a built firmware on the STM32F746G-DISCO, and find the board's serial port.

One interface, several tools: ``--flasher auto|pyocd|st-flash|openocd|cubeprogrammer|mass-storage``;
``auto`` takes the first one usable in that order (pyOCD only once its STM32F7 target is installed).
Each flasher confirms what it wrote (read-back, ``verify``, or the ST-LINK drive's verdict); every
failure, including "could not confirm", is one line saying what to do.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hardtool.core.boards import DEFAULT_BOARD, FLASHERS, get_board
from hardtool.core.errors import HardtoolError
from hardtool.device.mass_storage import find_drive, flash_mass_storage

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
    """A flashing tool: ``unavailable()`` says why it cannot be used here (None: it can),
    ``flash()`` writes the image and confirms it, or raises a one-line error."""

    name: str

    def unavailable(self) -> str | None:
        raise NotImplementedError

    def available(self) -> bool:
        return self.unavailable() is None

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        raise NotImplementedError


class PyOCDFlasher(Flasher):
    def unavailable(self) -> str | None:
        try:
            import pyocd  # noqa: F401
        except ImportError:
            return "pip install pyocd"
        from hardtool.device.pyocd_flash import missing_target_hint, pack_files, target_known

        return None if target_known(PYOCD_TARGET, pack_files()) else missing_target_hint(PYOCD_TARGET)

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        from hardtool.device.pyocd_flash import flash_with_pyocd

        flash_with_pyocd(bin_path, PYOCD_TARGET, FLASH_ADDRESS)


class StFlashFlasher(Flasher):
    def unavailable(self) -> str | None:
        return None if shutil.which("st-flash") else "sudo apt-get install -y stlink-tools"

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        _tool_run(["st-flash", "--reset", "write", str(bin_path), hex(FLASH_ADDRESS)], "st-flash")


class OpenOCDFlasher(Flasher):
    def unavailable(self) -> str | None:
        return None if shutil.which("openocd") else "sudo apt-get install -y openocd"

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

    def unavailable(self) -> str | None:
        if self._exe() is None:
            return "install STM32CubeProgrammer from st.com and put STM32_Programmer_CLI on PATH"
        return None

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        exe = self._exe() or self.EXE
        _tool_run(
            [exe, "-c", "port=SWD", "-w", str(bin_path), hex(FLASH_ADDRESS), "-v", "-rst"],
            "STM32_Programmer_CLI",
        )


def find_mass_storage() -> Path | None:
    """The ST-LINK USB drive (volume DIS_F746NG), if mounted."""
    return find_drive(VOLUME_NAME)


class MassStorageFlasher(Flasher):
    def unavailable(self) -> str | None:
        return (
            None
            if find_mass_storage() is not None
            else f"plug the board in and mount its {VOLUME_NAME} drive"
        )

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        flash_mass_storage(bin_path, VOLUME_NAME)


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
            f"no flashing tool found: pip install pyocd (plus `pyocd pack install {PYOCD_TARGET}`), "
            "or sudo apt-get install -y stlink-tools (st-flash) or openocd, or mount the "
            f"{VOLUME_NAME} USB drive"
        )
    f = _ALL[name]
    why = f.unavailable()
    if why is not None:
        raise HardtoolError(f"flasher {name} not available: {why}")
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
