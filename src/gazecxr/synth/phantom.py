"""Phantom chest radiographs: per-patient anatomy, rendered with vectorised numpy.

Anatomy lives in a *frame*: X to the image right (patient's left in a frontal view), Y down,
one unit = ``Anatomy.scale`` render pixels, origin near the carina. Every structure is a soft
mask (a product of logistic edges) so the picture has no aliasing and the 17 anatomy boxes,
the segmentation masks and the findings all come from the same geometry.

The picture is a density (attenuation) map: soft tissue + bone + mediastinum - lung air, then
``1 - exp(-k D)`` (film response), exposure/gamma jitter and noise, grey values in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from gazecxr.data.anatomy import REGIONS

Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in pixels


def soft(d: np.ndarray, width: float) -> np.ndarray:
    """Smooth edge: 1 where ``d`` >= 3 ``width``, 0 where ``d`` <= -3 ``width`` (frame units).

    A cubic smoothstep with the slope of a logistic of scale ``width`` at 0; polynomial, so it
    costs a fraction of ``expit`` on full-resolution grids. float32 in [0, 1].
    """
    t = np.clip(np.asarray(d, dtype=np.float32) * np.float32(1.0 / (6.0 * width)) + np.float32(0.5), 0.0, 1.0)
    return t * t * (np.float32(3.0) - np.float32(2.0) * t)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Band-limited noise: a ``cells``-wide random grid upsampled bicubically to ``shape``.

    Returns float32 (H, W), roughly zero-mean, std ~1.
    """
    h, w = shape
    ch = max(2, round(cells * h / max(h, w)))
    cw = max(2, round(cells * w / max(h, w)))
    grid = rng.standard_normal((ch, cw)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC), dtype=np.float32)


