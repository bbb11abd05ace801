"""Our mIoU equals cityscapesscripts' official pixel-level evaluation on the same predictions."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hardtool.cli import cli
from hardtool.data.labels import IGNORE, id_to_train_lut, train_to_id_lut
from hardtool.metrics import confusion, iou_per_class, miou


def _cityscapes_eval(pred_paths, gt_paths) -> tuple[float, dict]:
    os.environ.setdefault("CITYSCAPES_DATASET", os.getcwd())
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as ev

    args = ev.args
    args.evalInstLevelScore = False
    args.JSONOutput = False
    args.quiet = True
    args.evalPixelAccuracy = False
    try:
        res = ev.evaluateImgLists([str(p) for p in pred_paths], [str(p) for p in gt_paths], args)
    except SystemExit as e:  # cityscapesscripts exits on errors
        raise AssertionError(f"cityscapesscripts evaluation failed: {e}") from None
    return res["averageScoreClasses"], res["classScores"]


def _write_pairs(tmp_path, preds_train, gts_label_ids):
    to_id = train_to_id_lut()
    pp, gp = [], []
    for i, (p, g) in enumerate(zip(preds_train, gts_label_ids, strict=True)):
        a, b = tmp_path / f"p{i}.png", tmp_path / f"g{i}_gtFine_labelIds.png"
        Image.fromarray(to_id[p]).save(a)
        Image.fromarray(g).save(b)
        pp.append(a)
        gp.append(b)
    return pp, gp


def test_random_predictions_equal_cityscapesscripts(tmp_path):
    rng = np.random.default_rng(0)
    gts = [rng.integers(0, 34, (40, 60)).astype(np.uint8) for _ in range(3)]
    lut = id_to_train_lut()
    # predictions: mostly right, some wrong, one class never predicted
    preds = []
    for g in gts:
        t = lut[g].astype(np.int64)
        p = np.where((t == IGNORE) | (rng.random(g.shape) < 0.3), rng.integers(0, 19, g.shape), t)
        p[p == 5] = 6
        preds.append(p.astype(np.uint8))
    cm = sum(confusion(lut[g], p) for g, p in zip(gts, preds, strict=True))
    ours = miou(cm)
    ref, class_scores = _cityscapes_eval(*_write_pairs(tmp_path, preds, gts))
    assert abs(ours - ref) <= 1e-6
    from hardtool.data.labels import class_names

    for name, v in zip(class_names(), iou_per_class(cm), strict=True):
        r = class_scores[name]
        assert (np.isnan(v) and np.isnan(r)) or abs(v - r) <= 1e-9


def test_perfect_and_ignore():
    gt = np.array([[0, 1, 255], [1, 1, 255]])
    cm = confusion(gt, np.array([[0, 1, 3], [1, 1, 7]]))
    assert cm.sum() == 4 and miou(cm) == 1.0


def test_eval_cli_equals_cityscapesscripts(tmp_path, synth_data, demo_ckpt):
    r = CliRunner().invoke(cli, ["eval", str(demo_ckpt), "--data", str(synth_data), "--json"])
    assert r.exit_code == 0, r.output
    reported = json.loads(r.output)["miou"]
    # the same predictions, recomputed independently and scored by cityscapesscripts
    from hardtool.data.cityscapes import find_samples, load_rgb
    from hardtool.models import load_checkpoint
    from hardtool.predict import torch_predictor

    model, info = load_checkpoint(demo_ckpt)
    predict = torch_predictor(model, info.mean, info.std)
    preds, gts = [], []
    for s in find_samples(synth_data, "val"):
        preds.append(predict(load_rgb(s.image, info.input_size)))
        g = Image.open(s.label).resize(info.input_size[::-1], Image.NEAREST)
        gts.append(np.asarray(g, np.uint8))
    ref, _ = _cityscapes_eval(*_write_pairs(tmp_path, preds, gts))
    assert abs(reported - ref) <= 1e-6, (reported, ref)
    assert reported > 0.3  # the demo model learned something


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
