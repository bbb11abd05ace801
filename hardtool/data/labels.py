"""Cityscapes label ids ↔ the 19 train ids, taken from cityscapesscripts' own table."""

from __future__ import annotations

import os

import numpy as np

IGNORE = 255
NUM_CLASSES = 19


def _labels():
    # cityscapesscripts reads CITYSCAPES_* env vars at import; give it a harmless default.
    os.environ.setdefault("CITYSCAPES_DATASET", os.getcwd())
    from cityscapesscripts.helpers import labels

    return labels


def label_id(name: str) -> int:
    """Cityscapes labelId of a class name (e.g. 'road' → 7)."""
    return _labels().name2label[name].id


def id_to_train_lut() -> np.ndarray:
    """256-entry LUT: labelId → trainId, 255 for classes ignored in evaluation."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for lab in _labels().labels:
        if 0 <= lab.id < 256 and 0 <= lab.trainId < NUM_CLASSES:
            lut[lab.id] = lab.trainId
    return lut


def train_to_id_lut() -> np.ndarray:
    """trainId → labelId (for writing predictions in the official format)."""
    lut = np.zeros(256, dtype=np.uint8)
    tid = _labels().trainId2label
    for t in range(NUM_CLASSES):
        lut[t] = tid[t].id
    return lut


def class_names() -> list[str]:
    tid = _labels().trainId2label
    return [tid[t].name for t in range(NUM_CLASSES)]


def class_colors() -> np.ndarray:
    """(256, 3) palette: train id → Cityscapes colour; ignore is black."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    tid = _labels().trainId2label
    for t in range(NUM_CLASSES):
        pal[t] = tid[t].color
    return pal
