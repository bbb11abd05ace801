"""The HARD encoder with a classification head, and moving its weights into a segmentation model.

The encoder is the part of HARD before the fusion: the stem and the three branches (``stem``,
``hi``, ``mid``, ``lo``). Its modules are taken from a built ``HARD`` so the parameter names are
the segmentation model's own and load into it unchanged."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hardtool.core.errors import HardtoolError
from hardtool.models.blocks import ConvBNReLU
from hardtool.models.registry import build_model, canonical, variant_config

ENCODER = ("stem", "hi", "mid", "lo")
FORMAT = "hardtool-pretrain"


class HardClassifier(nn.Module):
    """Encoder → (1×1 conv to ``head_width``) → global average pool → linear."""

    def __init__(self, arch: str, num_classes: int, head_width: int = 1024, dropout: float = 0.0):
        super().__init__()
        net = build_model(arch)
        self.arch = canonical(arch)
        for name in ENCODER:
            setattr(self, name, getattr(net, name))
        c = variant_config(self.arch).c_lo
        expand = [ConvBNReLU(c, head_width, 1)] if head_width else []
        self.head = nn.Sequential(
            *expand,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            nn.Dropout(dropout),
            nn.Linear(head_width or c, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lo(self.mid(self.hi(self.stem(x)))))

    def encoder_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.state_dict().items() if k.split(".")[0] in ENCODER}


def _encoder_from_file(path: Path) -> tuple[str | None, dict[str, torch.Tensor]]:
    """(arch or None, encoder weights) from a pre-training or a segmentation checkpoint."""
    from hardtool.models.checkpoint import FORMAT as SEG_FORMAT
    from hardtool.models.checkpoint import read_checkpoint

    obj = read_checkpoint(path)
    if obj.get("format") == FORMAT:
        return obj.get("arch"), obj["encoder"]
    if obj.get("format") == SEG_FORMAT:
        sd = obj["state_dict"]
        return obj.get("arch"), {k: v for k, v in sd.items() if k.split(".")[0] in ENCODER}
    raise HardtoolError(
        f"{path} is not a hardtool pre-training or segmentation checkpoint; give a file written by "
        "'hardtool pretrain' or 'hardtool train'"
    )


def load_encoder(model: nn.Module, arch: str, path: Path) -> int:
    """Copy the encoder weights of ``path`` into ``model`` (a HARD of ``arch``); the rest stays as
    initialised. Returns the number of tensors loaded."""
    ck_arch, enc = _encoder_from_file(Path(path))
    arch = canonical(arch)
    if ck_arch is not None and canonical(ck_arch) != arch:
        raise HardtoolError(
            f"{path} holds a {canonical(ck_arch)} encoder, not {arch}; pass --arch {canonical(ck_arch)} "
            "or pre-train a matching encoder"
        )
    own = {k: v for k, v in model.state_dict().items() if k.split(".")[0] in ENCODER}
    missing = [k for k in own if k not in enc]
    shapes = [
        f"{k} {tuple(enc[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in enc and enc[k].shape != v.shape
    ]
    extra = [k for k in enc if k not in own]
    if missing or shapes or extra or not own:
        what = (
            f"{len(missing)} missing (first: {missing[0]})"
            if missing
            else f"{len(shapes)} shape conflicts (first: {shapes[0]})"
            if shapes
            else f"{len(extra)} unexpected (first: {extra[0]})"
        )
        raise HardtoolError(f"encoder in {path} does not fit {arch}: {what}; pre-train with --arch {arch}")
    model.load_state_dict(enc, strict=False)
    return len(enc)