@dataclass
class Anatomy:
    """Geometry of one patient's frontal radiograph (frame units unless noted).

    ``height``/``width`` are render pixels; ``cx``, ``cy`` the frame origin in render pixels.
    """

    height: int
    width: int
    cx: float
    cy: float
    scale: float
    theta: float  # rotation, radians
    view: str  # "PA" or "AP"
    lung_center: float = 0.47  # |X| of each lung's vertical axis
    lung_halfwidth: float = 0.38  # at the base
    apex: tuple[float, float] = (-0.85, -0.87)  # (right, left) apex Y
    costophrenic: tuple[float, float] = (0.78, 0.82)  # (right, left) Y of the lateral angle
    dome_height: tuple[float, float] = (0.2, 0.18)
    heart_center: tuple[float, float] = (0.12, 0.42)
    heart_axes: tuple[float, float] = (0.34, 0.25)
    heart_angle: float = -0.35
    carina: float = -0.3
    hilum: tuple[float, float] = (0.22, -0.05)  # |X|, Y of both hila
    rib_spacing: float = 0.17
    rib_phase: float = 0.0
    exposure: float = 1.0
    gamma: float = 1.0
    extras: dict[str, float] = field(default_factory=dict)

    # --- coordinates -------------------------------------------------------------------
    def frame_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Frame coordinates (X, Y) of every render pixel centre, float32 (H, W) each."""
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        return self.to_frame(xs + 0.5, ys + 0.5)

    def to_frame(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.cos(self.theta), np.sin(self.theta)
        dx, dy = (x - self.cx) / self.scale, (y - self.cy) / self.scale
        return (c * dx + s * dy).astype(np.float32), (-s * dx + c * dy).astype(np.float32)

    def to_px(self, X: np.ndarray | float, Y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Render-pixel coordinates of frame points (inverse of :meth:`to_frame`)."""
        c, s = np.cos(self.theta), np.sin(self.theta)
        X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
        return self.cx + self.scale * (c * X - s * Y), self.cy + self.scale * (s * X + c * Y)

    # --- structures --------------------------------------------------------------------
    def lung_halfwidth_at(self, Y: np.ndarray, side: int) -> np.ndarray:
        """Half-width of a lung at height Y (side 0 = right = image left, 1 = left)."""
        t = np.clip((Y - self.apex[side]) / (self.costophrenic[side] - self.apex[side]), 0.0, 1.0)
        return self.lung_halfwidth * t**0.42

    def dome(self, X: np.ndarray, side: int) -> np.ndarray:
        """Y of the hemidiaphragm under lung ``side`` at horizontal position X."""
        c = self.lung_center * (1 if side else -1)
        u = (X - c) / (self.lung_halfwidth * 1.05)
        return self.costophrenic[side] - self.dome_height[side] * np.clip(1.0 - u * u, 0.0, 1.0)

    def heart_mask(self, X: np.ndarray, Y: np.ndarray, axes: tuple[float, float] | None = None) -> np.ndarray:
        """Cardiac silhouette, float32 in [0, 1]: the tilted left-ventricular ellipse (its apex to
        the image right) joined by the right atrium bulging right of the spine; both scale with
        ``axes`` (an enlarged heart grows as a whole)."""
        ax, ay = axes or self.heart_axes
        grow = ax / self.heart_axes[0]
        c, s = np.cos(self.heart_angle), np.sin(self.heart_angle)
        dx, dy = X - self.heart_center[0], Y - self.heart_center[1]
        u, v = (c * dx + s * dy) / ax, (-s * dx + c * dy) / ay
        ventricle = 1.0 - np.sqrt(u * u + v * v)
        # Right atrium: centred at the right heart border, about half the ventricle's size.
        rx = self.heart_center[0] - 0.62 * ax
        ra = 1.0 - np.hypot((X - rx) / (0.17 * grow), (Y - self.heart_center[1] + 0.02) / (0.19 * grow))
        return soft(np.maximum(ventricle, ra), 0.02)

    def lung_mask(self, X: np.ndarray, Y: np.ndarray, side: int, edge: float = 0.015) -> np.ndarray:
        """Aerated lung of one side before the heart overlaps it, float32 in [0, 1]."""
        sign = 1.0 if side else -1.0
        hw = self.lung_halfwidth_at(Y, side)
        inside = soft(hw - np.abs(X - sign * self.lung_center), edge)
        inside *= soft(Y - self.apex[side], edge)
        inside *= soft(self.dome(X, side) - Y, edge)
        inside *= soft(sign * X - 0.09, edge)  # mediastinal border
        return inside

    def clavicle_dist(self, X: np.ndarray, Y: np.ndarray, side: int) -> np.ndarray:
        """Distance (frame units) from each point to the clavicle of ``side`` (a segment)."""
        sign = 1.0 if side else -1.0
        p0 = np.array([sign * 0.1, self.apex[side] + 0.02])
        p1 = np.array([sign * 0.82, self.apex[side] - 0.16 - self.extras.get("clav_tilt", 0.0)])
        d = p1 - p0
        t = np.clip(((X - p0[0]) * d[0] + (Y - p0[1]) * d[1]) / float(d @ d), 0.0, 1.0)
        return np.hypot(X - p0[0] - t * d[0], Y - p0[1] - t * d[1])

    def hilum_point(self, side: int) -> tuple[float, float]:
        return ((1 if side else -1) * self.hilum[0], self.hilum[1])

    def costophrenic_point(self, side: int) -> tuple[float, float]:
        sign = 1.0 if side else -1.0
        x = sign * (self.lung_center + self.lung_halfwidth * 0.85)
        return x, float(self.dome(np.array(x), side)) - 0.04


