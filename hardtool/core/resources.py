"""Where the C sources and Jinja2 templates live: shipped inside the installed package as
``hardtool/_data/{firmware,templates}`` (copied there when the wheel is built), or, in a source
checkout, the repository's top-level ``firmware/`` and ``templates/`` folders."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from hardtool.core.errors import HardtoolError

PACKAGE = Path(__file__).resolve().parents[1]
DATA_DIRS = ("firmware", "templates")
# a file each folder must hold, to tell a real copy from an empty or partial one
_MARKERS = {"firmware": "kernels/hard_kernels.h", "templates": "common/model.c.j2"}


@cache
def data_dir(name: str) -> Path:
    """The ``firmware`` or ``templates`` folder; $HARDTOOL_FIRMWARE_DIR / $HARDTOOL_TEMPLATES_DIR override."""
    if name not in DATA_DIRS:
        raise ValueError(f"unknown data folder {name!r}")
    env = os.environ.get(f"HARDTOOL_{name.upper()}_DIR")
    candidates = [Path(env)] if env else [PACKAGE / "_data" / name, PACKAGE.parent / name]
    for root in candidates:
        if (root / _MARKERS[name]).is_file():
            return root
    raise HardtoolError(
        f"hardtool's {name}/ folder was not found (looked in {', '.join(map(str, candidates))}); "
        f"reinstall hardtool or set HARDTOOL_{name.upper()}_DIR to the {name}/ folder of a hardtool checkout"
    )


def firmware_dir() -> Path:
    return data_dir("firmware")


def templates_dir() -> Path:
    return data_dir("templates")


def available_memory() -> int | None:
    """Bytes this machine can still give a process (free RAM plus free swap), or None if unknown."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return (int(info["MemAvailable"].split()[0]) + int(info.get("SwapFree", "0 kB").split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None
