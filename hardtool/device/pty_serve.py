"""The emulated board's UART on a pseudo-terminal, so any serial client (a terminal program, the
MLPerf Tiny runner) can open it like a board's port. A pty is created here and bridged byte for
byte to QEMU's UART socket; the pty stays open between clients (the runner opens and closes the
port several times). The board stops, and nothing is left running, when QEMU exits, when the pty
goes away (its master fails, or the optional symlink to it is removed) or on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import time
import tty
from pathlib import Path

from hardtool.core.errors import HardtoolError
from hardtool.device.qemu import QemuBoard

CHUNK = 4096


class PtyBridge:
    """``with PtyBridge(board, link) as b: print(b.path); b.serve_forever()``; ``board`` is a
    QemuBoard made with ``connect=False`` (its guest starts when the bridge connects)."""

    def __init__(self, board: QemuBoard, link: Path | None = None):
        self.board = board
        self.link = Path(link) if link is not None else None
        self.master = self.slave = -1
        self.sock: socket.socket | None = None
        self.path = ""
        self.banner = b""
        self.stopped_because = ""

    def __enter__(self) -> PtyBridge:
        if self.link is not None and (self.link.exists() or self.link.is_symlink()):
            raise HardtoolError(f"{self.link} exists; choose another --link or remove it")
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF translation: the bytes as the UART sends them
        self.path = os.ttyname(self.slave)
        if self.link is not None:
            self.link.symlink_to(self.path)
        try:
            self.board.start()
            self.sock = socket.create_connection(("127.0.0.1", self.board.port), timeout=5.0)
            self.banner = self._boot_output()
        except BaseException:
            self.close()  # QEMU missing or failing, Ctrl-C while it boots: nothing left behind
            raise
        os.set_blocking(self.master, False)
        return self

    def _boot_output(self, quiet: float = 0.5, limit: float = 20.0) -> bytes:
        """What the firmware prints as it boots (read here, as a real board has booted before a
        client opens its port): until it has been quiet for ``quiet`` s."""
        got, deadline = b"", time.monotonic() + limit
        self.sock.settimeout(quiet)
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(CHUNK)
            except TimeoutError:
                if got:
                    break
                continue
            if not data:
                break
            got += data
        self.sock.settimeout(5.0)
        return got

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the board, close both ends, remove the link. Safe to call twice."""
        self.board.stop()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        for fd in (self.master, self.slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = -1
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.path:
            self.link.unlink()

    def _gone(self) -> str:
        if self.board.proc is None or self.board.proc.poll() is not None:
            return "the emulated board (QEMU) exited"
        if self.link is not None and not self.link.is_symlink():
            return f"{self.link} was removed"
        return ""

    def serve_forever(self) -> str:
        """Copy bytes both ways until one side goes away; returns why it stopped. Bytes for the
        pty wait while its buffer is full (a client not reading yet): the board waits with them."""
        pending = bytearray()
        sel = selectors.DefaultSelector()
        why = ""
        try:
            while not why:
                sel.register(self.master, selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0))
                if not pending:
                    sel.register(self.sock, selectors.EVENT_READ)
                ready = sel.select(0.25)
                sel.unregister(self.master)
                if not pending:
                    sel.unregister(self.sock)
                for key, events in ready:
                    why = why or self._pump(key.fd == self.master, events, pending)
                why = why or self._gone()
        finally:
            sel.close()
        self.stopped_because = why
        return why

    def _pump(self, is_pty: bool, events: int, pending: bytearray) -> str:
        try:
            if is_pty and events & selectors.EVENT_WRITE and pending:
                del pending[: os.write(self.master, pending)]
            if is_pty and events & selectors.EVENT_READ:
                data = os.read(self.master, CHUNK)
                self.sock.sendall(data)
                return "" if data else "the pty closed"
            if not is_pty:
                data = self.sock.recv(CHUNK)
                if not data:
                    return "the emulated board's UART closed"
                pending += data
                del pending[: os.write(self.master, pending)]
        except BlockingIOError:
            return ""
        except OSError as e:
            return f"the pty went away ({e.strerror or e})"
        return ""
