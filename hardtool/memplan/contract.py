"""The memplan.json contract checked as code (not asserts): codegen runs it on every plan it
reads, so a hand-edited or stale plan can never put two live buffers on the same bytes."""

from __future__ import annotations

from hardtool.core.errors import HardtoolError
from hardtool.core.graph import Graph

VERSION = 1
_KEYS = ("version", "model_sha256", "arena_size", "order", "buffers", "peak")
_BUFFER_KEYS = ("name", "kind", "offset", "size", "first_step", "last_step")


class PlanError(HardtoolError):
    """memplan.json breaks its contract."""


def _fail(why: str) -> PlanError:
    return PlanError(f"memplan.json is inconsistent: {why}; rerun hardtool memplan")


def _check_shape(doc: dict) -> None:
    if not isinstance(doc, dict) or any(k not in doc for k in _KEYS):
        raise _fail(f"it must be an object with keys {', '.join(_KEYS)}")
    if doc["version"] != VERSION:
        raise _fail(f"version {doc['version']!r}, expected {VERSION}")
    if not isinstance(doc["arena_size"], int) or doc["arena_size"] < 0:
        raise _fail(f"arena_size {doc['arena_size']!r} is not a byte count")
    for e in doc["buffers"]:
        if not isinstance(e, dict) or any(k not in e for k in _BUFFER_KEYS):
            raise _fail(f"a buffer lacks one of {', '.join(_BUFFER_KEYS)}")
        if not all(isinstance(e[k], int) for k in ("offset", "size", "first_step", "last_step")):
            raise _fail(f"buffer {e['name']!r} has a non-integer offset, size or step")


def _group(e: dict) -> tuple:
    """Buffers of one alias group share memory by design."""
    if e.get("tensor") is None:
        return ("s", e.get("op"))
    return ("t", e["alias_of"] if e.get("alias_of") is not None else e["tensor"])


def _check_bounds(doc: dict) -> None:
    steps = len(doc["order"])
    for e in doc["buffers"]:
        if e["offset"] < 0 or e["size"] < 0 or e["offset"] + e["size"] > doc["arena_size"]:
            raise _fail(f"buffer {e['name']!r} [{e['offset']}, +{e['size']}) lies outside the arena")
        if not 0 <= e["first_step"] <= e["last_step"] < max(steps, 1):
            raise _fail(f"buffer {e['name']!r} lives from step {e['first_step']} to {e['last_step']}")


def _check_overlaps(doc: dict) -> None:
    bufs = sorted(doc["buffers"], key=lambda e: e["offset"])
    for i, a in enumerate(bufs):
        for b in bufs[i + 1 :]:
            if b["offset"] >= a["offset"] + a["size"]:
                break
            live_together = a["first_step"] <= b["last_step"] and b["first_step"] <= a["last_step"]
            if live_together and _group(a) != _group(b) and a["size"] and b["size"]:
                raise _fail(f"buffers {a['name']!r} and {b['name']!r} are live together and overlap")


def _check_graph(doc: dict, graph: Graph) -> None:
    """The plan describes exactly this (lowered) graph: its order, every activation, its sizes."""
    order = doc["order"]
    if sorted(order) != list(range(len(graph.ops))):
        raise _fail(f"its order does not run each of the model's {len(graph.ops)} ops once")
    planned = {e["tensor"]: e for e in doc["buffers"] if e.get("tensor") is not None}
    for t in graph.activations():
        tensor = graph.tensors[t]
        e = planned.get(t)
        if e is None:
            raise _fail(f"tensor {t} '{tensor.name}' has no buffer")
        if e["size"] != tensor.nbytes:
            raise _fail(f"tensor {t} '{tensor.name}' needs {tensor.nbytes} bytes, the plan gives {e['size']}")


def check_plan(doc: dict, graph: Graph | None = None) -> None:
    """Raise PlanError if the document is malformed, a buffer leaves the arena, two buffers that are
    live at the same step overlap (members of one alias group excepted), or (with the lowered
    ``graph``) the plan does not describe exactly that graph."""
    _check_shape(doc)
    _check_bounds(doc)
    _check_overlaps(doc)
    if graph is not None:
        _check_graph(doc, graph)
