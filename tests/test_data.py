"""Synthetic scenes and the Cityscapes-layout reader."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from hardtool.data.cityscapes import SegDataset, find_samples, load_train_ids
from hardtool.data.labels import IGNORE, id_to_train_lut
from hardtool.data.synth import generate, render_scene


def _digest(paths):
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def test_generator_is_deterministic(tmp_path):
    a = generate(tmp_path / "a", 3, seed=7, splits=("val",), size=(64, 128))
    b = generate(tmp_path / "b", 3, seed=7, splits=("val",), size=(64, 128))
    c = generate(tmp_path / "c", 3, seed=8, splits=("val",), size=(64, 128))
    assert _digest(a) == _digest(b) != _digest(c)


def test_scene_has_street_classes():
    from hardtool.data.labels import label_id

    seen = set()
    for i in range(6):
        _, lab = render_scene(np.random.default_rng(i), 128, 256)
        seen |= set(np.unique(lab).tolist())
    for name in (
        "road",
        "sidewalk",
        "building",
        "sky",
        "vegetation",
        "car",
        "person",
        "pole",
        "traffic sign",
    ):
        assert label_id(name) in seen, name


def test_reader_official_layout(synth_data):
    samples = find_samples(synth_data, "val")
    assert len(samples) == 6
    assert all(
        s.image.name.endswith("_leftImg8bit.png") and s.label.name.endswith("_gtFine_labelIds.png")
        for s in samples
    )
    ds = SegDataset(synth_data, "val", (64, 128), (0.5,) * 3, (0.25,) * 3)
    x, y = ds[0]
    assert x.shape == (3, 64, 128) and x.dtype == np.float32
    assert y.shape == (64, 128)
    assert set(np.unique(y)) <= set(range(19)) | {IGNORE}


def test_label_ids_map_through_cityscapesscripts(synth_data):
    s = find_samples(synth_data, "val")[0]
    raw = np.asarray(Image.open(s.label))
    assert np.array_equal(load_train_ids(s), id_to_train_lut()[raw])
    lut = id_to_train_lut()
    assert (
        lut[7] == 0 and lut[26] == 13 and lut[0] == IGNORE and lut[1] == IGNORE
    )  # road, car, unlabeled, ego
