"""The per-reading index of a dataset root, built once and cached on disk.

One row per *reading* (:class:`gazecxr.data.rows.ReadingRow`): a REFLACX reading or an EyeGaze
image. The layout is detected by :mod:`gazecxr.data.layout`; each source has its own reader
(:mod:`gazecxr.data.mimic_eye`, :mod:`gazecxr.data.reflacx`, :mod:`gazecxr.data.eyegaze`, with the
MIMIC-CXR-JPG tables in :mod:`gazecxr.data.cxr_jpg`), and :mod:`gazecxr.data.index_cache` keeps
the result on disk.

Fixations of all readings are parsed once into one float32 array (:mod:`gazecxr.gaze.fixations`)
stored next to the index, so the ``Dataset`` never parses a CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazecxr.data import eyegaze, index_cache, mimic_eye, reflacx
from gazecxr.data import labels as label_table
from gazecxr.data.config import DataConfig
from gazecxr.data.layout import DatasetRootError, Layout, detect_layout
from gazecxr.data.rows import ROW_COLUMNS, IndexBuilder
from gazecxr.data.tables import Problem, ProblemLog
from gazecxr.gaze import fixations as fx
from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.trust import trust_weight

__all__ = ["ROW_COLUMNS", "DatasetIndex", "DatasetRootError", "build_index", "chest_region"]

# layout name -> reader filling an IndexBuilder
READERS: dict[str, Callable[[IndexBuilder, Layout], None]] = {
    "mimic-eye": mimic_eye.read_tree,
    "reflacx": reflacx.read_release,
    "egd": eyegaze.read_release,
}


@dataclass
class DatasetIndex:
    """Readings of one dataset root.

    Attributes:
        readings: one row per reading, not to be modified in place (:data:`ROW_COLUMNS` + label columns ``lab:<finding>``,
            ``chx:<CheXpert column>``, ``egd:<class>`` with 1 / 0 / NaN = unknown), plus the
            gaze-dependent columns ``fix_used`` and ``trust`` (from the ``GazeConfig`` given).
            The integer position of a row in this frame is its ``row`` (column of that name).
        fixations: (total, 10) float32, all readings' fixations; rows
            ``fix_offset : fix_offset + fix_count`` belong to a reading.
        extras: per row: ``ellipses`` (list of {box (xyxy px), labels, certainty}),
            ``anatomy_boxes`` ({name: xyxy px}), ``chest_box`` (xyxy px or None), ``text``
            (transcript), ``words`` ([word, start s, end s]), ``report`` ({section: text}).
        problems: everything found wrong, with paths relative to ``root`` and a count each.
        placement: which layout placement was found (e.g. REFLACX metadata inside ``main_data/``).
    """

    root: Path
    layout: str
    readings: pd.DataFrame
    fixations: np.ndarray
    extras: list[dict[str, Any]]
    problems: list[Problem]
    placement: str = ""  # what the layout detection found (gazecxr.data.layout.Layout.placement)
    from_cache: bool = False
    cache_path: Path | None = None

    @cached_property
    def _geometry(self) -> dict[str, np.ndarray]:
        """Per-row numeric columns as arrays (row access through pandas costs ~0.3 ms each)."""
        cols = (
            "fix_offset",
            "fix_count",
            "height",
            "width",
            "display_scale_x",
            "display_scale_y",
            "first_word_time",
            "source",
        )
        return {c: self.readings[c].to_numpy() for c in cols}

    def reading_fixations(self, row: int) -> np.ndarray:
        """(N, 10) raw fixations of the reading at position ``row``."""
        g = self._geometry
        start = int(g["fix_offset"][row])
        return self.fixations[start : start + int(g["fix_count"][row])]

    def gaze_config(self, row: int, gaze_cfg: GazeConfig) -> GazeConfig:
        """``gaze_cfg`` with the heatmap recipe of the reading's source (``gaze.reference``)."""
        return gaze_cfg.for_source(str(self._geometry["source"][row]))

    def selected_fixations(self, row: int, gaze_cfg: GazeConfig) -> tuple[np.ndarray, fx.SelectionStats]:
        """(M, 10) fixations of the reading at position ``row`` after the policy of its source's
        recipe (:meth:`gaze_config`: phase, off-image / off-crop), with the EyeGaze angular
        resolution filled in from the display geometry (``gaze.eyegaze_screen_px_per_deg``)."""
        gaze_cfg = self.gaze_config(row, gaze_cfg)
        g = self._geometry
        raw = self.reading_fixations(row)
        sx, sy = float(g["display_scale_x"][row]), float(g["display_scale_y"][row])
        if raw.shape[0] and np.isfinite(sx) and gaze_cfg.eyegaze_screen_px_per_deg is not None:
            raw = fx.with_angular_resolution(raw, (sx, sy), gaze_cfg.eyegaze_screen_px_per_deg)
        fwt = float(g["first_word_time"][row])
        return fx.select_fixations(
            raw, (int(g["height"][row]), int(g["width"][row])), gaze_cfg, None if np.isnan(fwt) else fwt
        )

    def add_gaze_columns(self, gaze_cfg: GazeConfig) -> None:
        """Set ``fix_used`` (fixations kept by the gaze policy) and ``trust`` of every row."""
        used, trust = np.zeros(len(self.readings), dtype=np.int64), np.zeros(len(self.readings))
        for i in np.flatnonzero(self.readings["fix_count"].to_numpy() > 0):
            sel, st = self.selected_fixations(int(i), gaze_cfg)
            extra = self.extras[i]
            used[i] = st.used
            trust[i] = trust_weight(
                sel, chest_region(extra), [e["certainty"] for e in extra["ellipses"]], gaze_cfg
            )
        self.readings["fix_used"] = used
        self.readings["trust"] = trust

    def gaze_clock(self) -> dict[str, Any]:
        """The EyeGaze gaze clock found (:mod:`gazecxr.gaze.clock`): ``clock`` (``session``,
        ``per-image``, ``mixed`` across folders, or ``none`` without EyeGaze gaze), images per
        clock, images per onset source, and images whose times were shifted."""
        df = self.readings[self.readings["gaze_clock"] != ""]
        per_clock = {str(k): int(v) for k, v in df["gaze_clock"].value_counts().sort_index().items()}
        return {
            "clock": "none" if not per_clock else next(iter(per_clock)) if len(per_clock) == 1 else "mixed",
            "images": per_clock,
            "onset_source": {
                str(k): int(v) for k, v in df["onset_source"].value_counts().sort_index().items()
            },
            "images_rebased": int((df["clock_shift"] != 0).sum()),
        }

    def stats(self) -> dict[str, int]:
        """Counts reported by ``gazecxr data check`` (see docs/data.md)."""
        df = self.readings
        reflacx_rows = df[df["source"] == "reflacx"]
        eyegaze_rows = df[df["source"] == "eyegaze"]
        gaze_rows = df[df["fix_count"] > 0]
        sizes = np.repeat(
            df[["height", "width"]].to_numpy(dtype=np.float64), df["fix_count"].to_numpy(), axis=0
        )
        arr, c = self.fixations, fx.COL
        x, y = arr[:, c["x"]], arr[:, c["y"]]
        outside = (x < 0) | (y < 0) | (x >= sizes[:, 1]) | (y >= sizes[:, 0])  # as fx.outside_masks
        out_crop = ~outside & (
            (x < arr[:, c["crop_x0"]])
            | (x >= arr[:, c["crop_x1"]])
            | (y < arr[:, c["crop_y0"]])
            | (y >= arr[:, c["crop_y1"]])
        )
        return {
            "patients": int(df["subject_id"].nunique()),
            "images": int(df["dicom_id"].nunique()),
            "readings": len(df),
            "reflacx_readings": len(reflacx_rows),
            "reflacx_readings_discarded": int(reflacx_rows["discarded"].sum()),
            "reflacx_readings_with_fixations": int((reflacx_rows["fix_count"] > 0).sum()),
            "eyegaze_images": int(eyegaze_rows["dicom_id"].nunique()),
            "eyegaze_images_with_fixations": int(
                eyegaze_rows.loc[eyegaze_rows["fix_count"] > 0, "dicom_id"].nunique()
            ),
            "images_with_fixations": int(gaze_rows["dicom_id"].nunique()),
            "fixations_total": int(self.fixations.shape[0]),
            "fixations_dropped_invalid": int(df["fix_dropped"].sum()),
            "fixations_outside_image": int(outside.sum()),
            "fixations_outside_crop": int((out_crop & ~outside).sum()),
            "calibration_rows": sum(p.count for p in self.problems if p.kind == eyegaze.CALIBRATION),
            "problems": len(self.problems),
        }


