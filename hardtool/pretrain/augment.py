"""Training augmentation with kornia: RandomResizedCrop per image, horizontal flip and RandAugment
batched on the training device.

The paper's "RandAugment(9, 0.5)" is timm's ``rand-m9-mstd0.5`` (the DeiT recipe notation
"9/0.5"): 2 ops per image drawn with replacement from 15, each applied with probability 0.5, at
magnitude M ~ N(9, 0.5) clipped to [0, 10] on timm's 0–10 scale, drawn afresh for every op call.
kornia's own ``RandAugment(n, m)`` differs (m on a 0–30 scale, ops always applied, no magnitude
noise, ops drawn without replacement, some ops with other semantics), so ``TimmRandAugment``
keeps kornia's machinery and swaps in the timm op table below. The README lists what is still
different (fill colour, interpolation, one op draw per group of images).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from kornia.augmentation.auto import RandAugment
from kornia.augmentation.auto.operations import OperationBase
from kornia.augmentation.auto.operations.policy import PolicySequential
from kornia.augmentation.container.params import ParamItem
from kornia.enhance import adjust_contrast_with_mean_subtraction, adjust_saturation_with_gray_subtraction

LEVEL_DENOM = 10.0  # timm's magnitude scale: M in [0, 10]


class _PilContrast(K.RandomContrast):
    """PIL ``ImageEnhance.Contrast``: blend with the mean grey level (kornia's own is a plain scale)."""

    def apply_transform(self, input, params, flags, transform=None):  # noqa: D102 - kornia override
        f = params["contrast_factor"].to(input)
        return adjust_contrast_with_mean_subtraction(input.clamp(0, 1), f)


class _PilColor(K.RandomSaturation):
    """PIL ``ImageEnhance.Color``: blend with the greyscale image (kornia's own scales HSV saturation)."""

    def apply_transform(self, input, params, flags, transform=None):  # noqa: D102 - kornia override
        f = params["saturation_factor"].to(input)
        return adjust_saturation_with_gray_subtraction(input.clamp(0, 1), f).clamp(0, 1)


class _SolarizeAddDark(K.RandomSolarize):
    """timm ``SolarizeAdd``: add to pixels below 128/255 only, no inversion (kornia's adds everywhere
    and then solarizes)."""

    def apply_transform(self, input, params, flags, transform=None):  # noqa: D102 - kornia override
        add = params["additions"].to(input).view(-1, 1, 1, 1)
        x = input.clamp(0, 1)
        return torch.where(x < 128 / 255, (x + add).clamp(0, 1), x)


def _enhance(f: torch.Tensor) -> torch.Tensor:
    return f * 1.8 + 0.1


def _scale(k: float, f: torch.Tensor) -> torch.Tensor:
    return f * k


def _posterize_bits(f: torch.Tensor) -> torch.Tensor:
    return (f * 4).long()  # timm: int(level / 10 * 4) bits kept


def _solarize_threshold(f: torch.Tensor) -> torch.Tensor:
    return (torch.floor(f * 256) / 255).clamp(max=1.0)  # PIL inverts pixel i >= int(256 f)


def _solarize_add(f: torch.Tensor) -> torch.Tensor:
    return torch.floor(f * 110) / 255


def _shear_degrees(f: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.atan(f * 0.3))  # kornia shears by tan(angle): tan = timm's 0.3 f


def _op(aug, factor: str | None = None, fn: Callable | None = None, signed: bool = False) -> OperationBase:
    mag = None if factor is None else [(factor, None)]
    return OperationBase(aug, initial_magnitude=mag, magnitude_fn=fn, symmetric_megnitude=signed)


def timm_ops(p: float) -> dict[str, Callable[[], OperationBase]]:
    """timm's ``_RAND_TRANSFORMS`` as kornia operations; each maps the fraction f = M / 10 to timm's
    op argument. Every op is applied to each image with probability ``p``."""
    return {
        "AutoContrast": lambda: _op(K.RandomAutoContrast(p=p)),
        "Equalize": lambda: _op(K.RandomEqualize(p=p)),
        "Invert": lambda: _op(K.RandomInvert(p=p)),
        "Rotate": lambda: _op(K.RandomRotation((0.0, 30.0), p=p), "degrees", partial(_scale, 30.0), True),
        "Posterize": lambda: _op(K.RandomPosterize((0.0, 8.0), p=p), "bits_factor", _posterize_bits),
        "Solarize": lambda: _op(K.RandomSolarize((0.0, 1.0), 0.0, p=p), "thresholds", _solarize_threshold),
        "SolarizeAdd": lambda: _op(_SolarizeAddDark(0.5, (0.0, 0.5), p=p), "additions", _solarize_add),
        "Color": lambda: _op(_PilColor((0.0, 2.0), p=p), "saturation_factor", _enhance),
        "Contrast": lambda: _op(_PilContrast((0.0, 2.0), p=p), "contrast_factor", _enhance),
        # kornia's contrast is x * f: exactly PIL's ImageEnhance.Brightness
        "Brightness": lambda: _op(K.RandomContrast((0.0, 2.0), p=p), "contrast_factor", _enhance),
        "Sharpness": lambda: _op(K.RandomSharpness((0.0, 2.0), p=p), "sharpness", _enhance),
        "ShearX": lambda: _op(K.RandomShear((0.0, 20.0), p=p), "shear_x", _shear_degrees, True),
        "ShearY": lambda: _op(K.RandomShear((0.0, 0.0, 0.0, 20.0), p=p), "shear_y", _shear_degrees, True),
        "TranslateXRel": lambda: _op(K.RandomTranslate((0.0, 0.5), p=p), "translate_x", None, True),
        "TranslateYRel": lambda: _op(K.RandomTranslate(None, (0.0, 0.5), p=p), "translate_y", None, True),
    }


TRANSLATE_PCT = 0.45  # timm's default translate_pct


class TimmRandAugment(RandAugment):
    """timm's RandAugment (``rand-m{M}-mstd{S}``, n ops, probability p each) on kornia operations.

    One op draw serves the whole batch it is called on (kornia draws per call); magnitudes, signs
    and the probability gates are drawn per image."""

    def __init__(self, n: int = 2, magnitude: float = 9.0, mstd: float = 0.5, p: float = 0.5):
        self._factories = timm_ops(p)
        self.magnitude, self.mstd = float(magnitude), float(mstd)
        policy = [[(name, 0.0, 1.0)] for name in self._factories]
        super().__init__(n=n, m=1, policy=policy)

    def compose_subpolicy_sequential(self, subpolicy) -> PolicySequential:
        return PolicySequential(self._factories[subpolicy[0][0]]())

    def rand_selector(self, n: int) -> torch.Tensor:
        return torch.randint(len(self._modules), (n,))  # timm: np.random.choice(..., replace=True)

    def _fractions(self, b: int) -> torch.Tensor:
        m = torch.full((b,), self.magnitude)
        if self.mstd > 0:
            m = m + self.mstd * torch.randn(b)
        return m.clamp(0.0, LEVEL_DENOM) / LEVEL_DENOM

    def forward_parameters(self, batch_shape: torch.Size) -> list[ParamItem]:
        params = []
        for name, module in self.get_forward_sequence():
            op = module[0]
            f = None
            if op.magnitude_range is not None:
                f = self._fractions(batch_shape[0])  # a fresh magnitude per image and op, as timm
                if op._factor_name in ("translate_x", "translate_y"):
                    size = batch_shape[-1] if op._factor_name == "translate_x" else batch_shape[-2]
                    f = f * TRANSLATE_PCT * size  # kornia translates in pixels
            mod_param = op.forward_parameters(batch_shape, mag=f)
            params.append(ParamItem(name, [ParamItem(next(iter(module.named_children()))[0], mod_param)]))
        return params


def random_resized_crop(img: torch.Tensor, size: int, scale, ratio, seed: int) -> torch.Tensor:
    """RandomResizedCrop of one [3, H, W] float image, its draw fixed by ``seed``: kornia draws the
    box (torchvision's rule), the resize is antialiased as torchvision's and PIL's are (kornia's
    own resize is not)."""
    rrc = K.RandomResizedCrop((size, size), scale=tuple(scale), ratio=tuple(ratio))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        box = rrc.forward_parameters(torch.Size((1, *img.shape)))["src"][0]
    (x0, y0), (x1, y1) = box[0].long().tolist(), box[2].long().tolist()  # inclusive corners
    crop = img[None, :, y0 : y1 + 1, x0 : x1 + 1]
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


class BatchAugment:
    """Flip and RandAugment on the device, in groups of images whose draws are seeded by the group's
    position in the global batch: the same images get the same augmentation on any number of ranks."""

    def __init__(self, hflip: float, n: int, magnitude: float, mstd: float, p: float, group: int):
        self.flip = K.RandomHorizontalFlip(p=hflip) if hflip > 0 else None
        self.ra = TimmRandAugment(n, magnitude, mstd, p) if n > 0 else None
        self.group = group

    def __call__(self, x: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """``x``: [B, 3, H, W] in [0, 1]; ``seeds``: one per group of ``self.group`` images."""
        if len(seeds) != math.ceil(len(x) / self.group):
            raise ValueError("one seed per augmentation group expected")
        devices = [x.device.index or 0] if x.is_cuda else []
        out = []
        for g, seed in enumerate(seeds):
            xg = x[g * self.group : (g + 1) * self.group]
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                if self.flip is not None:
                    xg = self.flip(xg)
                if self.ra is not None:
                    xg = self.ra(xg)
            out.append(xg.clamp(0, 1))
        return torch.cat(out)
