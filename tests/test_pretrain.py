"""hardtool pretrain: ImageFolder conventions, the RandAugment mapping against timm's arguments and
PIL, learning on a tiny generated ImageFolder, exact resume, two processes = one process, and the
encoder handed to segmentation training."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from hardtool.core.errors import HardtoolError
from hardtool.pretrain import engine
from hardtool.pretrain.config import PretrainConfig
from hardtool.pretrain.data import find_classes, make_samples, read_layout

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["disc", "hstripes", "plain", "vstripes"]


def _pattern(cls: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """Class = shape (learnable through flips, crops and colour ops); colours random per image."""
    yy, xx = np.mgrid[0:size, 0:size]
    half = size // 4
    phase = rng.integers(0, 2 * half)
    if cls == "hstripes":
        m = ((yy + phase) // half) % 2
    elif cls == "vstripes":
        m = ((xx + phase) // half) % 2
    elif cls == "disc":
        cy, cx = rng.integers(size // 3, 2 * size // 3, 2)
        m = ((yy - cy) ** 2 + (xx - cx) ** 2 < (size // 4) ** 2).astype(int)
    else:
        m = np.zeros_like(yy)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    while np.abs(a - b).sum() < 200:
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    img = np.where(m[..., None] == 1, a, b) + rng.normal(0, 8, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """4 classes x (48 train + 12 val) 32x32 PNGs in the ImageNet layout."""
    root = tmp_path_factory.mktemp("imagefolder")
    rng = np.random.default_rng(0)
    for split, n in (("train", 48), ("val", 12)):
        for c in CLASSES:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(_pattern(c, rng)).save(d / f"{i:03d}.png")
    return root


def small(**kw) -> PretrainConfig:
    """HARD-Edge encoder, 32x32 crops, one thread: fast and the same on every run."""
    base = dict(
        arch="hard_edge",
        epochs=2,
        batch=32,
        micro_batch=8,
        crop=32,
        scale=(0.35, 1.0),
        head_width=32,
        lr=1e-2,
        warmup_epochs=1,
        workers=0,
        threads=1,
        randaug_group=8,
    )
    return PretrainConfig(**{**base, **kw})


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    obj = torch.load(path, weights_only=True)
    return {**obj["encoder"], **{f"head.{k}": v for k, v in obj["head"].items()}}


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> Path:
    """One process, two epochs, the full augmentation (RandAugment 9/0.5, crop, flip)."""
    out = tmp_path_factory.mktemp("ref") / "ref.pt"
    engine.pretrain(small(), folder, out, progress=False)
    return out


def test_imagefolder_follows_torchvision_conventions(tmp_path):
    for cls, files in {"zebra": ["b.PNG", "a.jpeg", "notes.txt"], "apple": ["sub/c.png", "d.JPEG"]}.items():
        for f in files:
            (tmp_path / cls / f).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / cls / f).write_bytes(b"")
    (tmp_path / "stray.png").write_bytes(b"")  # files beside the class folders are no class
    classes = find_classes(tmp_path)
    assert classes == ["apple", "zebra"]
    got = [(Path(p).relative_to(tmp_path).as_posix(), i) for p, i in make_samples(tmp_path, classes)]
    assert got == [("apple/d.JPEG", 0), ("apple/sub/c.png", 0), ("zebra/a.jpeg", 1), ("zebra/b.PNG", 1)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(HardtoolError, match="no images in 1 class folder"):
        make_samples(tmp_path, find_classes(tmp_path))


def test_val_classes_must_match_train(tmp_path):
    for split, cls in (("train", "a"), ("train", "b"), ("val", "a")):
        (tmp_path / split / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / split / cls / "x.png")
    with pytest.raises(HardtoolError, match="different class folders"):
        read_layout(tmp_path)


def _forced(ra, i: int, shape):
    ra.rand_selector = lambda n: torch.tensor([i])
    return ra.forward_parameters(torch.Size(shape))[0].data[0].data


def test_randaugment_arguments_are_timms_at_m9():
    """timm's level_to_arg at M = 9 (f = 0.9), magnitude noise off: the argument each op receives."""
    from hardtool.pretrain.augment import TimmRandAugment

    ra = TimmRandAugment(n=1, magnitude=9, mstd=0, p=0.5)
    names = list(ra._factories)
    shape = (64, 3, 40, 50)
    expect = {
        "Rotate": ("degrees", lambda v: v.abs(), 27.0),
        "Posterize": ("bits_factor", lambda v: v.float(), 3.0),  # int(0.9 * 4)
        "Solarize": ("thresholds", lambda v: v * 255, 230.0),  # int(0.9 * 256)
        "SolarizeAdd": ("additions", lambda v: v * 255, 99.0),  # int(0.9 * 110)
        "Color": ("saturation_factor", lambda v: v, 1.72),
        "Contrast": ("contrast_factor", lambda v: v, 1.72),
        "Brightness": ("contrast_factor", lambda v: v, 1.72),
        "Sharpness": ("sharpness", lambda v: v, 1.72),
        "ShearX": ("shear_x", lambda v: torch.tan(torch.deg2rad(v)).abs(), 0.27),
        "ShearY": ("shear_y", lambda v: torch.tan(torch.deg2rad(v)).abs(), 0.27),
        "TranslateXRel": ("translate_x", lambda v: v.abs(), 0.405 * 50),  # pixels of the width
        "TranslateYRel": ("translate_y", lambda v: v.abs(), 0.405 * 40),
    }
    for name, (key, view, value) in expect.items():
        params = _forced(ra, names.index(name), shape)
        got = view(params[key])
        assert torch.allclose(got, torch.full_like(got, value), atol=1e-4), (name, got[:3])
        gate = params["batch_prob"].float().mean()
        assert 0.3 < gate < 0.7, (name, gate)  # each drawn op applies to about half of the images
    signs = torch.sign(_forced(ra, names.index("Rotate"), shape)["degrees"])
    assert (signs > 0).any() and (signs < 0).any()