def chest_region(extra: dict[str, Any]) -> list[float] | None:
    """Chest box of a reading: REFLACX chest box, else the extent of the anatomy boxes, else None."""
    if extra.get("chest_box"):
        return list(extra["chest_box"])
    boxes = list(extra.get("anatomy_boxes", {}).values())
    if not boxes:
        return None
    arr = np.asarray(boxes, dtype=np.float64)
    return [float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())]


def build_index(
    root: str | Path,
    cfg: DataConfig | None = None,
    gaze_cfg: GazeConfig | None = None,
    use_cache: bool = True,
) -> DatasetIndex:
    """Index of every reading under ``root`` (cached; rebuilt when any file changes).

    Args:
        root: dataset root of any supported layout.
        cfg: reading options (layout, sources, certainty threshold, cache dir); defaults if None.
        gaze_cfg: policy for the gaze-dependent columns ``fix_used`` and ``trust``.
        use_cache: read / write the on-disk cache.
    Raises:
        DatasetRootError: ``root`` is not a dataset root (one-line message).
    """
    try:
        root = Path(root).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise DatasetRootError(f"{root}: cannot be opened ({exc})") from None
    cfg = cfg or DataConfig()
    gaze_cfg = gaze_cfg or GazeConfig()
    layout = detect_layout(root)
    if cfg.layout not in ("auto", layout.name):
        raise DatasetRootError(
            f"{root}: data.layout is {cfg.layout!r} but the tree looks like {layout.name!r}"
        )
    root = layout.root  # REFLACX main_data/ given as ROOT: the release root above it
    folder = index_cache.cache_dir_for(root, cfg)
    key = index_cache.cache_key(layout, cfg) if use_cache else ""
    cached = index_cache.load(folder, key) if use_cache else None
    from_cache = cached is not None
    if cached is None:
        b = IndexBuilder(root, cfg, ProblemLog(root))
        READERS[layout.name](b, layout)
        b.attach_anatomy()
        label_cols = [
            label_table.FAMILY_PREFIX[f] + n for f, names in label_table.FAMILY_LABELS.items() for n in names
        ]
        cached = index_cache.CachedIndex(
            pd.DataFrame([r.as_record() for r in b.rows], columns=[*ROW_COLUMNS, *label_cols]),
            np.concatenate(b.fix_chunks) if b.fix_chunks else fx.empty(),
            [e.as_dict() for e in b.extras],
            b.problems.items,
        )
        if use_cache:
            index_cache.save(folder, key, cached)
    df = cached.rows
    df = df.astype(
        {
            "height": np.int64,
            "width": np.int64,
            "phase": np.int64,
            "fix_offset": np.int64,
            "fix_count": np.int64,
            "fix_dropped": np.int64,
            "discarded": bool,
            "first_word_time": np.float64,
            "display_scale_x": np.float64,
            "display_scale_y": np.float64,
            "gaze_onset": np.float64,
            "clock_shift": np.float64,
        }
    )
    for col in ("subject_id", "study_id", "dicom_id", "reading_id"):
        df[col] = df[col].astype(str)
    df["row"] = np.arange(len(df))
    index = DatasetIndex(
        root,
        layout.name,
        df,
        cached.fixations,
        cached.extras,
        cached.problems,
        layout.placement,
        from_cache,
        folder if use_cache else None,
    )
    index.add_gaze_columns(gaze_cfg)
    return index
