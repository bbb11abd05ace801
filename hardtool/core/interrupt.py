"""One interrupt path for every command. Ctrl-C sets a flag and raises KeyboardInterrupt; the CLI
turns it into one line and exit code 130. Libraries that swallow the exception (TensorFlow's
converter calls our calibration generator from C++ and drops what it raises; onnx2tf catches
everything around its onnxsim subprocess) cannot hide it: the flag stays set, `check()` after
such calls raises again, and `commit()` (the rename that publishes a stage's outputs) refuses to
run once it is set. So an interrupted command never writes a complete-looking output."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_requested = threading.Event()
_committing = [0]  # depth of commit() blocks: inside them a Ctrl-C waits for the block's end


def _handler(signum: int, frame: object) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT (Ctrl-C) through the flag; call at start-up and after foreign code that may
    have replaced the handler. Only the main thread can do this; elsewhere it is a no-op."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)


def requested() -> bool:
    """True once Ctrl-C was pressed (even if a library swallowed the exception)."""
    return _requested.is_set()


def consume() -> None:
    """The caller handled this Ctrl-C (it stopped early and keeps what it has, e.g. partial bench
    results): writing those is allowed again. Also for tests that run several commands in one process."""
    _requested.clear()


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since start-up (held inside `commit()`)."""
    if _requested.is_set() and not _committing[0]:
        raise KeyboardInterrupt


@contextlib.contextmanager
def foreign() -> Iterator[None]:
    """Around library calls that may swallow KeyboardInterrupt or replace the SIGINT handler."""
    try:
        yield
    finally:
        install()
    check()


@contextlib.contextmanager
def commit() -> Iterator[None]:
    """Publish outputs (a few renames) whole or not at all: refused after Ctrl-C, and a Ctrl-C
    during the block is held until the block is done, then raised."""
    check()
    main = threading.current_thread() is threading.main_thread()
    old = signal.getsignal(signal.SIGINT) if main else None
    if main:
        signal.signal(signal.SIGINT, lambda *_: _requested.set())
    _committing[0] += 1
    try:
        yield
    finally:
        _committing[0] -= 1
        if main and not _committing[0]:
            signal.signal(signal.SIGINT, old if old is not None else _handler)
    check()