def sample_anatomy(rng: np.random.Generator, height: int, width: int, view: str) -> Anatomy:
    """Draw one patient's geometry (size, position, rotation, inspiration, exposure, view)."""
    ap = view == "AP"
    scale = width * rng.uniform(0.40, 0.47)
    an = Anatomy(
        height=height,
        width=width,
        cx=width * rng.uniform(0.47, 0.53),
        cy=height * rng.uniform(0.36, 0.42),
        scale=scale,
        theta=float(rng.normal(0.0, 0.035 if ap else 0.02)),
        view=view,
        lung_center=rng.uniform(0.44, 0.5),
        lung_halfwidth=rng.uniform(0.35, 0.41),
        apex=(rng.uniform(-0.9, -0.8), rng.uniform(-0.92, -0.82)),
        # AP portable films are taken with poorer inspiration: higher domes.
        costophrenic=(rng.uniform(0.72, 0.84) - 0.06 * ap, rng.uniform(0.76, 0.88) - 0.06 * ap),
        dome_height=(rng.uniform(0.16, 0.24), rng.uniform(0.14, 0.22)),
        heart_center=(rng.uniform(0.08, 0.16), rng.uniform(0.36, 0.46)),
        # AP magnifies the heart (it is far from the detector).
        heart_axes=(rng.uniform(0.31, 0.36) * (1.08 if ap else 1.0), rng.uniform(0.22, 0.27)),
        heart_angle=rng.uniform(-0.45, -0.25),
        carina=rng.uniform(-0.35, -0.25),
        hilum=(rng.uniform(0.19, 0.25), rng.uniform(-0.1, 0.0)),
        rib_spacing=rng.uniform(0.15, 0.19),
        rib_phase=rng.uniform(0.0, 1.0),
        exposure=rng.uniform(0.85, 1.15),
        gamma=rng.uniform(0.85, 1.2),
        extras={"clav_tilt": rng.uniform(-0.05, 0.05) - 0.06 * ap, "soft": rng.uniform(0.8, 1.2)},
    )
    return an


@dataclass
class Layers:
    """Intermediate maps of one rendering (render grid, float32 (H, W))."""

    X: np.ndarray
    Y: np.ndarray
    lung: tuple[np.ndarray, np.ndarray]  # aerated lung (heart removed), right / left
    lung_full: tuple[np.ndarray, np.ndarray]  # lung outline before the heart overlaps it
    heart: np.ndarray
    body: np.ndarray
    mediastinum: np.ndarray
    trachea: np.ndarray
    aortic_knob: np.ndarray
    markings: np.ndarray  # vascular markings density (suppressed by a pneumothorax)
    clavicle: tuple[np.ndarray, np.ndarray]


def anatomy_layers(
    an: Anatomy, rng: np.random.Generator, heart_axes: tuple[float, float] | None = None
) -> Layers:
    """Compute every anatomical mask of ``an`` on the render grid.

    ``heart_axes`` overrides the heart size (enlarged cardiac silhouette is drawn this way, so
    the lungs are displaced by the heart consistently).
    """
    X, Y = an.frame_grid()
    heart = an.heart_mask(X, Y, heart_axes)
    lung_full = (an.lung_mask(X, Y, 0), an.lung_mask(X, Y, 1))
    lungs = (lung_full[0] * (1.0 - heart), lung_full[1] * (1.0 - heart))
    # Body: full width below the shoulders, tapering to the neck above them.
    shoulder = np.clip((Y + 1.35) / 0.4, 0.0, 1.0)
    half = 0.3 + 0.68 * shoulder
    body = soft(half - np.abs(X), 0.03)
    med_half = 0.11 + 0.05 * np.clip((Y + 0.6) / 0.5, 0.0, 1.0)
    mediastinum = soft(med_half - np.abs(X - 0.01), 0.015) * soft(an.heart_center[1] + 0.1 - Y, 0.05)
    trachea = soft(0.035 - np.abs(X - 0.01 * Y), 0.01) * soft(an.carina - Y, 0.01)
    # Main bronchi diverge from the carina for a short way.
    for sign in (-1.0, 1.0):
        bx = X - sign * 0.55 * (Y - an.carina)
        trachea = np.maximum(
            trachea,
            soft(0.025 - np.abs(bx), 0.01) * soft(Y - an.carina, 0.01) * soft(an.carina + 0.2 - Y, 0.02),
        )
    knob = soft(0.07 - np.hypot(X - 0.13, Y + 0.4), 0.015)
    # Vascular markings: ridged band-limited noise, denser towards the hila.
    ridge = 1.0 - np.abs(smooth_noise(rng, X.shape, 40))
    ridge = np.clip(ridge, 0.0, 1.0) ** 3
    fine = smooth_noise(rng, X.shape, 90)
    dist = np.minimum(np.hypot(X + an.hilum[0], Y - an.hilum[1]), np.hypot(X - an.hilum[0], Y - an.hilum[1]))
    markings = (0.12 * ridge + 0.02 * fine) * np.exp(-dist / 0.45).astype(np.float32)
    clav = tuple(soft(0.035 - an.clavicle_dist(X, Y, s), 0.012) for s in (0, 1))
    return Layers(
        X, Y, lungs, lung_full, heart, body, mediastinum, trachea, knob, markings.astype(np.float32), clav
    )