def test_randaugment_magnitude_noise_per_image():
    from hardtool.pretrain.augment import TimmRandAugment

    ra = TimmRandAugment(n=1, magnitude=9, mstd=0.5, p=1.0)
    deg = _forced(ra, list(ra._factories).index("Rotate"), (4000, 3, 8, 8))["degrees"].abs()
    level = deg / 3  # degrees = 30 * M / 10
    assert abs(float(level.mean()) - 8.98) < 0.05  # N(9, 0.5) clipped at 10
    assert abs(float(level.std()) - 0.49) < 0.05 and float(level.max()) <= 10 + 1e-4


def test_intensity_ops_match_pil():
    """The colour ops on kornia against the PIL operations timm applies, at M = 9: within 1 LSB."""
    from hardtool.pretrain.augment import TimmRandAugment

    rng = np.random.default_rng(1)
    arr = np.clip(np.cumsum(rng.integers(-20, 21, (40, 48, 3)), axis=1) + 128, 0, 255).astype(np.uint8)
    pil = Image.fromarray(arr)
    x = torch.from_numpy(arr).permute(2, 0, 1).float().div(255)[None]
    e = 0.9 * 1.8 + 0.1
    ref = {
        "AutoContrast": ImageOps.autocontrast(pil),
        "Equalize": ImageOps.equalize(pil),
        "Invert": ImageOps.invert(pil),
        "Posterize": ImageOps.posterize(pil, 3),
        "Solarize": ImageOps.solarize(pil, 230),
        "SolarizeAdd": pil.point([min(255, i + 99) if i < 128 else i for i in range(256)] * 3),
        "Color": ImageEnhance.Color(pil).enhance(e),
        "Contrast": ImageEnhance.Contrast(pil).enhance(e),
        "Brightness": ImageEnhance.Brightness(pil).enhance(e),
        "Sharpness": ImageEnhance.Sharpness(pil).enhance(e),
    }
    ra = TimmRandAugment(n=1, magnitude=9, mstd=0, p=1.0)
    for i, name in enumerate(ra._factories):
        if name not in ref:
            continue
        params = _forced(ra, i, x.shape)
        op = ra[i][0]
        y = np.round(op(x, params)[0].permute(1, 2, 0).numpy() * 255)
        diff = np.abs(y - np.asarray(ref[name], dtype=float))
        assert diff.max() <= 1, (name, diff.max())


