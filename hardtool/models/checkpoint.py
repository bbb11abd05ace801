"""Checkpoint format and loader.

A hardtool checkpoint is a ``torch.save``d dict:
``{"format": "hardtool-checkpoint", "version": 1, "arch": "hard_edge", "num_classes": 19,
"input_size": [H, W], "normalization": {"mean": [r, g, b], "std": [r, g, b]},
"state_dict": {...}, "meta": {...}}`` — mean/std apply to RGB in [0, 1]. A bare
``state_dict`` (also one saved from ``nn.DataParallel``, with ``module.`` prefixes) loads too
when the architecture is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hardtool.core.errors import HardtoolError
from hardtool.models.hard import HARD
from hardtool.models.registry import ARCHS, build_model, canonical, default_input_size

FORMAT = "hardtool-checkpoint"
DEFAULT_MEAN = (0.485, 0.456, 0.406)
DEFAULT_STD = (0.229, 0.224, 0.225)


@dataclass
class CheckpointInfo:
    arch: str
    num_classes: int
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD
    meta: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: Path, model: HARD, info: CheckpointInfo, extra: dict | None = None) -> None:
    """Write atomically (temp file + rename) so an interrupted save never corrupts a checkpoint."""
    import io

    from hardtool.core.files import atomic_write_bytes

    obj = {
        "format": FORMAT,
        "version": 1,
        "arch": info.arch,
        "num_classes": info.num_classes,
        "input_size": list(info.input_size),
        "normalization": {"mean": list(info.mean), "std": list(info.std)},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": info.meta,
    }
    if extra:
        obj.update(extra)
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def read_checkpoint(path: Path) -> dict:
    """Load the raw object, turning every way a file can be unreadable into one clear line."""
    path = Path(path)
    if path.is_dir():
        raise HardtoolError(
            f"checkpoint {path} is a folder; give the path of a .pt file written by 'hardtool train'"
        )
    if not path.is_file():
        raise HardtoolError(
            f"checkpoint {path} not found; give the path of a .pt file written by 'hardtool train'"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise HardtoolError(
            f"checkpoint {path} is corrupt or truncated ({type(e).__name__}); re-download or re-train it"
        ) from None
    if not isinstance(obj, dict):
        raise HardtoolError(f"checkpoint {path} holds a {type(obj).__name__}, not a dict of weights")
    return obj


def _strip_prefix(sd: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in sd.items():
        while k.startswith("module."):
            k = k[len("module.") :]
        out[k] = v
    return out


def _check_keys(model: HARD, sd: dict[str, Any], arch: str, path: Path) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in sd and hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first: {', '.join(unexpected[:3])})")
    if shapes:
        parts.append(f"{len(shapes)} shape conflicts (first: {'; '.join(shapes[:2])})")
    raise HardtoolError(
        f"checkpoint {path} does not match architecture {arch}: {'; '.join(parts)}; "
        f"pass the right --arch (one of {', '.join(ARCHS)})"
    )


def load_checkpoint(
    path: Path, arch: str | None = None, num_classes: int | None = None
) -> tuple[HARD, CheckpointInfo]:
    """Build the model named in the checkpoint (or by ``arch`` for a bare state_dict) and load it."""
    path = Path(path)
    obj = read_checkpoint(path)
    if obj.get("format") == FORMAT:
        ck_arch = canonical(obj["arch"])
        if arch is not None and canonical(arch) != ck_arch:
            raise HardtoolError(
                f"checkpoint {path} is a {ck_arch} model, not {canonical(arch)}; drop --arch or use --arch {ck_arch}"
            )
        norm = obj.get("normalization", {})
        info = CheckpointInfo(
            ck_arch,
            int(obj["num_classes"]),
            tuple(obj["input_size"]),
            tuple(norm.get("mean", DEFAULT_MEAN)),
            tuple(norm.get("std", DEFAULT_STD)),
            dict(obj.get("meta", {})),
        )
        sd = obj["state_dict"]
    else:
        sd = _strip_prefix(obj["state_dict"] if isinstance(obj.get("state_dict"), dict) else obj)
        if arch is None:
            raise HardtoolError(
                f"{path} is a bare state_dict; say which model it is with --arch ({', '.join(ARCHS)})"
            )
        a = canonical(arch)
        cls_w = sd.get("cls.weight")
        ncls = num_classes or (int(cls_w.shape[0]) if hasattr(cls_w, "shape") else 19)
        info = CheckpointInfo(a, ncls, default_input_size(a))
    sd = _strip_prefix(sd)
    model = build_model(info.arch, info.num_classes)
    _check_keys(model, sd, info.arch, path)
    model.load_state_dict(sd)
    return model.eval(), info