def bone_density(an: Anatomy, L: Layers) -> np.ndarray:
    """Ribs, spine and clavicles (density, float32 (H, W))."""
    X, Y = L.X, L.Y
    u = np.abs(X)
    # Posterior ribs: each rib rises slightly from the spine then sweeps down laterally; in
    # the coordinate v every rib is a horizontal line, so all ribs come from one periodic function.
    v = Y - (-0.3 * u + 0.85 * u * u)
    # Rib spacing widens downwards: phase grows sub-linearly with depth.
    depth = np.clip(v - an.apex[0] + 0.25, 0.0, None)
    phase = depth**0.85 / an.rib_spacing + an.rib_phase
    frac = np.abs(phase - np.round(phase)) * an.rib_spacing
    ribs = soft(0.022 - frac, 0.006) * soft(phase, 0.2) * soft(10.5 - phase, 0.2)
    thorax = soft(an.lung_center + an.lung_halfwidth + 0.06 - u, 0.02) * soft(u - 0.06, 0.02)
    below = soft(0.5 * (an.dome(X, 0) + an.dome(X, 1)) + 0.1 - Y, 0.05)  # ribs fade into the abdomen
    ribs *= thorax * (0.35 + 0.65 * below)
    spine = soft(0.075 - np.abs(X), 0.01) * (0.75 + 0.25 * np.cos(2 * np.pi * Y / 0.14))
    return 0.16 * ribs + 0.22 * spine * L.body + 0.28 * (L.clavicle[0] + L.clavicle[1])


def density_to_grey(an: Anatomy, D: np.ndarray) -> np.ndarray:
    """Film response: density -> grey value in [0, 1] with the patient's exposure and gamma."""
    g = 1.0 - np.exp(-1.3 * an.exposure * np.clip(D, 0.0, None))
    return np.clip(g / 0.85, 0.0, 1.0) ** an.gamma


def base_density(an: Anatomy, L: Layers) -> np.ndarray:
    """Density of the normal anatomy, float32 (H, W)."""
    soft_tissue = L.body * (0.55 + 0.3 * np.sqrt(np.clip(1.0 - (L.X / 1.0) ** 2, 0.0, 1.0)))
    soft_tissue *= an.extras.get("soft", 1.0)
    lung_air = 0.55 * (L.lung[0] + L.lung[1])
    D = soft_tissue - lung_air + 0.03 * L.heart + 0.08 * L.mediastinum + 0.12 * L.aortic_knob
    D -= 0.25 * L.trachea
    D += (L.lung[0] + L.lung[1]) * L.markings
    # Gastric bubble under the left hemidiaphragm.
    bubble = soft(0.06 - np.hypot((L.X - an.lung_center) / 1.6, L.Y - an.costophrenic[1] - 0.03), 0.015)
    D -= 0.25 * bubble * L.body
    return D + bone_density(an, L)


