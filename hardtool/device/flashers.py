"""Put a built firmware on a board (the STM32F746G-DISCO by default), and find its serial port.

One interface, several tools: ``--flasher auto|pyocd|st-flash|openocd|cubeprogrammer|mass-storage``;
a board's board.json lists the tools that flash it (``flash.tools``) and ``auto`` takes the first
one usable in that order (pyOCD only once the board's target is installed). How each tool reaches
the board (flash address, pyOCD target, OpenOCD config, drive name, USB ids) is board.json's too.
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

from hardtool.core.boards import DEFAULT_BOARD, Board, flasher_names, get_board
from hardtool.core.errors import HardtoolError
from hardtool.device.mass_storage import find_drive, flash_mass_storage


def _tool_run(cmd: list[str], what: str, board: Board, timeout: float = 120.0) -> None:
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
            hint = f" (no board found: plug the {board.title}'s ST-LINK USB port in)"
        raise HardtoolError(f"{what} failed: {last.strip()}{hint}")


@dataclass(frozen=True)
class Flasher:
    """A flashing tool: ``unavailable()`` says why it cannot be used here (None: it can),
    ``flash()`` writes the image and confirms it, or raises a one-line error."""

    name: str
    board: Board

    @property
    def address(self) -> int:
        return self.board.flash_address

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

        target = self.board.flash["pyocd_target"]
        return None if target_known(target, pack_files()) else missing_target_hint(target)

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        from hardtool.device.pyocd_flash import flash_with_pyocd

        flash_with_pyocd(bin_path, self.board.flash["pyocd_target"], self.address)


class StFlashFlasher(Flasher):
    def unavailable(self) -> str | None:
        return None if shutil.which("st-flash") else "sudo apt-get install -y stlink-tools"

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        _tool_run(["st-flash", "--reset", "write", str(bin_path), hex(self.address)], "st-flash", self.board)


class OpenOCDFlasher(Flasher):
    def unavailable(self) -> str | None:
        return None if shutil.which("openocd") else "sudo apt-get install -y openocd"

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        image = elf_path or bin_path
        prog = f"program {Path(image).as_posix()} verify reset exit"
        if elf_path is None:
            prog = f"program {Path(bin_path).as_posix()} {hex(self.address)} verify reset exit"
        _tool_run(["openocd", "-f", self.board.flash["openocd_config"], "-c", prog], "openocd", self.board)


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
            [exe, "-c", "port=SWD", "-w", str(bin_path), hex(self.address), "-v", "-rst"],
            "STM32_Programmer_CLI",
            self.board,
        )


def find_mass_storage(board: Board | None = None) -> Path | None:
    """The board's ST-LINK USB drive (e.g. volume DIS_F746NG), if mounted."""
    return find_drive((board or get_board(DEFAULT_BOARD)).flash["volume_name"])


class MassStorageFlasher(Flasher):
    def unavailable(self) -> str | None:
        return (
            None
            if find_mass_storage(self.board) is not None
            else f"plug the board in and mount its {self.board.flash['volume_name']} drive"
        )

    def flash(self, bin_path: Path, elf_path: Path | None = None) -> None:
        flash_mass_storage(bin_path, self.board.flash["volume_name"])


# every tool hardtool can flash with; a board's board.json says which of them reach it
TOOLS: dict[str, type[Flasher]] = {
    "pyocd": PyOCDFlasher,
    "st-flash": StFlashFlasher,
    "openocd": OpenOCDFlasher,
    "cubeprogrammer": CubeProgrammerFlasher,
    "mass-storage": MassStorageFlasher,
}


def board_flashers(board: Board) -> list[Flasher]:
    """The board's flashers, in the order ``auto`` tries them."""
    return [TOOLS[name](name, board) for name in board.flashers]


def get_flasher(name: str = "auto", board: str = DEFAULT_BOARD) -> Flasher:
    """The flasher called ``name`` for ``board``; ``auto`` = first available. One-line error if
    none/unusable."""
    b = get_board(board)
    mine = {f.name: f for f in board_flashers(b)}
    if name not in flasher_names():
        raise HardtoolError(f"unknown flasher {name!r}; choose one of {', '.join(flasher_names())}")
    if not mine:
        raise HardtoolError(
            f"the {b.title} is not flashed (it is emulated): use --board {b.nickname} without --flasher"
        )
    if name == "auto":
        for f in mine.values():
            if f.available():
                return f
        raise HardtoolError(
            f"no flashing tool found: pip install pyocd (plus `pyocd pack install {b.flash['pyocd_target']}`), "
            "or sudo apt-get install -y stlink-tools (st-flash) or openocd, or mount the "
            f"{b.flash['volume_name']} USB drive"
        )
    if name not in mine:
        raise HardtoolError(f"the {b.title} is not flashed with {name}; choose one of {', '.join(mine)}")
    f = mine[name]
    why = f.unavailable()
    if why is not None:
        raise HardtoolError(f"flasher {name} not available: {why}")
    return f


def flash(
    bin_path: Path, elf_path: Path | None = None, flasher: str = "auto", board: str = DEFAULT_BOARD
) -> str:
    """Write the image to the board; returns the flasher's name."""
    if not Path(bin_path).is_file():
        raise HardtoolError(f"{bin_path} not found; build it first with `hardtool build`")
    f = get_flasher(flasher, board)
    f.flash(Path(bin_path), Path(elf_path) if elf_path else None)
    return f.name


def find_board_port(board: str = DEFAULT_BOARD) -> str:
    """Serial port of the board's first ST-LINK virtual COM port (its board.json's USB ids). One-line
    error if none."""
    from serial.tools import list_ports

    b = get_board(board)
    vid, pids = int(b.flash["usb_vid"], 0), {int(p, 0) for p in b.flash["usb_pids"]}
    ports = [p for p in list_ports.comports() if p.vid == vid and (p.pid in pids or p.pid is None)]
    if not ports:
        others = ", ".join(p.device for p in list_ports.comports()) or "none"
        raise HardtoolError(
            f"no {b.title} found (ST-LINK USB VID {vid:#06x}; serial ports seen: {others}); "
            "plug the board's ST-LINK USB port in or pass --port"
        )
    ports.sort(key=lambda p: p.device)
    return ports[0].device
