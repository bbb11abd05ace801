"""A framed link over any pyserial port: /dev/ttyACM0, COM5, socket://host:port, rfc2217://...

Every receive takes a deadline, so nothing here can block forever on a silent or noisy line.
"""

from __future__ import annotations

import collections
import contextlib
import time
from typing import Any, Protocol

import serial

from hardtool.core.errors import HardtoolError
from hardtool.device import protocol as P


class SerialLike(Protocol):
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def close(self) -> None: ...


def open_port(port: str, baud: int = 115200, read_timeout: float = 0.05) -> serial.SerialBase:
    """Open a serial port or pyserial URL; errors are one line saying what to do."""
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=read_timeout, write_timeout=5.0)
    except ValueError as e:  # pyserial: an unknown URL scheme or a bad setting
        raise HardtoolError(
            f"cannot open serial port {port}: {e} (give a device such as /dev/ttyACM0 or COM5, or a "
            "pyserial URL such as socket://HOST:PORT)"
        ) from None
    except serial.SerialException as e:
        text = str(e)
        if "busy" in text.lower() or "Errno 16" in text or "lock" in text.lower():
            hint = "it is in use by another program (close serial monitors such as screen, minicom, CubeIDE)"
        elif "Permission" in text or "Errno 13" in text:
            hint = "permission denied (add yourself to the 'dialout' group, then log in again)"
        elif "No such file" in text or "Errno 2" in text or "could not open port" in text:
            hint = (
                "no such port (is the board plugged in? list ports with `python -m serial.tools.list_ports`)"
            )
        elif "Connection refused" in text or "Errno 111" in text:
            hint = "nothing listens there (is the emulator running?)"
        else:
            hint = text
        raise HardtoolError(f"cannot open serial port {port}: {hint}") from None


class Link:
    """Sends and receives protocol frames; counts what went wrong for the report."""

    def __init__(
        self,
        port: str | SerialLike,
        baud: int = 115200,
        read_timeout: float = 0.05,
        reopen_within: float = 0.0,
    ):
        """``reopen_within``: seconds a port opened here by name may be gone (a cable pulled and
        put back, a board re-enumerating) and be opened again, before a read or write fails."""
        self.ser: Any = open_port(port, baud, read_timeout) if isinstance(port, str) else port
        self.name = port if isinstance(port, str) else getattr(port, "name", type(port).__name__)
        self._reopen = (port, baud, read_timeout) if isinstance(port, str) and reopen_within > 0 else None
        self.reopen_within = reopen_within
        self.reopens = 0
        self.parser = P.FrameParser()
        self._pending: collections.deque[P.Frame] = collections.deque()
        self.tx_seq = 0
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def bad_frames(self) -> int:
        return self.parser.errors

    def send(self, type_: int, payload: bytes = b"") -> int:
        """Send one frame; returns its sequence number."""
        seq = self.tx_seq
        self.tx_seq = (self.tx_seq + 1) & 0xFFFF
        data = P.encode_frame(type_, seq, payload)
        try:
            self.ser.write(data)
            if hasattr(self.ser, "flush"):
                self.ser.flush()
        except (serial.SerialException, OSError) as e:
            self._reopen_or_fail("write to", e)  # the frame is lost: its resend goes on the new port
        self.bytes_out += len(data)
        return seq

    def _reopen_or_fail(self, what: str, e: Exception) -> None:
        """Open the port again (within ``reopen_within`` s), or one line saying it is gone."""
        if self._reopen is not None:
            deadline = time.monotonic() + self.reopen_within
            with contextlib.suppress(Exception):
                self.ser.close()
            while time.monotonic() < deadline:
                time.sleep(0.05)
                try:
                    self.ser = open_port(*self._reopen)
                except HardtoolError:
                    continue
                self.reopens += 1
                self.parser.reset()  # a frame cut by the unplug is dropped, and resent
                return
        within = f" and did not come back within {self.reopen_within:g} s" if self._reopen else ""
        raise HardtoolError(
            f"serial {what} {self.name} failed: {e}{within} (board unplugged or emulator stopped?)"
        ) from None

    def recv(self, deadline: float) -> P.Frame | None:
        """The next valid frame, or None once ``deadline`` (time.monotonic) has passed."""
        while True:
            if time.monotonic() >= deadline:
                return None  # pending frames stay queued for the next wait
            if self._pending:
                return self._pending.popleft()
            try:
                waiting = getattr(self.ser, "in_waiting", 0) or 1
                data = self.ser.read(min(max(waiting, 1), 65536))
            except (serial.SerialException, OSError) as e:
                self._reopen_or_fail("read from", e)
                continue
            if data:
                self.bytes_in += len(data)
                self._pending.extend(self.parser.feed(data))

    def drain(self, quiet: float = 0.05, limit: float = 1.0) -> int:
        """Discard input until the line is quiet for ``quiet`` s (at most ``limit`` s); returns frames dropped."""
        end = time.monotonic() + limit
        dropped = 0
        while time.monotonic() < end:
            if self.recv(min(end, time.monotonic() + quiet)) is None:
                break
            dropped += 1
        self.parser.reset()
        return dropped

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001 - closing must never fail the caller
            pass

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
