"""C text helpers for the generated sources: constant arrays, identifiers, literals."""

from __future__ import annotations

import re

import numpy as np

C_TYPES = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "uint32": "uint32_t",
    "int64": "int64_t",
    "float32": "float",
}


def c_ident(name: str, prefix: str = "") -> str:
    """A valid, readable C identifier from a tensor / op name."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_")
    s = re.sub(r"_+", "_", s)[:48] or "t"
    if s[0].isdigit():
        s = "_" + s
    return prefix + s


def c_array(
    name: str, data: np.ndarray, align: int = 8, per_line: int = 16, storage: str = "static const"
) -> str:
    """``storage T name[N] __attribute__((aligned(align))) = {...};`` for an integer array."""
    data = np.asarray(data)
    if data.dtype.kind not in "iub":
        raise TypeError(f"c_array takes integer arrays, not {data.dtype}")
    ctype = C_TYPES[data.dtype.name]
    flat = data.ravel()
    rows = []
    for i in range(0, len(flat), per_line):
        rows.append("  " + ", ".join(str(int(v)) for v in flat[i : i + per_line]) + ",")
    body = "\n".join(rows) if rows else "  0"
    n = max(1, len(flat))
    return f"{storage} {ctype} {name}[{n}] __attribute__((aligned({align}))) = {{\n{body}\n}};\n"


def c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_float(v: float) -> str:
    r = repr(float(v))
    if "e" not in r and "." not in r and "inf" not in r and "nan" not in r:
        r += ".0"
    return r + "f"


def c_init(value: object) -> str:
    """A C initialiser: dicts become designated initialisers ``{.field = ...}`` (so a struct's
    field order never matters), lists and tuples positional arrays, everything else its text."""
    if isinstance(value, dict):
        return "{" + ", ".join(f".{k} = {c_init(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(c_init(v) for v in value) + "}"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def c_struct(ctype: str, name: str, fields: dict, storage: str = "static const") -> str:
    """``storage ctype name = {.field = value, ...};``"""
    return f"{storage} {ctype} {name} = {c_init(fields)};"


def c_dims(shape: tuple[int, ...] | list[int]) -> dict:
    """``hard_dims`` fields of a tensor shape (rank < 4: the missing dims are 1, after the batch)."""
    s = [int(v) for v in shape]
    while len(s) < 4:
        s.insert(1, 1)
    n, h, w, c = s
    return {"n": n, "h": h, "w": w, "c": c}