def test_random_resized_crop_resizes_like_pil():
    """A crop of the whole image (scale 1, the image's aspect) is PIL's antialiased bilinear resize."""
    from hardtool.pretrain.augment import random_resized_crop

    rng = np.random.default_rng(0)
    arr = np.clip(np.cumsum(rng.integers(-20, 21, (96, 128, 3)), axis=1) + 128, 0, 255).astype(np.uint8)
    x = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    y = random_resized_crop(x, 32, (1.0, 1.0), (128 / 96, 128 / 96), seed=0)
    ref = np.asarray(Image.fromarray(arr).resize((32, 32), Image.BILINEAR), dtype=float)
    assert np.abs(np.round(y.permute(1, 2, 0).numpy() * 255) - ref).max() <= 1
    a, b = (random_resized_crop(x, 32, (0.08, 1.0), (3 / 4, 4 / 3), seed=s) for s in (5, 5))
    assert torch.equal(a, b) and not torch.equal(
        a, random_resized_crop(x, 32, (0.08, 1.0), (3 / 4, 4 / 3), seed=6)
    )


@pytest.mark.slow
def test_pretrain_learns(folder, tmp_path):
    """Loss falls and val top-1 ends well above chance (25 %) after a few epochs."""
    cfg = small(
        epochs=6, batch=16, micro_batch=16, randaug_n=0, lr=2e-2
    )  # RandAugment is checked above and below
    res = engine.pretrain(cfg, folder, tmp_path / "enc.pt", progress=False)
    h = res["history"]
    assert len(h) == 6 and res["processes"] == 1
    assert h[-1]["loss"] < h[0]["loss"] - 0.3, [x["loss"] for x in h]
    assert res["top1"] >= 0.45, [x["top1"] for x in h]
    assert res["top5"] == 1.0  # 4 classes: the top 5 always hold the label
    obj = torch.load(tmp_path / "enc.pt", weights_only=True)
    assert obj["config"]["epochs"] == 6 and obj["classes"] == CLASSES and obj["meta"]["history"] == h


