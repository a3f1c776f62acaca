"""Fixation arrays: one float32 ``(N, 10)`` array per reading, columns :data:`FIX_COLUMNS`.

Both sources are brought to this form when the index is built (``gazecxr.data.index``) and cached,
so a training step never parses a CSV:

- REFLACX ``fixations.csv``: positions are already original-image pixels; angular resolution
  (image pixels per degree) and the shown crop come from their columns.
- EyeGaze ``fixations.csv``: positions are fractions of the 1920 x 1080 screen; they are mapped
  to image pixels with the master-sheet pads (``X = W / (1920 - L - R) * (FPOGX * 1920 - L)``,
  same for Y with T, B); invalid rows (``FPOGV != 1``) are dropped and counted; the whole image
  is the crop. The angular resolution is not recorded (NaN in the array); the index keeps the
  display scale (image pixels per screen pixel) and :func:`with_angular_resolution` turns it into
  image pixels per degree with ``GazeConfig.eyegaze_screen_px_per_deg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.heatmap import fixation_heatmap

FIX_COLUMNS: tuple[str, ...] = (
    "x",
    "y",  # original-image pixels
    "t_start",
    "t_end",  # seconds on the dictation clock
    "angres_x",
    "angres_y",  # image pixels per degree of visual angle (NaN: unknown)
    "crop_x0",
    "crop_y0",
    "crop_x1",
    "crop_y1",  # shown region [x0, x1) x [y0, y1), image pixels
)
N_COLS = len(FIX_COLUMNS)
COL = {name: i for i, name in enumerate(FIX_COLUMNS)}  # column index by name
X, Y, T_START, T_END = (COL[c] for c in ("x", "y", "t_start", "t_end"))
ANGRES = slice(COL["angres_x"], COL["angres_y"] + 1)  # (x, y) image pixels per degree
CROP = slice(COL["crop_x0"], COL["crop_y1"] + 1)  # (x0, y0, x1, y1) shown region
EYEGAZE_SCREEN = (1920, 1080)

REFLACX_FIXATION_COLUMNS = (
    "timestamp_start_fixation",
    "timestamp_end_fixation",
    "x_position",
    "y_position",
    "angular_resolution_x_pixels_per_degree",
    "angular_resolution_y_pixels_per_degree",
    "xmin_shown_from_image",
    "ymin_shown_from_image",
    "xmax_shown_from_image",
    "ymax_shown_from_image",
)
EYEGAZE_FIXATION_COLUMNS = ("DICOM_ID", "FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGV")


def empty() -> np.ndarray:
    return np.zeros((0, N_COLS), dtype=np.float32)


class Columns(Protocol):
    """A table with named numeric columns (``gazecxr.data.tables.Table``)."""

    columns: list[str]

    def num(self, name: str) -> np.ndarray: ...


def reflacx_fixations(table: Columns) -> tuple[np.ndarray, dict[str, int]]:
    """REFLACX ``fixations.csv`` rows -> (fixations (N, 10), rows dropped by reason).

    Reasons: ``no_position`` (empty, NaN or infinite ``x_position`` / ``y_position``) and
    ``bad_time`` (a start or end time that is not a finite number: neither a weight nor a phase
    can be given, and a sequence encoder would meet a NaN). Zero counts are left out. Missing
    columns raise ``KeyError`` naming them (the caller reports it with the file path).
    """
    missing = [c for c in REFLACX_FIXATION_COLUMNS if c not in table.columns]
    if missing:
        raise KeyError(f"missing columns {missing}")
    arr = np.stack([table.num(c) for c in REFLACX_FIXATION_COLUMNS], axis=1).reshape(-1, N_COLS)
    # Column order of REFLACX_FIXATION_COLUMNS is t_start, t_end, x, y, ...: reorder to FIX_COLUMNS.
    arr = arr[:, [2, 3, 0, 1, 4, 5, 6, 7, 8, 9]]
    has_pos = np.isfinite(arr[:, X]) & np.isfinite(arr[:, Y])
    has_time = np.isfinite(arr[:, T_START]) & np.isfinite(arr[:, T_END])
    dropped = {"no_position": int((~has_pos).sum()), "bad_time": int((has_pos & ~has_time).sum())}
    return arr[has_pos & has_time].astype(np.float32), {k: v for k, v in dropped.items() if v}


def eyegaze_fixations(
    table: Columns, image_size: tuple[int, int], pads: tuple[float, float, float, float]
) -> tuple[np.ndarray, dict[str, int]]:
    """EyeGaze fixation rows of one image -> (fixations (N, 10) in time order, rows dropped by reason).

    Reasons: ``invalid`` (``FPOGV != 1``, the tracker's own flag), ``no_position`` (NaN
    ``FPOGX``/``FPOGY``), ``bad_time`` (NaN ``FPOGS`` or ``FPOGD`` of a valid fixation: no weight
    can be given). Zero counts are left out.

    Args:
        table: rows of ``fixations.csv`` for this image.
        image_size: (height, width) of the original image.
        pads: master-sheet (top, bottom, left, right) pads in screen pixels.
    """
    missing = [c for c in EYEGAZE_FIXATION_COLUMNS if c not in table.columns]
    if missing:
        raise KeyError(f"missing columns {missing}")
    height, width = image_size
    top, bottom, left, right = pads
    sw, sh = EYEGAZE_SCREEN
    fx, fy = table.num("FPOGX"), table.num("FPOGY")
    start, dur, valid = table.num("FPOGS"), table.num("FPOGD"), table.num("FPOGV")
    x = width / (sw - left - right) * (fx * sw - left)
    y = height / (sh - top - bottom) * (fy * sh - top)
    is_valid = valid == 1
    has_pos = np.isfinite(x) & np.isfinite(y)
    has_time = np.isfinite(start) & np.isfinite(dur)
    keep = is_valid & has_pos & has_time
    dropped = {
        "invalid": int((~is_valid).sum()),
        "no_position": int((is_valid & ~has_pos).sum()),
        "bad_time": int((is_valid & has_pos & ~has_time).sum()),
    }
    n = int(keep.sum())
    arr = np.empty((n, N_COLS), dtype=np.float64)
    arr[:, COL["x"]], arr[:, COL["y"]] = x[keep], y[keep]
    arr[:, COL["t_start"]], arr[:, COL["t_end"]] = start[keep], start[keep] + dur[keep]
    arr[:, [COL["angres_x"], COL["angres_y"]]] = np.nan
    arr[:, COL["crop_x0"] : COL["crop_y1"] + 1] = (0.0, 0.0, float(width), float(height))
    order = np.argsort(arr[:, COL["t_start"]], kind="stable")
    return arr[order].astype(np.float32), {k: v for k, v in dropped.items() if v}


def timing_problems(starts: np.ndarray, ends: np.ndarray) -> dict[str, int]:
    """Counts of timed events (fixations, words) whose times would move a heatmap weight or the
    silent / reporting split: ``nan_timestamp``, ``negative_timestamp``, ``end_before_start``,
    ``decreasing_timestamp`` (a start earlier than the previous one). Zero counts are left out."""
    t0, t1 = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        timed = np.isfinite(t0) & np.isfinite(t1)
        counts = {
            "nan_timestamp": int((~timed).sum()),
            "negative_timestamp": int((np.isfinite(t0) & (t0 < 0)).sum()),
            "end_before_start": int((timed & (t1 < t0)).sum()),
            "decreasing_timestamp": int((np.diff(t0[np.isfinite(t0)]) < 0).sum()),
        }
    return {k: n for k, n in counts.items() if n}


_FIXATION_TIMING_EFFECT = {
    "nan_timestamp": "fixation(s) with a missing (NaN) start or end time get no weight in the heatmap",
    "negative_timestamp": "fixation(s) start before time 0 (kept; they fall in the silent phase)",
    "end_before_start": "fixation(s) end before they start; they get zero weight in the heatmap",
    "decreasing_timestamp": "fixation start(s) earlier than the previous fixation's (kept in file order)",
}


def value_problems(fix: np.ndarray, angular_resolution: bool) -> list[tuple[str, int, str]]:
    """Values of parsed fixations that would change a heatmap or a phase split, as
    ``(kind, count, what happens)``; empty when all is well. Nothing is changed here.

    Checked: the times (:func:`timing_problems`), and, when ``angular_resolution`` (REFLACX),
    unknown or non-positive pixels per degree (sigma falls back to the recipe's ``sigma_px``) and crop
    bounds that are unknown (taken as the image edge) or empty (the fixation adds nothing).
    """
    timing = timing_problems(fix[:, T_START], fix[:, T_END])
    out = [(kind, n, _FIXATION_TIMING_EFFECT[kind]) for kind, n in timing.items()]

    def check(kind: str, mask: np.ndarray, effect: str) -> None:
        if (n := int(mask.sum())) > 0:
            out.append((kind, n, effect))

    with np.errstate(invalid="ignore"):
        if angular_resolution:
            ang = fix[:, ANGRES].astype(np.float64)
            check(
                "bad_angular_resolution",
                ~(np.isfinite(ang) & (ang > 0)).all(axis=1),
                "fixation(s) with unknown or non-positive pixels per degree: sigma falls back to the recipe's sigma_px",
            )
            crop = fix[:, CROP].astype(np.float64)
            check(
                "bad_crop",
                ~np.isfinite(crop).all(axis=1),
                "fixation(s) with an unknown crop bound: taken as the image edge",
            )
            empty = np.isfinite(crop).all(axis=1) & ((crop[:, 2] <= crop[:, 0]) | (crop[:, 3] <= crop[:, 1]))
            check(
                "empty_crop", empty, "fixation(s) whose crop shown is empty: they add nothing to the heatmap"
            )
    return out


RAW_GAZE_COLUMNS = ("timestamp_sample", "x_position", "y_position")


def raw_gaze_samples(table: Columns) -> tuple[np.ndarray, int]:
    """REFLACX ``gaze.csv`` -> ((M, 3) float64 [t, x, y] samples, blink rows dropped).

    Blink samples have empty position fields; they are not gaze and are counted, not guessed.
    """
    missing = [c for c in RAW_GAZE_COLUMNS if c not in table.columns]
    if missing:
        raise KeyError(f"missing columns {missing}")
    arr = np.stack([table.num(c) for c in RAW_GAZE_COLUMNS], axis=1).reshape(-1, 3)
    keep = np.isfinite(arr).all(axis=1)
    return arr[keep], int((~keep).sum())


def display_scale(
    image_size: tuple[int, int], pads: tuple[float, float, float, float]
) -> tuple[float, float]:
    """EyeGaze image pixels per screen pixel (x, y) for master-sheet pads (top, bottom, left, right)."""
    height, width = image_size
    top, bottom, left, right = pads
    return width / (EYEGAZE_SCREEN[0] - left - right), height / (EYEGAZE_SCREEN[1] - top - bottom)


def with_angular_resolution(
    fix: np.ndarray, scale: tuple[float, float], screen_px_per_deg: float
) -> np.ndarray:
    """Copy of ``fix`` whose unknown (NaN) angular resolution is ``scale * screen_px_per_deg``
    image pixels per degree (EyeGaze: the screen's pixels per degree times the display scale)."""
    out = fix.copy()
    for col, s in ((COL["angres_x"], scale[0]), (COL["angres_y"], scale[1])):
        unknown = ~np.isfinite(out[:, col])
        out[unknown, col] = s * screen_px_per_deg
    return out


@dataclass(frozen=True)
class SelectionStats:
    """Counts of one reading's fixation selection."""

    total: int  # fixations in the file (after parsing)
    phase_excluded: int  # outside the configured silent / reporting phase
    outside_image: int  # centre outside the image (kept, clipped or dropped per GazeConfig.outside)
    outside_crop: int  # inside the image but outside the crop shown at that moment
    used: int  # fixations in the returned array


def outside_masks(fix: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(outside image, inside image but outside the shown crop) boolean masks, each (N,).

    Inside the image means ``0 <= x < W`` and ``0 <= y < H``; inside the crop
    ``xmin <= x < xmax`` and ``ymin <= y < ymax`` (NaN crop bounds never exclude).
    """
    height, width = image_size
    x, y = fix[:, X], fix[:, Y]
    out_img = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    out_crop = ~out_img & (
        (x < fix[:, COL["crop_x0"]])
        | (x >= fix[:, COL["crop_x1"]])
        | (y < fix[:, COL["crop_y0"]])
        | (y >= fix[:, COL["crop_y1"]])
    )
    return out_img, out_crop


def select_fixations(
    fix: np.ndarray, image_size: tuple[int, int], cfg: GazeConfig, first_word_time: float | None
) -> tuple[np.ndarray, SelectionStats]:
    """Apply the phase and off-image / off-crop policy of ``cfg`` to one reading.

    Args:
        fix: (N, 10) fixations of the reading (:data:`FIX_COLUMNS`).
        image_size: (height, width) of the original image.
        first_word_time: start of the first dictated word (s); fixations starting before it form
            the silent phase. ``None`` (no transcript) puts every fixation in the silent phase.
    Returns:
        (selected fixations (M, 10) float32, counts). ``outside="keep"`` (the REFLACX reference)
        leaves off-image / off-crop fixations as they are: their density's part inside the crop
        still counts in the heatmap. ``"drop"`` removes them; ``"clip"`` clamps positions to the
        first / last pixel inside the image and, when ``use_crop``, the crop.
    """
    total = fix.shape[0]
    if cfg.phase != "all":
        silent = fix[:, T_START] < (np.inf if first_word_time is None else first_word_time)
        fix = fix[silent] if cfg.phase == "silent" else fix[~silent]
    phase_excluded = total - fix.shape[0]
    out_img, out_crop = outside_masks(fix, image_size)
    n_img, n_crop = int(out_img.sum()), int(out_crop.sum())
    if cfg.outside == "drop":
        bad = out_img | (out_crop if cfg.use_crop else False)
        fix = fix[~bad]
    elif cfg.outside == "clip":
        fix = fix.copy()
        height, width = image_size
        lo_x, lo_y = np.zeros(len(fix)), np.zeros(len(fix))
        hi_x, hi_y = np.full(len(fix), float(width)), np.full(len(fix), float(height))
        if cfg.use_crop:
            crop = fix[:, CROP].astype(np.float64)
            lo_x, lo_y = np.fmax(lo_x, crop[:, 0]), np.fmax(lo_y, crop[:, 1])  # fmax/fmin: NaN bound ignored
            hi_x, hi_y = np.fmin(hi_x, crop[:, 2]), np.fmin(hi_y, crop[:, 3])
        hi_x, hi_y = hi_x - 1.0, hi_y - 1.0  # exclusive bound -> last pixel inside
        fix[:, X] = np.clip(fix[:, X], lo_x, np.maximum(lo_x, hi_x))
        fix[:, Y] = np.clip(fix[:, Y], lo_y, np.maximum(lo_y, hi_y))
    return fix.astype(np.float32, copy=False), SelectionStats(
        total, phase_excluded, n_img, n_crop, fix.shape[0]
    )


def fixation_weights(fix: np.ndarray, cfg: GazeConfig) -> np.ndarray:
    """(N,) heatmap weights: durations in s (negative -> 0) or ones."""
    if cfg.weights == "uniform":
        return np.ones(fix.shape[0])
    return np.clip(fix[:, T_END].astype(np.float64) - fix[:, T_START], 0.0, None)


def fixation_sigmas(fix: np.ndarray, cfg: GazeConfig) -> np.ndarray:
    """(N, 2) Gaussian sigma (x, y) in image pixels: ``sigma_deg`` x angular resolution where
    known, ``sigma_px`` otherwise."""
    sig = np.full((fix.shape[0], 2), float(cfg.sigma_px))
    if cfg.sigma_deg is not None:
        angres = fix[:, ANGRES].astype(np.float64)
        known = np.isfinite(angres) & (angres > 0)
        sig[known] = cfg.sigma_deg * angres[known]
    return sig


def padded_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) rounded up to even: the array EGD's ``process_eye_gaze_table`` draws on
    (it appends one zero row / column to an odd side before mapping gaze and blurring)."""
    return image_size[0] + image_size[0] % 2, image_size[1] + image_size[1] % 2


def heatmap_positions(
    fix: np.ndarray, cfg: GazeConfig, image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(x (N,), y (N,), crop (N, 4) or None) of the fixations' densities in the continuous pixel
    frame of :func:`gazecxr.gaze.heatmap.fixation_heatmap` (pixel ``i`` covers ``[i, i + 1)``).

    ``cfg.positions``: ``continuous``, as stored; ``reflacx`` (``generate_heatmaps.py`` samples
    the density of pixel ``i`` at coordinate ``i`` and slices the crop at ``round()``-ed bounds):
    position + 0.5, crop bounds rounded half to even as Python's ``round`` does; ``egd``
    (``process_eye_gaze_table`` maps the screen position onto the image padded to even sides and
    adds the fixation to the integer pixel ``int(...)``): the centre of that pixel of the padded
    image (an odd side's positions stretch by ``(n + 1) / n``).
    """
    x, y = fix[:, X].astype(np.float64), fix[:, Y].astype(np.float64)
    crop = fix[:, CROP].astype(np.float64) if cfg.use_crop and fix.shape[0] else None
    if cfg.positions == "reflacx":
        x, y = x + 0.5, y + 0.5
        crop = None if crop is None else np.round(crop)
    elif cfg.positions == "egd":
        (height, width), (ph, pw) = image_size, padded_size(image_size)
        x, y = np.floor(x * (pw / width)) + 0.5, np.floor(y * (ph / height)) + 0.5
    return x, y, crop


def reading_heatmap(
    fix: np.ndarray, image_size: tuple[int, int], out_size: tuple[int, int], cfg: GazeConfig
) -> np.ndarray:
    """Heatmap (h, w) float32 summing to 1 (or zeros) of already selected fixations, made by the
    recipe fields of ``cfg`` (resolve a source's preset first: :meth:`GazeConfig.for_source`)."""
    x, y, crop = heatmap_positions(fix, cfg, image_size)
    reflect = {"zero": None, "reflect": image_size, "egd": padded_size(image_size)}[cfg.border]
    return fixation_heatmap(
        x,
        y,
        fixation_weights(fix, cfg),
        image_size,
        out_size,
        fixation_sigmas(fix, cfg),
        crop=crop,
        reflect=reflect,
    )
