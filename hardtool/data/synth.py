"""Deterministic synthetic street scenes in the Cityscapes layout.

Each scene has a horizon, a road in perspective with lane marks, sidewalks, buildings with
windows, vegetation, terrain, sky, cars, people, poles and traffic signs, all textured and
scaled with depth, so a network must learn shape, colour and context to segment it. Images
and `*_gtFine_labelIds.png` go where the official dataset keeps them, so every reader and tool
that handles Cityscapes handles these files."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hardtool.data.labels import label_id

CITIES = {"train": "synthtown", "val": "synthville", "test": "synthburg"}


def _ids() -> dict[str, int]:
    names = [
        "road",
        "sidewalk",
        "building",
        "pole",
        "traffic sign",
        "vegetation",
        "terrain",
        "sky",
        "person",
        "car",
        "ego vehicle",
        "traffic light",
        "wall",
        "fence",
    ]
    return {n: label_id(n) for n in names}


def _noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    """Smooth value noise in [-1, 1] (coarse random grid upsampled)."""
    gh, gw = max(2, h // scale + 2), max(2, w // scale + 2)
    g = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    img = Image.fromarray(((g + 1) * 127.5).astype(np.uint8)).resize((w, h), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 127.5 - 1


class _Canvas:
    """Paints an RGB image and its label map together, far to near."""

    def __init__(self, h: int, w: int, rng: np.random.Generator):
        self.h, self.w, self.rng = h, w, rng
        self.rgb = np.zeros((h, w, 3), np.float32)
        self.lab = np.zeros((h, w), np.uint8)

    def fill(self, mask: np.ndarray, color, lab: int, texture: float = 12.0, scale: int = 6) -> None:
        if not mask.any():
            return
        n = _noise(self.rng, self.h, self.w, scale)[..., None] * texture
        fine = self.rng.normal(0, texture / 3, (self.h, self.w, 1))
        col = np.asarray(color, np.float32)[None, None, :] + n + fine
        self.rgb[mask] = col[mask]
        self.lab[mask] = lab

    def poly_mask(self, pts) -> np.ndarray:
        m = Image.new("L", (self.w, self.h), 0)
        ImageDraw.Draw(m).polygon([tuple(map(float, p)) for p in pts], fill=1)
        return np.asarray(m, bool)

    def ellipse_mask(self, box) -> np.ndarray:
        m = Image.new("L", (self.w, self.h), 0)
        ImageDraw.Draw(m).ellipse([float(v) for v in box], fill=1)
        return np.asarray(m, bool)

    def rect_mask(self, x0, y0, x1, y1) -> np.ndarray:
        m = np.zeros((self.h, self.w), bool)
        ys, ye = int(max(0, round(y0))), int(min(self.h, round(y1)))
        xs, xe = int(max(0, round(x0))), int(min(self.w, round(x1)))
        if ye > ys and xe > xs:
            m[ys:ye, xs:xe] = True
        return m


@dataclass
class _Scene:
    """What the later layers of a scene need to know about the earlier ones."""

    c: _Canvas
    ids: dict[str, int]
    xx: np.ndarray
    yy: np.ndarray
    hor: int
    vx: float
    road_half: float = 0.0
    walk: float = 0.0

    def depth_scale(self, y: float) -> float:
        return max(0.02, (y - self.hor) / (self.c.h - self.hor))


def _sky(s: _Scene, rng: np.random.Generator) -> None:
    """Vertical gradient with cloudy noise."""
    c, h, w = s.c, s.c.h, s.c.w
    top, bot = (
        np.array([60, 110, 200]) + rng.uniform(-20, 20, 3),
        np.array([170, 200, 235]) + rng.uniform(-15, 15, 3),
    )
    t = (s.yy / max(1, s.hor))[..., None].clip(0, 1)
    c.rgb[:] = top * (1 - t) + bot * t + _noise(rng, h, w, 24)[..., None] * 18
    c.lab[:] = s.ids["sky"]


def _buildings(s: _Scene, rng: np.random.Generator) -> None:
    """Buildings along the horizon (with windows), some gaps."""
    c, w, hor, xx, yy = s.c, s.c.w, s.hor, s.xx, s.yy
    x = -rng.uniform(0, 40)
    while x < w:
        bw = rng.uniform(0.08, 0.25) * w
        if rng.random() < 0.85:
            top_y = hor - rng.uniform(0.15, 0.95) * hor
            base = np.array(
                rng.choice(
                    [[150, 120, 100], [120, 120, 125], [180, 170, 150], [110, 90, 80], [200, 190, 180]]
                )
            )
            m = c.rect_mask(x, top_y, x + bw, hor + 2)
            c.fill(m, base + rng.uniform(-20, 20, 3), s.ids["building"], texture=8)
            wx, wy = rng.uniform(6, 12), rng.uniform(8, 14)
            win = m & ((xx - x) % (wx * 1.8) < wx) & ((yy - top_y) % (wy * 1.7) < wy) & (yy > top_y + 4)
            c.rgb[win] = c.rgb[win] * 0.45 + np.array([40, 50, 70]) * 0.55
        x += bw + (rng.uniform(5, 40) if rng.random() < 0.3 else 0)


def _vegetation(s: _Scene, rng: np.random.Generator) -> None:
    """Tree crowns in front of the buildings."""
    c, w, hor = s.c, s.c.w, s.hor
    for _ in range(int(rng.integers(1, 6))):
        cx, cy, r = rng.uniform(0, w), hor - rng.uniform(0.05, 0.5) * hor, rng.uniform(0.05, 0.16) * w
        m = c.ellipse_mask((cx - r, cy - r * 0.8, cx + r, cy + r * 0.8 + 6))
        m &= s.yy <= hor + 4
        c.fill(m, np.array([60, 110, 45]) + rng.uniform(-20, 20, 3), s.ids["vegetation"], texture=30, scale=3)


def _ground(s: _Scene, rng: np.random.Generator) -> None:
    """Terrain everywhere below the horizon, then sidewalks, then the road with a dashed centre line."""
    c, h, w, hor, vx, xx, yy, ids = s.c, s.c.h, s.c.w, s.hor, s.vx, s.xx, s.yy, s.ids
    ground = yy > hor
    c.fill(ground, np.array([120, 140, 80]) + rng.uniform(-15, 15, 3), ids["terrain"], texture=20, scale=4)
    s.road_half = w * rng.uniform(0.32, 0.5)
    s.walk = w * rng.uniform(0.12, 0.25)
    xl, xr = vx - s.road_half, vx + s.road_half
    walk_m = c.poly_mask([(vx - 2, hor), (vx + 2, hor), (xr + s.walk, h), (xl - s.walk, h)]) & ground
    c.fill(walk_m, np.array([175, 165, 160]) + rng.uniform(-15, 15, 3), ids["sidewalk"], texture=10)
    tiles = walk_m & (((xx // 9) + (yy // 5)) % 2 == 0)
    c.rgb[tiles] *= 0.9
    road_m = c.poly_mask([(vx - 1, hor), (vx + 1, hor), (xr, h), (xl, h)]) & ground
    c.fill(road_m, np.array([85, 85, 90]) + rng.uniform(-10, 10, 3), ids["road"], texture=9)
    d = (yy - hor).clip(1, None)
    lane = (
        road_m
        & (np.abs(xx - (vx + (rng.uniform(-0.1, 0.1) * (yy - hor)))) < 0.012 * d + 0.5)
        & (np.log(d) * 6 % 2 < 1)
    )
    c.rgb[lane] = [225, 225, 215]


def _pole(s: _Scene, rng: np.random.Generator, y: float, side: float) -> None:
    """A pole on the sidewalk edge, often with a round or square sign."""
    c, h, w, sc = s.c, s.c.h, s.c.w, s.depth_scale(y)
    px = s.vx + side * (s.road_half * sc + s.walk * sc * rng.uniform(0.3, 0.9))
    pw, ph = max(1.5, 5 * sc * w / 512), (0.6 + 0.5 * rng.random()) * h * sc * 1.4
    c.fill(c.rect_mask(px - pw / 2, y - ph, px + pw / 2, y), [110, 110, 115], s.ids["pole"], texture=6)
    if rng.random() < 0.7:
        r = max(2.0, 11 * sc * w / 512)
        sy = y - ph + r
        if rng.random() < 0.5:
            m = c.ellipse_mask((px - r, sy - r, px + r, sy + r))
            col = [200, 30, 30]
        else:
            m = c.rect_mask(px - r, sy - r, px + r, sy + r)
            col = [30, 70, 190]
        c.fill(m, col, s.ids["traffic sign"], texture=8)
        inner = m & ((s.xx - px) ** 2 + (s.yy - sy) ** 2 < (0.55 * r) ** 2)
        c.rgb[inner] = [235, 235, 235]


def _person(s: _Scene, rng: np.random.Generator, y: float, side: float) -> None:
    c, sc = s.c, s.depth_scale(y)
    px = s.vx + side * (s.road_half * sc + s.walk * sc * rng.uniform(0.2, 0.8))
    ph = 0.34 * c.h * sc * 1.3
    pw = ph * 0.28
    shirt = rng.uniform(30, 220, 3)
    body = c.rect_mask(px - pw / 2, y - ph * 0.8, px + pw / 2, y - ph * 0.4)
    legs = c.rect_mask(px - pw * 0.4, y - ph * 0.4, px - pw * 0.05, y) | c.rect_mask(
        px + pw * 0.05, y - ph * 0.4, px + pw * 0.4, y
    )
    head = c.ellipse_mask((px - pw * 0.3, y - ph, px + pw * 0.3, y - ph * 0.8))
    c.fill(body, shirt, s.ids["person"], texture=10)
    c.fill(legs, rng.uniform(20, 90, 3), s.ids["person"], texture=8)
    c.fill(head, [200, 160, 130], s.ids["person"], texture=6)


def _car(s: _Scene, rng: np.random.Generator, y: float, side: float) -> None:
    c = s.c
    cx = s.vx + side * s.road_half * s.depth_scale(y) * 0.8
    cw = 0.5 * s.road_half * s.depth_scale(y) * rng.uniform(0.8, 1.1)
    ch = cw * rng.uniform(0.5, 0.7)
    col = rng.choice(
        [[180, 20, 20], [20, 40, 150], [200, 200, 200], [30, 30, 30], [90, 90, 95], [200, 170, 30]]
    )
    col = np.asarray(col, float) + rng.uniform(-15, 15, 3)

    def trapezoid(y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
        return c.poly_mask(
            [
                (cx - cw * x0, y - ch * y0),
                (cx - cw * x1, y - ch * y1),
                (cx + cw * x1, y - ch * y1),
                (cx + cw * x0, y - ch * y0),
            ]
        )

    body = c.rect_mask(cx - cw / 2, y - ch * 0.65, cx + cw / 2, y - ch * 0.12)
    c.fill(body | trapezoid(0.65, 1.0, 0.32, 0.22), col, s.ids["car"], texture=6)
    c.rgb[trapezoid(0.68, 0.94, 0.27, 0.19)] = [50, 60, 75]  # windows
    for wxc in (cx - cw * 0.3, cx + cw * 0.3):
        wr = ch * 0.16
        wheel = c.ellipse_mask((wxc - wr, y - ch * 0.12 - wr, wxc + wr, y - ch * 0.12 + wr))
        c.fill(wheel, [15, 15, 15], s.ids["car"], texture=3)


def _objects(s: _Scene, rng: np.random.Generator) -> None:
    """Poles, people and cars, drawn far to near."""
    h, hor = s.c.h, s.hor
    objs: list[tuple[float, str, float]] = []
    for _ in range(int(rng.integers(1, 5))):
        objs.append((rng.uniform(hor + 0.15 * (h - hor), h * 1.02), "pole", rng.choice([-1, 1])))
    for _ in range(int(rng.integers(0, 5))):
        objs.append((rng.uniform(hor + 0.1 * (h - hor), h * 1.05), "person", rng.choice([-1, 1])))
    for _ in range(int(rng.integers(1, 5))):
        objs.append((rng.uniform(hor + 0.08 * (h - hor), h * 1.1), "car", rng.uniform(-0.8, 0.8)))
    objs.sort(key=lambda o: o[0])  # far first
    draw = {"pole": _pole, "person": _person, "car": _car}
    for y, kind, side in objs:
        draw[kind](s, rng, y, side)


def render_scene(rng: np.random.Generator, h: int = 256, w: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (RGB uint8 [h, w, 3], Cityscapes labelIds uint8 [h, w])."""
    c = _Canvas(h, w, rng)
    yy, xx = np.mgrid[0:h, 0:w]
    hor = int(h * rng.uniform(0.36, 0.5))
    s = _Scene(c, _ids(), xx, yy, hor, w * rng.uniform(0.35, 0.65))
    for layer in (_sky, _buildings, _vegetation, _ground, _objects):
        layer(s, rng)
    # ego-vehicle hood on some frames: ignored in evaluation, exercises the ignore path
    if rng.random() < 0.3:
        hood = c.ellipse_mask((-0.2 * w, h - 0.08 * h, 1.2 * w, h + 0.12 * h))
        c.fill(hood, [40, 40, 45], s.ids["ego vehicle"], texture=4)
    gain, bias = rng.uniform(0.75, 1.2), rng.uniform(-20, 20)
    rgb = (c.rgb * gain + bias).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.0, 0.8))))
    return np.asarray(img), c.lab


def scene_paths(root: Path, split: str, index: int) -> tuple[Path, Path]:
    city = CITIES.get(split, "synth" + split)
    stem = f"{city}_{index // 1000:06d}_{index % 1000:06d}"
    return (
        root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
        root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
    )


def generate(
    out: Path,
    n: int,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val"),
    size: tuple[int, int] = (256, 512),
    progress=None,
) -> list[Path]:
    """Write ``n`` scenes per split; the same (seed, split, index) always gives the same files."""
    written = []
    for split in splits:
        for i in range(n):
            rng = np.random.default_rng([seed, zlib.crc32(split.encode()), i])
            rgb, lab = render_scene(rng, *size)
            ip, lp = scene_paths(Path(out), split, i)
            ip.parent.mkdir(parents=True, exist_ok=True)
            lp.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(ip)
            Image.fromarray(lab).save(lp)
            written.append(ip)
            if progress is not None:
                progress()
    return written
