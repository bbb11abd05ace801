"""The op records (``hardtool.ops.record``): one module per op or small op family, each with a
``RECORDS`` list. ``records()`` collects them; every per-op table elsewhere derives from it."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from hardtool.ops.record import Kernel, Memory, OpRecord

__all__ = ["Kernel", "Memory", "OpRecord", "get", "records"]

_NOT_RECORDS = {"record", "cgen", "tables", "tflm_ops"}


@cache
def records() -> dict[str, OpRecord]:
    """Every op record by builtin name, from every module of this package."""
    found: dict[str, OpRecord] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _NOT_RECORDS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for rec in getattr(module, "RECORDS", ()):
            if rec.name in found:
                raise RuntimeError(f"op {rec.name} has two records ({info.name} and another module)")
            found[rec.name] = rec
    return found


def get(name: str) -> OpRecord | None:
    """The record of builtin ``name``, or None when hardtool knows nothing of it."""
    return records().get(name)