def region_boxes(an: Anatomy, L: Layers) -> dict[str, Box]:
    """The 17 EyeGaze anatomical boxes (render pixels) from the masks of this anatomy."""

    def bbox(mask: np.ndarray, thr: float = 0.5) -> Box:
        ys, xs = np.nonzero(mask > thr)
        return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)

    def around(X: float, Y: float, rx: float, ry: float) -> Box:
        xs, ys = an.to_px(
            np.array([X - rx, X + rx, X - rx, X + rx]), np.array([Y - ry, Y - ry, Y + ry, Y + ry])
        )
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())

    out: dict[str, Box] = {}
    for side, name in ((0, "right"), (1, "left")):
        full = L.lung_full[side]
        x0, y0, x1, y1 = bbox(full)
        out[f"{name} lung"] = (x0, y0, x1, y1)
        third = (y1 - y0) / 3.0
        for k, zone in enumerate(("upper", "mid", "lower")):
            out[f"{name} {zone} lung zone"] = (x0, y0 + k * third, x1, y0 + (k + 1) * third)
        out[f"{name} hilar structures"] = around(*an.hilum_point(side), 0.1, 0.12)
        out[f"{name} costophrenic angle"] = around(*an.costophrenic_point(side), 0.1, 0.1)
        out[f"{name} clavicle"] = bbox(L.clavicle[side])
    out["cardiac silhouette"] = bbox(L.heart)
    out["trachea"] = bbox(L.trachea)
    out["upper mediastinum"] = around(
        0.01, (an.apex[0] + an.heart_center[1] - an.heart_axes[1]) / 2, 0.14, 0.3
    )
    H, W = an.height, an.width
    return {k: _clip_box(out[k], W, H) for k in REGIONS}


def _clip_box(b: Box, width: int, height: int) -> Box:
    return (max(0.0, b[0]), max(0.0, b[1]), min(float(width), b[2]), min(float(height), b[3]))


def to_uint8(grey: np.ndarray, size: tuple[int, int], rng: np.random.Generator, noise: float) -> np.ndarray:
    """Resize a render-grid grey image to ``size`` (H, W), add noise, quantise to uint8."""
    h, w = size
    if grey.shape != (h, w):
        grey = np.asarray(Image.fromarray(grey.astype(np.float32), mode="F").resize((w, h), Image.BICUBIC))
    if noise > 0:
        grey = grey + rng.standard_normal(grey.shape, dtype=np.float32) * noise
    return np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_lateral(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A lateral view (not read by the simulated radiologists): grey float32 (H, W) in [0, 1].

    Frame: X to the image right = posterior, Y down. Sternum anterior, spine posterior, the two
    lungs superimposed, heart anterior-inferior, hemidiaphragms below, arms over the apices.
    """
    an = Anatomy(
        height=height,
        width=width,
        cx=width * rng.uniform(0.47, 0.53),
        cy=height * rng.uniform(0.4, 0.45),
        scale=width * rng.uniform(0.42, 0.47),
        theta=float(rng.normal(0, 0.03)),
        view="LATERAL",
        exposure=rng.uniform(0.9, 1.15),
        gamma=rng.uniform(0.9, 1.15),
    )
    X, Y = an.frame_grid()
    body = soft(1.0 - (np.abs(X / 0.92) ** 4 + np.abs((Y - 0.2) / 1.45) ** 4), 0.05)
    arms = soft(-0.55 - Y, 0.08) * body
    dome = 0.5 + 0.18 * X - 0.12 * X * X  # diaphragm, lower posteriorly
    lung = soft(1.0 - (np.abs((X - 0.05) / 0.66) ** 3 + np.abs((Y + 0.1) / 0.88) ** 3), 0.03)
    lung *= soft(dome - Y, 0.015)
    heart = soft(1.0 - np.hypot((X + 0.3) / 0.34, (Y - 0.28) / 0.3), 0.04)
    spine_x = 0.6 + 0.08 * Y
    spine = soft(0.1 - np.abs(X - spine_x), 0.01) * (0.7 + 0.3 * np.cos(2 * np.pi * Y / 0.14)) * body
    sternum = soft(0.025 - np.abs(X + 0.78 - 0.1 * Y), 0.008) * soft(0.55 - np.abs(Y + 0.15), 0.02)
    texture = 0.04 * smooth_noise(rng, X.shape, 50)
    D = (
        0.9 * body
        + 0.25 * arms
        - 0.55 * lung * (1 - heart)
        + 0.05 * heart
        + 0.3 * spine
        + 0.2 * sternum
        + texture * lung
    )
    return density_to_grey(an, D).astype(np.float32)