def test_resume_mid_epoch_is_exact(folder, reference, tmp_path, monkeypatch):
    """Stopped right after a mid-epoch checkpoint and resumed: the same weights and history as
    the uninterrupted run."""
    out = tmp_path / "r.pt"
    real = engine.save

    def save_then_stop(*a, **kw):
        real(*a, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        engine.pretrain(small(save_every=5), folder, out, progress=False)
    state = torch.load(out, weights_only=True)["train_state"]
    assert (state["epoch"], state["step"]) == (0, 5)
    monkeypatch.setattr(engine, "save", real)
    res = engine.pretrain(small(), folder, out, resume=True, explicit=set(), progress=False)
    ref, got = _tensors(reference), _tensors(out)
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    drop = lambda hist: [{k: v for k, v in h.items() if k != "seconds"} for h in hist]  # noqa: E731
    assert drop(res["history"]) == drop(torch.load(reference, weights_only=True)["meta"]["history"])


def test_resume_refuses_a_changed_recipe(folder, reference, tmp_path):
    out = tmp_path / "c.pt"
    out.write_bytes(reference.read_bytes())
    with pytest.raises(HardtoolError, match="--lr 0.5 differs"):
        engine.pretrain(small(lr=0.5), folder, out, resume=True, explicit={"lr"}, progress=False)


def _args(cfg: PretrainConfig) -> list[str]:
    out = []
    for k, v in cfg.to_dict().items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            out.append(flag if v else f"--no-{flag[2:]}")
        elif isinstance(v, tuple):
            out += [flag, *map(str, v)]
        else:
            out += [flag, str(v)]
    return out


@pytest.mark.slow
def test_torchrun_two_processes_equal_one(folder, reference, tmp_path):
    """torchrun, 2 CPU processes (gloo), same seed / batch / micro-batch: the same weights, BN
    running statistics, losses and accuracy as the single process."""
    out = tmp_path / "ddp.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        # torchrun binds its own free port (a port picked here could be taken before it binds)
        "--standalone",
        "-m",
        "hardtool",
        "pretrain",
        "--data",
        str(folder),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--json",
        *_args(small()),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout[r.stdout.index("{") :])
    assert res["processes"] == 2
    ref, got = _tensors(reference), _tensors(out)
    assert ref.keys() == got.keys()
    # Bit for bit: each micro-batch meets the same weights and gives the same float32 gradient in
    # both runs (4 micro-batches in one process, 2 per rank here), and their sum is taken in float64.
    for k in ref:
        assert torch.equal(ref[k], got[k]), (k, float((ref[k].double() - got[k].double()).abs().max()))
    assert any(float(ref[k].abs().max()) > 0.01 for k in ref if "running_mean" in k)  # BN stats moved
    h1 = torch.load(reference, weights_only=True)["meta"]["history"]
    for a, b in zip(h1, res["history"], strict=True):
        assert math.isclose(a["loss"], b["loss"], rel_tol=1e-12) and (a["top1"], a["top5"]) == (
            b["top1"],
            b["top5"],
        )


def test_encoder_starts_segmentation_training(reference, monkeypatch):
    import hardtool.train as train_mod
    from hardtool.models import build_model
    from hardtool.pretrain.model import load_encoder

    enc = torch.load(reference, weights_only=True)["encoder"]
    torch.manual_seed(0)
    fresh = build_model("hard_edge").state_dict()
    torch.manual_seed(0)
    model = train_mod._build("hard_edge", reference, log=lambda *_: None)
    sd = model.state_dict()
    for k, v in sd.items():
        if k.split(".")[0] in ("stem", "hi", "mid", "lo"):
            assert torch.equal(v, enc[k]), k
        else:
            assert torch.equal(v, fresh[k]), k  # fusion, decoder and classifier start fresh
    assert len(enc) == sum(1 for k in sd if k.split(".")[0] in ("stem", "hi", "mid", "lo"))
    with pytest.raises(HardtoolError, match="holds a hard_edge encoder, not hard_xxs; pass --arch hard_edge"):
        load_encoder(build_model("hard_xxs"), "hard_xxs", reference)


def _cli(args: list[str], capsys) -> tuple[int, str]:
    """The real entry point, in this process (-v: no TensorFlow import hook for the session)."""
    from hardtool.cli import main

    with pytest.raises(SystemExit) as e:
        main(["-v", *args])
    return e.value.code, capsys.readouterr().err.strip()


def test_cli_errors_are_one_line(folder, reference, synth_data, tmp_path, capsys):
    cases = [
        (["pretrain", "--data", str(folder), "--out", str(reference)], "exists; pass --resume"),
        (
            [
                "pretrain",
                "--data",
                str(folder),
                "--out",
                str(tmp_path / "x.pt"),
                "--batch",
                "12",
                "--micro-batch",
                "8",
            ],
            "not a multiple",
        ),
        (["pretrain", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "y.pt")], "is not a folder"),
        (
            [
                "train",
                "--arch",
                "hard_xxs",
                "--data",
                str(synth_data),
                "--out",
                str(tmp_path / "s.pt"),
                "--input-size",
                "64",
                "128",
                "--pretrained",
                str(reference),
            ],
            "holds a hard_edge encoder, not hard_xxs",
        ),
    ]
    for args, msg in cases:
        code, err = _cli(args, capsys)
        assert code == 2 and len(err.splitlines()) == 1 and msg in err, (args, err)
