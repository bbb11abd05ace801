"""Keep TensorFlow's C++ start-up chatter (absl / XLA registration lines) off the user's
terminal, so a failing command prints exactly one line. Only file descriptor 2 during the
import, and fds 1/2 around converter calls, are redirected; our own messages are untouched."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def silence_fds(fds: tuple[int, ...] = (2,)) -> Iterator[None]:
    """Redirect OS-level file descriptors (C/C++ writes included) to a temp file."""
    for f in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            f.flush()
    saved = {fd: os.dup(fd) for fd in fds}
    sink = tempfile.TemporaryFile()
    try:
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        yield
    finally:
        for f in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                f.flush()
        for fd, keep in saved.items():
            os.dup2(keep, fd)
            os.close(keep)
        sink.close()


class _QuietImport(importlib.abc.MetaPathFinder):
    """Wraps the first import of ``tensorflow`` in :func:`silence_fds`."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            with silence_fds():
                real_exec(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Call once at CLI start-up."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
