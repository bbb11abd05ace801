"""Bad inputs: one line on stderr, a non-zero exit, no traceback, nothing clobbered."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hardtool", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_line_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


def test_missing_data_folder(tmp_path, demo_ckpt):
    assert_one_line_error(run("eval", str(demo_ckpt), "--data", str(tmp_path / "nope")), "does not exist")


def test_empty_data_folder(tmp_path, demo_ckpt):
    (tmp_path / "leftImg8bit" / "val").mkdir(parents=True)
    assert_one_line_error(run("eval", str(demo_ckpt), "--data", str(tmp_path)), "no images")


def test_label_of_wrong_size(tmp_path, synth_data, demo_ckpt):
    root = tmp_path / "d"
    shutil.copytree(synth_data, root)
    lab = sorted((root / "gtFine" / "val").glob("*/*_labelIds.png"))[0]
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(lab)
    assert_one_line_error(
        run("eval", str(demo_ckpt), "--data", str(root)), "labels must have the image's size"
    )


def test_truncated_checkpoint(tmp_path, synth_data, demo_ckpt):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(demo_ckpt.read_bytes()[:5000])
    assert_one_line_error(run("eval", str(bad), "--data", str(synth_data)), "corrupt or truncated")


def test_checkpoint_of_another_arch(tmp_path, synth_data, demo_ckpt):
    obj = torch.load(demo_ckpt, weights_only=True)
    bare = tmp_path / "bare.pt"
    torch.save({"module." + k: v for k, v in obj["state_dict"].items()}, bare)
    assert_one_line_error(
        run("eval", str(bare), "--data", str(synth_data), "--arch", "hard_xxs"),
        "does not match architecture hard_xxs",
        "missing",
    )
    # the right arch loads the same bare DataParallel state_dict
    r = run("eval", str(bare), "--data", str(synth_data), "--arch", "hard_edge", "--json")
    assert r.returncode == 0, r.stderr
    assert_one_line_error(
        run("eval", str(demo_ckpt), "--data", str(synth_data), "--arch", "hard_s"), "hard_edge"
    )


def test_unknown_arch(synth_data, tmp_path):
    assert_one_line_error(
        run("train", "--arch", "hard_xl", "--data", str(synth_data), "--out", str(tmp_path / "x.pt")),
        "unknown architecture",
        "hard_edge",
    )


@pytest.mark.parametrize("args", [["data", "synth", "--out", "{d}", "--n", "0"]])
def test_synth_bad_count(tmp_path, args):
    assert_one_line_error(run(*[a.format(d=tmp_path) for a in args]), "--n")


def test_synth_refuses_to_clobber(tmp_path):
    r = run("data", "synth", "--out", str(tmp_path), "--n", "1", "--size", "64", "128", "--splits", "val")
    assert r.returncode == 0, r.stderr
    before = {p: p.read_bytes() for p in Path(tmp_path).rglob("*.png")}
    assert_one_line_error(
        run("data", "synth", "--out", str(tmp_path), "--n", "1", "--seed", "5", "--splits", "val"), "--force"
    )
    assert {p: p.read_bytes() for p in Path(tmp_path).rglob("*.png")} == before
