"""Run a firmware .elf on an emulated board (QEMU mps2-an500, Cortex-M7, unless told another
machine: the emulated cores' boards, hardtool.core.boards).

The UART is a TCP server on a free 127.0.0.1 port; QEMU waits for the first connection before
the guest starts, so the boot HELLO is never lost. ``-icount shift=0`` makes the SysTick-based
instruction counts deterministic; with ``plugin=`` (hardtool.device.icount) every executed
instruction is counted exactly between the firmware's marks. QEMU is stopped on every exit path:
context manager, atexit and a wall-clock watchdog.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path

import serial

from hardtool.core.errors import HardtoolError
from hardtool.device.icount import FALLBACK_NOTE, Mark, plugin_args, read_marks, try_plugin

QEMU = "qemu-system-arm"
INSTALL_HINT = "sudo apt-get install -y qemu-system-arm"
MACHINE = "mps2-an500"

_live: weakref.WeakSet[QemuBoard] = weakref.WeakSet()


def _stop_all() -> None:
    for board in list(_live):
        board.stop()


atexit.register(_stop_all)


def find_qemu() -> str:
    """Path of qemu-system-arm, or a one-line HardtoolError with the install command."""
    path = shutil.which(QEMU)
    if not path:
        raise HardtoolError(f"{QEMU} not found; install it with: {INSTALL_HINT}")
    return path


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (QEMU binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_semihosted(
    elf: Path,
    cwd: Path,
    timeout: float,
    extra_args: list[str] | tuple[str, ...] = (),
    machine: str = MACHINE,
) -> int:
    """Run a firmware that talks only through semihosting (files in ``cwd``) to its exit code, on
    QEMU ``machine`` (the emulated core's, hardtool.core.boards.cores())."""
    cmd = [find_qemu(), "-M", machine, "-display", "none", "-monitor", "none", "-serial", "null"]
    cmd += ["-semihosting-config", "enable=on,target=native", "-kernel", str(Path(elf).resolve())]
    cmd += list(extra_args)
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HardtoolError(f"{Path(elf).name} did not finish on QEMU within {timeout:.0f} s") from None
    if proc.returncode != 0 and proc.stderr.strip():
        last = proc.stderr.strip().splitlines()[-1]
        raise HardtoolError(f"QEMU failed running {Path(elf).name}: {last}")
    return proc.returncode


class QemuBoard:
    """One emulated board running ``elf``; ``with QemuBoard(elf) as b: b.serial ...``.

    ``connect=False`` leaves the UART unconnected (e.g. to put a proxy in between): connect to
    ``b.port`` yourself; the guest starts when that first connection arrives.
    ``plugin`` (hardtool.device.icount.build_plugin()) counts instructions exactly; read the
    firmware's marks with :meth:`marks` (per run and layer: ``icount.runs(board.marks())``).
    """

    def __init__(
        self,
        elf: Path | str,
        *,
        timeout: float = 300.0,
        connect: bool = True,
        serial_timeout: float = 0.05,
        icount: bool = True,
        extra_args: tuple[str, ...] = (),
        plugin: Path | None = None,
        entries: Path | None = None,
        machine: str = MACHINE,
    ):
        self.elf = Path(elf)
        self.machine = machine
        self.timeout = timeout
        self.connect = connect
        self.serial_timeout = serial_timeout
        self.icount = icount
        self.extra_args = tuple(extra_args)
        self.plugin = Path(plugin) if plugin is not None else None
        self.entries = entries  # code addresses the plugin logs (icount.layer_entries)
        self._marks_dir = (
            tempfile.TemporaryDirectory(prefix="hardtool-marks-") if plugin is not None else None
        )
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.serial: serial.SerialBase | None = None
        self._log = None
        self._watchdog: threading.Timer | None = None
        self.timed_out = False

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def command(self, port: int) -> list[str]:
        cmd = [find_qemu(), "-M", self.machine, "-display", "none", "-monitor", "none"]
        if self.icount:
            cmd += ["-icount", "shift=0"]
        cmd += [
            "-semihosting-config",
            "enable=on,target=native",
            "-serial",
            f"tcp:127.0.0.1:{port},server=on,wait=on",
            "-kernel",
            str(self.elf),
        ]
        if self.plugin is not None:
            cmd += plugin_args(self.plugin, self.marks_log, self.entries)
        return cmd + list(self.extra_args)

    @property
    def marks_log(self) -> Path:
        if self._marks_dir is None:
            raise HardtoolError("this board runs without the instruction-count plugin")
        return Path(self._marks_dir.name) / "marks.txt"

    def marks(self) -> list[Mark]:
        """The instruction-count marks logged so far."""
        return read_marks(self.marks_log)[0] if self.marks_log.is_file() else []

    def start(self) -> QemuBoard:
        if not self.elf.is_file():
            raise HardtoolError(f"{self.elf} not found; build it first with `hardtool build`")
        last_err = ""
        for _ in range(3):  # a port can be taken between free_port() and QEMU's bind
            self.port = free_port()
            self._log = tempfile.TemporaryFile()
            # its own session: Ctrl-C in the terminal reaches hardtool, which then stops QEMU itself
            self.proc = subprocess.Popen(
                self.command(self.port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _live.add(self)
            if self._wait_listening(5.0):
                break
            last_err = self._read_log()
            self.stop()
        else:
            raise HardtoolError(
                f"QEMU did not start: {last_err.strip().splitlines()[-1] if last_err else 'no output'}"
            )
        self._watchdog = threading.Timer(self.timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        if self.connect:
            self.serial = self.open_serial(self.url)
        return self

    def _wait_listening(self, limit: float) -> bool:
        """True once QEMU listens on the port (a bind attempt of ours then fails)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                except OSError:
                    return True  # bound by QEMU
            time.sleep(0.02)
        return False

    def open_serial(self, url: str, timeout: float | None = None) -> serial.SerialBase:
        """pyserial connection to ``url`` (retried briefly while QEMU comes up)."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return serial.serial_for_url(
                    url, timeout=self.serial_timeout if timeout is None else timeout, write_timeout=5.0
                )
            except (serial.SerialException, OSError) as e:
                if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                    raise HardtoolError(
                        f"cannot connect to the emulated board's UART at {url}: {e}"
                    ) from None
                time.sleep(0.05)

    def _expire(self) -> None:
        self.timed_out = True
        self.stop()

    def _read_log(self) -> str:
        if not self._log:
            return ""
        with contextlib.suppress(Exception):
            self._log.seek(0)
            return self._log.read().decode(errors="replace")
        return ""

    @property
    def output(self) -> str:
        """QEMU's own messages (stdout + stderr)."""
        return self._read_log()

    def wait(self, timeout: float) -> int | None:
        """Exit code once QEMU exits (semihosting exit code), None if still running after ``timeout``."""
        if not self.proc:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """Close the UART and end QEMU (terminate, then kill). Safe to call twice."""
        if self._watchdog:
            self._watchdog.cancel()
        if self.serial is not None:
            with contextlib.suppress(Exception):
                self.serial.close()
            self.serial = None
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(2.0)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(2.0)
            rc = self.proc.returncode
        _live.discard(self)
        return rc

    def __enter__(self) -> QemuBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_counting_board(elf: Path | str, timeout: float, log=print, machine: str = MACHINE) -> QemuBoard:
    """A started board with the instruction-count plugin, or without it (saying why in one line)."""
    plugin, note = try_plugin()
    if plugin is not None:
        try:
            return QemuBoard(elf, timeout=timeout, plugin=plugin, machine=machine).start()
        except HardtoolError as e:
            note = FALLBACK_NOTE.format(why=f"QEMU did not load the plugin: {e}")
    log(note)
    return QemuBoard(elf, timeout=timeout, machine=machine).start()
