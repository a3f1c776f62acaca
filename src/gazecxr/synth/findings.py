"""Findings: what each synthetic study shows, where, how severe, and how it is drawn.

Sampling follows a small generative model (a latent heart-failure cluster that brings enlarged
heart, edema and effusions together; parapneumonic effusions; basal atelectasis next to
effusions; pneumothorax after line placement). Each finding is rendered as its own density
layer so its ground-truth box is the bounding box of what was actually drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gazecxr.synth.config import SynthConfig
from gazecxr.synth.phantom import (
    Anatomy,
    Box,
    Layers,
    anatomy_layers,
    base_density,
    density_to_grey,
    smooth_noise,
    soft,
)

SEVERITIES: tuple[str, ...] = ("mild", "moderate", "severe")
SIDES: tuple[str, str] = ("right", "left")
DEVICE_KINDS: tuple[str, ...] = ("endotracheal tube", "enteric tube", "central venous catheter", "pacemaker")


@dataclass
class Finding:
    """One drawn abnormality (a bilateral process drawn per side is two findings).

    ``side``: 0 right (image left), 1 left, None central/bilateral. ``box``: image pixels
    (xmin, ymin, xmax, ymax), set by :func:`render_frontal`. ``kind``: sub-type (device kind,
    "nodule"/"mass", "linear"/"lobar", ...).
    """

    name: str
    severity: str
    subtle: bool
    side: int | None
    regions: list[str]
    kind: str = ""
    params: dict[str, float] = field(default_factory=dict)
    box: Box | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "side": None if self.side is None else SIDES[self.side],
            "regions": list(self.regions),
            "box": [round(v, 1) for v in self.box] if self.box else None,
            "severity": self.severity,
            "subtle": self.subtle,
        }


def _severity(rng: np.random.Generator, subtle: bool) -> str:
    return "mild" if subtle else str(rng.choice(SEVERITIES, p=(0.45, 0.35, 0.2)))


def sample_findings(rng: np.random.Generator, cfg: SynthConfig, view: str) -> list[Finding]:
    """Draw the findings of one frontal image (possibly none)."""
    fc = cfg.findings
    base = {name: fc.base_rate.get(name, 0.0) for name in fc.base_rate}

    def hit(p: float) -> bool:
        return bool(rng.random() < p)

    def subtle() -> bool:
        return hit(fc.subtle_fraction)

    chf = hit(fc.chf_rate)
    out: list[Finding] = []
    if hit(base.get("Enlarged cardiac silhouette", 0.0)) or (chf and hit(fc.chf_cardiomegaly)):
        s = subtle()
        out.append(Finding("Enlarged cardiac silhouette", _severity(rng, s), s, None, ["cardiac silhouette"]))
    if hit(base.get("Pulmonary edema", 0.0)) or (chf and hit(fc.chf_edema)):
        s = subtle()
        out.append(
            Finding(
                "Pulmonary edema",
                _severity(rng, s),
                s,
                None,
                ["right hilar structures", "left hilar structures", "right lung", "left lung"],
            )
        )
    effusion_sides: set[int] = set()
    if chf and hit(fc.chf_effusion):
        effusion_sides |= {0, 1} if hit(0.7) else {int(rng.integers(2))}
    if hit(base.get("Pleural abnormality", 0.0)):
        effusion_sides.add(int(rng.integers(2)))
    consolidation_side = None
    if hit(base.get("Consolidation", 0.0)):
        consolidation_side = int(rng.integers(2))
        zone = str(rng.choice(("upper", "mid", "lower"), p=(0.2, 0.3, 0.5)))
        s = subtle()
        out.append(
            Finding(
                "Consolidation",
                _severity(rng, s),
                s,
                consolidation_side,
                [f"{SIDES[consolidation_side]} {zone} lung zone", f"{SIDES[consolidation_side]} lung"],
                params={"zone": ("upper", "mid", "lower").index(zone)},
            )
        )
        if hit(fc.consolidation_effusion):
            effusion_sides.add(consolidation_side)
    for side in sorted(effusion_sides):
        s = subtle()
        sev = _severity(rng, s)
        regions = [f"{SIDES[side]} costophrenic angle", f"{SIDES[side]} lower lung zone"]
        if sev == "severe":
            regions.append(f"{SIDES[side]} mid lung zone")
        out.append(Finding("Pleural abnormality", sev, s, side, regions, kind="effusion"))
    atelectasis_sides: set[int] = {sd for sd in effusion_sides if hit(fc.effusion_atelectasis)}
    if hit(base.get("Atelectasis", 0.0)):
        atelectasis_sides.add(int(rng.integers(2)))
    for side in sorted(atelectasis_sides):
        s = subtle()
        out.append(
            Finding(
                "Atelectasis", _severity(rng, s), s, side, [f"{SIDES[side]} lower lung zone"], kind="linear"
            )
        )
    if hit(base.get("Lung nodule or mass", 0.0)):
        side = int(rng.integers(2))
        zone = str(rng.choice(("upper", "mid", "lower"), p=(0.45, 0.35, 0.2)))
        s = subtle()
        kind = "mass" if (not s and hit(0.3)) else "nodule"
        out.append(
            Finding(
                "Lung nodule or mass",
                _severity(rng, s),
                s,
                side,
                [f"{SIDES[side]} {zone} lung zone", f"{SIDES[side]} lung"],
                kind=kind,
                params={"zone": ("upper", "mid", "lower").index(zone)},
            )
        )
    devices = hit(base.get("Support devices", 0.0)) or (view == "AP" and hit(fc.ap_devices))
    if devices:
        n = 1 + int(rng.random() < 0.35)
        for kind in rng.choice(DEVICE_KINDS, size=n, replace=False, p=(0.35, 0.3, 0.25, 0.1)):
            regions = {
                "endotracheal tube": ["trachea"],
                "enteric tube": ["trachea", "upper mediastinum"],
                "central venous catheter": ["right clavicle", "upper mediastinum"],
                "pacemaker": ["left upper lung zone", "cardiac silhouette"],
            }[str(kind)]
            out.append(Finding("Support devices", "moderate", False, None, regions, kind=str(kind)))
    if hit(base.get("Pneumothorax", 0.0)) or (devices and hit(fc.devices_pneumothorax)):
        side = int(rng.integers(2))
        s = subtle()
        out.append(
            Finding(
                "Pneumothorax",
                _severity(rng, s),
                s,
                side,
                [f"{SIDES[side]} upper lung zone", f"{SIDES[side]} lung"],
            )
        )
    # Per-finding random shape parameters, drawn now so rendering is a pure function.
    for f in out:
        f.params.update({"u1": float(rng.random()), "u2": float(rng.random()), "u3": float(rng.random())})
    return out


# --- rendering --------------------------------------------------------------------------

_SEV = {"mild": 0, "moderate": 1, "severe": 2}


def heart_axes_for(an: Anatomy, findings: list[Finding], size: float = 1.0) -> tuple[float, float]:
    """Heart semi-axes after an enlarged cardiac silhouette (if any) is applied; ``size``
    scales the enlargement (``findings.size``)."""
    ax, ay = an.heart_axes
    for f in findings:
        if f.name == "Enlarged cardiac silhouette":
            # A subtle enlargement is borderline (~7 %), the others 12-44 %.
            grow = (1.07 if f.subtle else (1.12, 1.25, 1.4)[_SEV[f.severity]]) + 0.04 * f.params["u1"]
            grow = 1.0 + (grow - 1.0) * size
            return ax * grow, ay * (1.0 + 0.4 * (grow - 1.0))
    return ax, ay


def _polyline_dist(an: Anatomy, X: np.ndarray, Y: np.ndarray, pts: np.ndarray, reach: float) -> np.ndarray:
    """Distance (frame units) from each grid point to a polyline ``pts`` (K, 2), exact up to
    ``reach`` and ``inf`` beyond: each segment is evaluated only in its pixel window."""
    best = np.full(X.shape, np.inf, dtype=np.float32)
    H, W = X.shape
    margin = reach * an.scale + 2
    for p0, p1 in zip(pts[:-1], pts[1:], strict=True):
        xs, ys = an.to_px(np.array([p0[0], p1[0]]), np.array([p0[1], p1[1]]))
        c0, c1 = max(0, int(xs.min() - margin)), min(W, int(xs.max() + margin) + 1)
        r0, r1 = max(0, int(ys.min() - margin)), min(H, int(ys.max() + margin) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        x, y = X[r0:r1, c0:c1], Y[r0:r1, c0:c1]
        d = p1 - p0
        t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
        np.minimum(
            best[r0:r1, c0:c1], np.hypot(x - p0[0] - t * d[0], y - p0[1] - t * d[1]), out=best[r0:r1, c0:c1]
        )
    return best


def _curve(ctrl: list[tuple[float, float]], n: int = 24) -> np.ndarray:
    """Smooth curve through control points (quadratic B-spline-like corner cutting), (n, 2)."""
    pts = np.asarray(ctrl, dtype=np.float64)
    for _ in range(3):  # Chaikin corner cutting keeps the end points
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        pts = np.vstack([pts[:1], np.column_stack([q, r]).reshape(-1, 2), pts[-1:]])
    idx = np.linspace(0, len(pts) - 1, n).round().astype(int)
    return pts[idx]


def _device_paths(an: Anatomy, f: Finding) -> list[np.ndarray]:
    j = (f.params["u1"] - 0.5) * 0.06
    if f.kind == "endotracheal tube":
        tip = an.carina - 0.12 - 0.1 * f.params["u2"]
        return [_curve([(0.02 + j, -1.8), (0.01, -1.2), (0.01 * tip, tip)])]
    if f.kind == "enteric tube":
        cp = an.costophrenic[1]
        return [
            _curve([(0.03 + j, -1.8), (0.02, -0.6), (0.05, 0.3), (0.25, cp + 0.02), (0.45 + j, cp + 0.12)])
        ]
    if f.kind == "central venous catheter":
        return [
            _curve(
                [
                    (-0.75, an.apex[0] + 0.05),
                    (-0.35, an.apex[0] + 0.2 + j),
                    (-0.08, -0.3),
                    (-0.06, 0.05 + 0.1 * f.params["u2"]),
                ]
            )
        ]
    # pacemaker: generator (drawn separately) and one lead to the right ventricle
    gx, gy = 0.55 + j, an.apex[1] + 0.3
    return [_curve([(gx - 0.05, gy + 0.03), (0.2, -0.55), (-0.03, -0.15), (0.0, 0.25), (0.18, 0.45)])]


def _finding_density(
    an: Anatomy, L: Layers, f: Finding, rng: np.random.Generator, gain: float, size: float
) -> np.ndarray:
    """Density added by one finding (float32 (H, W)); pneumothorax returns its *negative* change."""
    X, Y = L.X, L.Y
    sev = _SEV[f.severity]
    u1, u2, u3 = f.params["u1"], f.params["u2"], f.params["u3"]
    if f.name == "Enlarged cardiac silhouette":
        # Drawn through the heart size (anatomy_layers); the change is the lungs it displaced.
        return np.zeros_like(X)
    side = f.side if f.side is not None else 0
    sign = 1.0 if side else -1.0
    lung = L.lung_full[side]
    if f.name == "Pleural abnormality":
        # Fluid layers over the hemidiaphragm, thickest at the chest wall (meniscus), and
        # replaces aerated lung: the costophrenic angle is blunted and the dome obscured.
        h = (0.1, 0.2, 0.34)[sev] * (0.85 + 0.3 * u1) * size
        lateral = np.clip((sign * X - an.lung_center) / an.lung_halfwidth, -1.0, 1.0)
        surface = (
            an.dome(X, side) - h * (0.35 + 0.65 * np.clip(lateral, 0.0, 1.0) ** 2) - 0.3 * h * (sev == 2)
        )
        fluid = soft(Y - surface, 0.015) * lung * (1.0 - L.heart)
        return 0.4 * gain * fluid
    if f.name == "Pulmonary edema":
        haze = np.zeros_like(X)
        r = (0.32, 0.42, 0.55)[sev] * size
        for sd in (0, 1):
            hx, hy = an.hilum_point(sd)
            haze += np.exp(-((X - hx) ** 2 + (Y - hy) ** 2) / (r * r)) * L.lung[sd]
        interstitial = 1.2 * L.markings * (L.lung[0] + L.lung[1])
        return gain * (0.2 * haze + interstitial * (0.4 + 0.4 * sev))
    if f.name in ("Consolidation", "Lung nodule or mass", "Atelectasis"):
        x0, y0, x1, y1 = _lung_zone_frame(an, side, int(f.params.get("zone", 2)))
        if f.name == "Atelectasis":
            # Plate-like band just above the hemidiaphragm.
            cx = sign * (an.lung_center + (u1 - 0.5) * 0.3)
            cy = float(an.dome(np.array(cx), side)) - 0.08 - 0.1 * u2
            ang = (u3 - 0.5) * 0.6
            length, thick = (0.16, 0.24, 0.32)[sev] * size, (0.025, 0.035, 0.05)[sev] * size
            du = (X - cx) * np.cos(ang) + (Y - cy) * np.sin(ang)
            dv = -(X - cx) * np.sin(ang) + (Y - cy) * np.cos(ang)
            band = np.exp(-((du / length) ** 4) - (dv / thick) ** 2)
            return 0.32 * gain * band * L.lung[side]  # aerated lung only: visible
        cx, cy = _point_in_lung(an, side, (x0, y0, x1, y1), u1, u2)
        if f.name == "Lung nodule or mass":
            r = ((0.13, 0.17, 0.22) if f.kind == "mass" else (0.05, 0.065, 0.08))[sev] * size
            edge = 0.2 * r * smooth_noise(rng, X.shape, 60) if f.kind == "mass" else 0.0
            blob = soft(r + edge - np.hypot(X - cx, Y - cy), 0.01 + 0.05 * r)
            return 0.3 * gain * blob * (0.6 + 0.4 * lung)
        # Consolidation: patchy airspace opacity with air bronchograms.
        r = (0.14, 0.2, 0.27)[sev] * size
        patch = soft(
            0.6 + 0.35 * smooth_noise(rng, X.shape, 30) - np.hypot((X - cx) / r, (Y - cy) / (1.2 * r)), 0.1
        )
        bronchi = np.clip(1.0 - np.abs(smooth_noise(rng, X.shape, 25)) * 6.0, 0.0, 1.0)
        return 0.3 * gain * patch * L.lung[side] * (1.0 - 0.5 * bronchi)
    if f.name == "Pneumothorax":
        depth = (0.05, 0.1, 0.18)[sev] * (0.85 + 0.3 * u1) * size
        collapsed = _shrunken_lung(an, X, Y, side, depth)
        cut = an.apex[side] + (an.costophrenic[side] - an.apex[side]) * (0.55, 0.7, 0.9)[sev]
        space = np.clip(lung - collapsed, 0.0, 1.0) * soft(cut - Y, 0.05)
        # The visceral pleural line: the edge of the collapsed lung where air (not the
        # mediastinum) lies beyond it.
        line = 4.0 * collapsed * (1.0 - collapsed) * np.clip(2.0 * lung - 1.0, 0.0, 1.0) * soft(cut - Y, 0.05)
        # No vessel markings and less density in the air space; a thin bright visceral pleural line.
        return gain * (-space * (L.markings + 0.2) + 0.4 * line)
    if f.name == "Support devices":
        pts = _device_paths(an, f)
        dens = np.zeros_like(X)
        for p in pts:
            d = _polyline_dist(an, X, Y, p, reach=0.03)
            dens = np.maximum(dens, 0.8 * soft(0.016 - d, 0.004))
        if f.kind == "pacemaker":
            gx, gy = 0.55 + (u1 - 0.5) * 0.06, an.apex[1] + 0.3
            box = soft(0.1 - np.abs(X - gx), 0.008) * soft(0.07 - np.abs(Y - gy), 0.008)
            dens = np.maximum(dens, 0.9 * box)
        return dens  # metal: not scaled by subtlety
    raise ValueError(f"no renderer for finding {f.name!r}")


def _lung_zone_frame(an: Anatomy, side: int, zone: int) -> tuple[float, float, float, float]:
    sign = 1.0 if side else -1.0
    top, bottom = an.apex[side], an.costophrenic[side] - an.dome_height[side] * 0.5
    third = (bottom - top) / 3.0
    c, hw = sign * an.lung_center, an.lung_halfwidth
    return c - hw, top + zone * third, c + hw, top + (zone + 1) * third


def _point_in_lung(
    an: Anatomy, side: int, zone: tuple[float, float, float, float], u1: float, u2: float
) -> tuple[float, float]:
    """A point of the zone well inside the aerated lung (deterministic in u1, u2)."""
    x0, y0, x1, y1 = zone
    gx, gy = np.meshgrid(np.linspace(x0, x1, 24), np.linspace(y0, y1, 24))
    heart = an.heart_mask(gx, gy)
    ok = (an.lung_mask(gx, gy, side, edge=0.005) > 0.5) & (heart < 0.1)
    # Stay away from the lung edge: erode the candidate set once in each direction.
    inner = ok.copy()
    inner[1:-1, 1:-1] &= ok[:-2, 1:-1] & ok[2:, 1:-1] & ok[1:-1, :-2] & ok[1:-1, 2:]
    cand = np.argwhere(inner if inner.any() else ok)
    if len(cand) == 0:  # zone entirely behind the heart: fall back to the lung centre
        return (1.0 if side else -1.0) * an.lung_center, 0.5 * (y0 + y1)
    i, k = cand[int(u1 * len(cand)) % len(cand)]
    return float(gx[i, k] + (u2 - 0.5) * (x1 - x0) / 24), float(gy[i, k])


def _shrunken_lung(an: Anatomy, X: np.ndarray, Y: np.ndarray, side: int, depth: float) -> np.ndarray:
    """The collapsed lung of a pneumothorax: the lung mask pulled in by ``depth`` from the apex
    and the lateral chest wall; the medial (mediastinal) border stays where it is."""
    sign = 1.0 if side else -1.0
    offset = sign * X - an.lung_center  # > 0 on the lateral half of the lung
    hw_lateral = np.clip(an.lung_halfwidth_at(Y - depth, side) - depth, 0.0, None)
    hw = np.where(offset > 0, hw_lateral, an.lung_halfwidth_at(Y - depth, side))
    inside = soft(hw - np.abs(offset), 0.006)
    inside *= soft(Y - an.apex[side] - depth, 0.006)
    inside *= soft(an.dome(X, side) - Y, 0.006)
    inside *= soft(sign * X - 0.09, 0.006)
    return inside


@dataclass
class Rendering:
    """Render-grid result: grey image in [0, 1] (H, W), anatomy layers and finding masks."""

    grey: np.ndarray
    layers: Layers
    masks: list[np.ndarray]  # |added density| per finding, same order as the findings


def finding_gain(cfg: SynthConfig, f: Finding) -> float:
    return cfg.findings.contrast * (cfg.findings.subtle_contrast if f.subtle else 1.0)


def render_frontal(an: Anatomy, findings: list[Finding], texture_seed: int, cfg: SynthConfig) -> Rendering:
    """Render the anatomy with its findings. The same ``texture_seed`` gives the same textures,
    so rendering with and without findings differs only by the findings themselves."""
    rng = np.random.default_rng(texture_seed)
    size = cfg.findings.size
    L = anatomy_layers(an, rng, heart_axes_for(an, findings, size))
    D = base_density(an, L)
    masks = []
    for f in findings:
        add = _finding_density(
            an, L, f, np.random.default_rng([texture_seed, len(masks)]), finding_gain(cfg, f), size
        )
        if f.name == "Enlarged cardiac silhouette":
            masks.append(L.heart)  # the box of an enlarged heart is the whole silhouette
            continue
        D += add
        masks.append(np.abs(add))
    return Rendering(density_to_grey(an, D).astype(np.float32), L, masks)


def mask_box(mask: np.ndarray, rel: float = 0.3) -> Box | None:
    """Bounding box (render pixels) of the pixels above ``rel`` of the mask maximum."""
    peak = float(mask.max())
    if peak <= 0:
        return None
    ys, xs = np.nonzero(mask >= rel * peak)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
