"""Run the bench firmware built for the PC (UART = stdin/stdout) as a board.

The same app, protocol and generated model as on the chip, without the chip: fast protocol
tests, sanitizer runs, and a check of generated code before flashing. Timer unit: ns.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
from pathlib import Path


class PipeSerial:
    """pyserial-like read/write over a child process's stdin/stdout, with a read timeout."""

    def __init__(self, proc: subprocess.Popen, timeout: float = 0.05):
        self.proc = proc
        self.timeout = timeout
        self.name = f"host-app[{proc.pid}]"

    @property
    def in_waiting(self) -> int:
        r, _, _ = select.select([self.proc.stdout], [], [], 0)
        return 4096 if r else 0

    def read(self, size: int = 1) -> bytes:
        r, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not r:
            return b""
        return os.read(self.proc.stdout.fileno(), size)

    def write(self, data: bytes) -> int:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise OSError(f"host app exited ({e})") from None
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.stdin.close()


class HostBoard:
    """``with HostBoard(exe) as b: run_images(b.serial, ...)`` — the app as a child process."""

    def __init__(self, exe: Path | str, timeout: float = 60.0):
        self.exe = Path(exe)
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.serial: PipeSerial | None = None

    def __enter__(self) -> HostBoard:
        self.proc = subprocess.Popen(
            [str(self.exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        self.serial = PipeSerial(self.proc)
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.serial:
            self.serial.close()
        try:
            return self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(2.0)

    def __exit__(self, *exc: object) -> None:
        self.stop()
