"""hardtool's own entry in a .tflite's metadata: the preprocessing (mean/std) and provenance,
so any later stage can feed the model exactly as it was calibrated."""

from __future__ import annotations

import json

from hardtool.core.graph.edit import read_metadata_entry, with_metadata

NAME = "hardtool"


def add_metadata(tflite: bytes, info: dict) -> bytes:
    """Return ``tflite`` with ``info`` (JSON) stored as metadata entry 'hardtool'."""
    return with_metadata(tflite, NAME, json.dumps(info, sort_keys=True).encode())


def read_metadata(tflite: bytes) -> dict:
    """The 'hardtool' entry, or {} for a model that has none."""
    raw = read_metadata_entry(tflite, NAME)
    return json.loads(raw.decode()) if raw is not None else {}
