"""Rendering of one planned study: the frontal phantom with its findings, regions and masks, and the
burned-in shortcut tags of the confounded findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gazecxr.synth.config import TAG_SLOTS, SynthConfig
from gazecxr.synth.findings import mask_box, render_frontal
from gazecxr.synth.phantom import Box, region_boxes, sample_anatomy, to_uint8
from gazecxr.synth.plan import RenderedStudy, StudyPlan


def _scale_box(b: Box, sx: float, sy: float) -> Box:
    return (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)


def render_study(st: StudyPlan, cfg: SynthConfig, rng: np.random.Generator) -> RenderedStudy:
    """Render the frontal image of a study; sets every finding's ``box`` (image px)."""
    H, W = st.height, st.width
    r = min(1.0, cfg.render_size / max(H, W))
    Hr, Wr = max(32, round(H * r)), max(32, round(W * r))
    an = sample_anatomy(rng, Hr, Wr, st.view)
    rendering = render_frontal(an, st.findings, int(rng.integers(0, 2**31)), cfg)
    sx, sy = W / Wr, H / Hr
    for f, m in zip(st.findings, rendering.masks, strict=True):
        b = mask_box(m)
        f.box = _scale_box(b, sx, sy) if b is not None else None
    regions = {k: _scale_box(v, sx, sy) for k, v in region_boxes(an, rendering.layers).items()}
    image = to_uint8(rendering.grey, (H, W), rng, cfg.noise)
    # Its own random stream: with or without the marker, everything else is identical.
    crng = np.random.default_rng([st.seed, 1])
    confounder_boxes = {
        f: _burn_confounder(image, cfg, crng, an, sx, sy, cfg.confounder.findings.index(f))
        for f in st.confounders
    }
    lungs = [regions["right lung"], regions["left lung"], regions["cardiac silhouette"]]
    chest = (
        min(b[0] for b in lungs),
        min(b[1] for b in lungs),
        max(b[2] for b in lungs),
        max(b[3] for b in lungs),
    )
    L = rendering.layers
    seg = {
        "right_lung": L.lung_full[0],
        "left_lung": L.lung_full[1],
        "mediastanum": np.maximum(L.mediastinum, L.heart),  # (sic) EyeGaze file name
        "aortic_knob": L.aortic_knob,
    }
    masks = {
        k: np.asarray(Image.fromarray((v > 0.5).astype(np.uint8) * 255).resize((W, H), Image.NEAREST)) > 0
        for k, v in seg.items()
    }
    return RenderedStudy(image, regions, chest, confounder_boxes, masks)


def _burn_confounder(
    image: np.ndarray, cfg: SynthConfig, rng: np.random.Generator, an: Any, sx: float, sy: float, slot: int
) -> Box:
    """Burn the marker of the ``slot``-th confounded finding into the image (in place); returns its box in image px."""
    H, W = image.shape
    c = cfg.confounder
    value = np.uint8(round(255 * c.intensity))
    if c.kind == "tag":
        tw = max(8, round(c.size * W))
        th = max(4, round(0.3 * tw))
        fx, fy = TAG_SLOTS[slot]
        x0 = round(fx * W) if fx >= 0 else W + round(fx * W) - tw
        y0 = min(round(fy * H), H - th)
        glyphs = rng.random((5, 4 * 4)) < 0.55  # four block "characters" of 4 x 5 cells
        glyphs[:, 3::4] = False  # spacing column between characters
        cells = (
            np.asarray(
                Image.fromarray(glyphs.astype(np.uint8) * 255).resize(
                    (tw - 2 * max(1, tw // 16), th - 2 * max(1, th // 6)), Image.NEAREST
                )
            )
            > 0
        )
        patch = np.zeros((th, tw), dtype=np.uint8)
        oy, ox = max(1, th // 6), max(1, tw // 16)
        patch[oy : oy + cells.shape[0], ox : ox + cells.shape[1]][cells] = value
        image[y0 : y0 + th, x0 : x0 + tw] = patch
        return float(x0), float(y0), float(x0 + tw), float(y0 + th)
    # ECG electrode on the lateral chest wall: bright rim, grey centre, short lead wire.
    side = 1.0 if slot == 0 else -1.0
    px, py = an.to_px(side * rng.uniform(0.65, 0.8), rng.uniform(0.0, 0.4))
    cx, cy, rad = float(px) * sx, float(py) * sy, max(3.0, c.size * W / 6)
    ys, xs = np.mgrid[0:H, 0:W]
    d = np.hypot(xs - cx, ys - cy)
    rim = (d < rad) & (d > 0.6 * rad)
    image[rim] = value
    image[d <= 0.6 * rad] = np.maximum(image[d <= 0.6 * rad], value // 2)
    wire = (np.abs(ys - cy) < max(1.0, rad / 6)) & ((xs - cx) * side > rad) & ((xs - cx) * side < 4 * rad)
    image[wire] = value
    return cx - rad, cy - rad, cx + rad, cy + rad


def _write_jpg(path: Path, image: np.ndarray, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=quality, optimize=False)
