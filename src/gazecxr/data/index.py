"""The per-reading index of a dataset root, built once and cached on disk.

One row per *reading*: a REFLACX reading (``id`` of ``metadata.csv``; up to five per image) or an
EyeGaze image (one radiologist). Three layouts are read (``DataConfig.layout``, "auto" detects):

- ``mimic-eye``: ``ROOT/patient_*/{CXR-JPG,CXR-DICOM,REFLACX,EyeGaze}`` (per-patient tables);
- ``reflacx``: stand-alone REFLACX (``main_data/``, ``gaze_data/``, ``metadata_phase_*.csv``);
- ``egd``: stand-alone EGD-CXR (``master_sheet.csv``, ``fixations.csv``, ``bounding_boxes.csv``,
  ``audio_segmentation_transcripts/``);

the latter two next to MIMIC-CXR-JPG (``files/p*/p*/s*/*.jpg`` + chexpert / split / metadata
CSVs; found in ROOT, a sub-folder, a sibling folder, or ``DataConfig.cxr_root``).

Fixations of all readings are parsed once into one float32 array (:mod:`gazecxr.gaze.fixations`)
stored next to the index, so the ``Dataset`` never parses a CSV. The cache is keyed by the index
format version, the reading options and a fingerprint (path, size, mtime) of every file under
ROOT: any change to the tree rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazecxr.data import labels as L
from gazecxr.data.config import DataConfig
from gazecxr.data.images import ImageReadError, image_size
from gazecxr.data.reports import parse_report
from gazecxr.data.tables import Problem, ProblemLog, Table, read_table
from gazecxr.gaze import fixations as F
from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.trust import trust_weight

log = logging.getLogger("gazecxr.data")

INDEX_VERSION = 4
DICOM_ID_LEN = 44
REFLACX_META_REQUIRED = ("id", "dicom_id")
EYEGAZE_MASTER_REQUIRED = ("dicom_id", "study_id", "patient_id")
PAD_COLUMNS = ("image_top_pad", "image_bottom_pad", "image_left_pad", "image_right_pad")
# Columns of every row (label columns lab:*, chx:*, egd:* follow).
ROW_COLUMNS = (
    "reading_id",
    "source",
    "subject_id",
    "study_id",
    "dicom_id",
    "image_path",
    "height",
    "width",
    "view",
    "official_split",
    "phase",
    "discarded",
    "fix_offset",
    "fix_count",
    "fix_dropped",
    "first_word_time",
    "display_scale_x",
    "display_scale_y",
    "fixations_path",
    "gaze_path",
    "ellipses_path",
    "chest_box_path",
    "transcript_path",
    "report_path",
    "anatomy_path",
)


class DatasetRootError(ValueError):
    """ROOT is not a dataset root of any supported layout (message: one line, naming ROOT)."""


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
        problems: everything found wrong, with paths relative to ``root``.
    """

    root: Path
    layout: str
    readings: pd.DataFrame
    fixations: np.ndarray
    extras: list[dict[str, Any]]
    problems: list[Problem]
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
        )
        return {c: self.readings[c].to_numpy() for c in cols}

    def reading_fixations(self, row: int) -> np.ndarray:
        """(N, 10) raw fixations of the reading at position ``row``."""
        g = self._geometry
        start = int(g["fix_offset"][row])
        return self.fixations[start : start + int(g["fix_count"][row])]

    def selected_fixations(self, row: int, gaze_cfg: GazeConfig) -> tuple[np.ndarray, F.SelectionStats]:
        """(M, 10) fixations of the reading at position ``row`` after the ``gaze_cfg`` policy
        (phase, off-image / off-crop), with the EyeGaze angular resolution filled in from the
        display geometry (``gaze.eyegaze_screen_px_per_deg``)."""
        g = self._geometry
        raw = self.reading_fixations(row)
        sx, sy = float(g["display_scale_x"][row]), float(g["display_scale_y"][row])
        if raw.shape[0] and np.isfinite(sx) and gaze_cfg.eyegaze_screen_px_per_deg is not None:
            raw = F.with_angular_resolution(raw, (sx, sy), gaze_cfg.eyegaze_screen_px_per_deg)
        fwt = float(g["first_word_time"][row])
        return F.select_fixations(
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

    def stats(self) -> dict[str, int]:
        """Counts reported by ``gazecxr data check`` (see docs/data.md)."""
        df = self.readings
        reflacx = df[df["source"] == "reflacx"]
        eyegaze = df[df["source"] == "eyegaze"]
        gaze_rows = df[df["fix_count"] > 0]
        sizes = np.repeat(
            df[["height", "width"]].to_numpy(dtype=np.float64), df["fix_count"].to_numpy(), axis=0
        )
        fx = self.fixations
        x, y = fx[:, 0], fx[:, 1]
        outside = (x < 0) | (y < 0) | (x >= sizes[:, 1]) | (y >= sizes[:, 0])  # as F.outside_masks
        out_crop = ~outside & ((x < fx[:, 6]) | (x >= fx[:, 8]) | (y < fx[:, 7]) | (y >= fx[:, 9]))
        return {
            "patients": int(df["subject_id"].nunique()),
            "images": int(df["dicom_id"].nunique()),
            "readings": len(df),
            "reflacx_readings": len(reflacx),
            "reflacx_readings_discarded": int(reflacx["discarded"].sum()),
            "reflacx_readings_with_fixations": int((reflacx["fix_count"] > 0).sum()),
            "eyegaze_images": int(eyegaze["dicom_id"].nunique()),
            "eyegaze_images_with_fixations": int(eyegaze.loc[eyegaze["fix_count"] > 0, "dicom_id"].nunique()),
            "images_with_fixations": int(gaze_rows["dicom_id"].nunique()),
            "fixations_total": int(self.fixations.shape[0]),
            "fixations_dropped_invalid": int(df["fix_dropped"].sum()),
            "fixations_outside_image": int(outside.sum()),
            "fixations_outside_crop": int((out_crop & ~outside).sum()),
            "problems": len(self.problems),
        }


# --------------------------------------------------------------------------- layout detection


def detect_layout(root: Path) -> str:
    """'mimic-eye', 'reflacx' or 'egd'; raises :class:`DatasetRootError` otherwise."""
    if not root.is_dir():
        raise DatasetRootError(f"{root}: not a directory")
    if any(p.is_dir() for p in root.glob("patient_*")):
        return "mimic-eye"
    if (root / "main_data").is_dir() and (
        list(root.glob("metadata_phase_*.csv")) or (root / "metadata.csv").is_file()
    ):
        return "reflacx"
    if (root / "master_sheet.csv").is_file() and (root / "fixations.csv").is_file():
        return "egd"
    raise DatasetRootError(
        f"{root}: not a dataset root (no patient_* folders [MIMIC-Eye], no main_data/ + metadata_phase_*.csv "
        "[REFLACX], no master_sheet.csv + fixations.csv [EGD-CXR])"
    )


def _id(text: str | None) -> str:
    """Normalise an integer-like id cell ('18111516', '18111516.0', ' 5e7 ' stays as is)."""
    t = (text or "").strip()
    if t.endswith(".0") and t[:-2].isdigit():
        return t[:-2]
    return t


def _float(text: str | None) -> float:
    return L.parse_value(text)


# --------------------------------------------------------------------------- MIMIC-CXR tables


@dataclass
class CxrTables:
    """MIMIC-CXR(-JPG) tables for some patients: image metadata, CheXpert labels, official split."""

    meta: dict[str, dict[str, str]] = field(default_factory=dict)  # dicom_id -> cxr_meta row
    chexpert: dict[str, dict[str, str]] = field(default_factory=dict)  # study_id -> row
    split: dict[str, str] = field(default_factory=dict)  # dicom_id -> train/validate/test
    patient_dir: Path | None = None  # MIMIC-Eye: patient_*/ ; else None (MIMIC-CXR-JPG tree)
    cxr_root: Path | None = None

    def fill(self, meta: Table | None, chexpert: Table | None, split: Table | None) -> None:
        if meta is not None:
            for rec in meta.records():
                self.meta[rec["dicom_id"].strip()] = rec
        if chexpert is not None:
            for rec in chexpert.records():
                self.chexpert[_id(rec["study_id"])] = rec
        if split is not None:
            for rec in split.records():
                self.split[rec["dicom_id"].strip()] = rec["split"].strip()

    def image_path(self, subject: str, study: str, dicom: str) -> Path:
        if self.patient_dir is not None:
            return self.patient_dir / "CXR-JPG" / f"s{study}" / f"{dicom}.jpg"
        assert self.cxr_root is not None
        return self.cxr_root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"

    def report_path(self, subject: str, study: str) -> Path:
        if self.patient_dir is not None:
            return self.patient_dir / "CXR-DICOM" / f"s{study}.txt"
        assert self.cxr_root is not None
        rel = Path(f"p{subject[:2]}") / f"p{subject}" / f"s{study}.txt"
        for base in (
            self.cxr_root / "files",
            self.cxr_root / "reports" / "files",
            self.cxr_root.parent / "files",
        ):
            if (base / rel).is_file():
                return base / rel
        return self.cxr_root / "files" / rel


def _find_csv(folder: Path, pattern: str) -> Path | None:
    hits = sorted(list(folder.glob(pattern + ".csv")) + list(folder.glob(pattern + ".csv.gz")))
    return hits[0] if hits else None


def find_cxr_root(root: Path, configured: str | None) -> Path:
    """MIMIC-CXR-JPG folder (one holding ``files/``) for the stand-alone layouts."""
    if configured:
        path = Path(configured) if Path(configured).is_absolute() else root / configured
        if not (path / "files").is_dir():
            raise DatasetRootError(f"{path}: data.cxr_root has no files/ folder (MIMIC-CXR-JPG expected)")
        return path
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    candidates += sorted(p for p in root.parent.iterdir() if p.is_dir() and p != root)
    for cand in candidates:
        if (cand / "files").is_dir():
            return cand
    raise DatasetRootError(
        f"{root}: MIMIC-CXR-JPG not found (no files/ folder in ROOT, its sub-folders or next to it); "
        "set data.cxr_root"
    )


def _read_cxr_root(cxr_root: Path, problems: ProblemLog) -> CxrTables:
    tables = CxrTables(cxr_root=cxr_root)
    parts = []
    for pattern, required in (
        ("*metadata", ("dicom_id", "study_id")),
        ("*chexpert", ("study_id",)),
        ("*split", ("dicom_id", "split")),
    ):
        path = _find_csv(cxr_root, pattern)
        if path is None:
            problems.add(cxr_root / f"{pattern}.csv", "missing_file", "MIMIC-CXR-JPG table not found")
            parts.append(None)
        else:
            parts.append(read_table(path, problems, required=required))
    tables.fill(*parts)
    return tables


# --------------------------------------------------------------------------- row assembly


@dataclass
class _Builder:
    """Accumulates rows, extras and fixation arrays while a layout is read."""

    root: Path
    cfg: DataConfig
    problems: ProblemLog
    rows: list[dict[str, Any]] = field(default_factory=list)
    extras: list[dict[str, Any]] = field(default_factory=list)
    fix_chunks: list[np.ndarray] = field(default_factory=list)
    n_fix: int = 0
    reports: dict[Path, dict[str, str]] = field(default_factory=dict)
    anatomy: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # dicom_id -> boxes
    anatomy_paths: dict[str, str] = field(default_factory=dict)

    def report(self, path: Path) -> dict[str, str]:
        if path not in self.reports:
            try:
                self.reports[path] = parse_report(path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                self.problems.add(path, "missing_file", "report text of the study is absent")
                self.reports[path] = {}
        return self.reports[path]

    def image(self, path: Path, size: tuple[float, float], what: str) -> tuple[int, int] | None:
        """(height, width) of an existing image, from the tables or the file header; None = skip."""
        if not path.is_file():
            self.problems.add(path, "missing_image", f"image of {what} is absent; reading skipped")
            return None
        h, w = size
        if h == h and w == w and h > 0 and w > 0:
            return int(h), int(w)
        try:
            return image_size(path)
        except ImageReadError as exc:
            self.problems.add(path, "unreadable_image", f"{exc.reason}; reading of {what} skipped")
            return None

    def add(self, row: dict[str, Any], extra: dict[str, Any], fix: np.ndarray) -> None:
        row["fix_offset"], row["fix_count"] = self.n_fix, int(fix.shape[0])
        self.n_fix += int(fix.shape[0])
        self.fix_chunks.append(fix.astype(np.float32, copy=False))
        self.rows.append(row)
        self.extras.append(extra)


def _label_columns(
    findings: dict[str, float], chexpert: dict[str, float], egd: dict[str, float]
) -> dict[str, float]:
    out = {L.FAMILY_PREFIX["finding"] + k: v for k, v in findings.items()}
    out.update({L.FAMILY_PREFIX["chexpert"] + k: v for k, v in chexpert.items()})
    out.update({L.FAMILY_PREFIX["egd"] + k: v for k, v in egd.items()})
    return out


def _ellipses(table: Table | None, problems: ProblemLog) -> list[dict[str, Any]]:
    """Ellipse rows -> {box (xyxy image px), labels (canonical), certainty}; rows with a
    non-numeric coordinate are reported and skipped."""
    if table is None:
        return []
    label_cols = [c for c in table.columns if c not in ("xmin", "ymin", "xmax", "ymax", "certainty")]
    out = []
    for rec in table.records():
        box = [_float(rec[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
        if not all(np.isfinite(box)):
            problems.add(table.path, "bad_value", f"ellipse with a non-numeric coordinate {box} skipped")
            continue
        names = sorted({L.canonical_label(c) for c in label_cols if L.parse_value(rec[c]) == 1.0})
        out.append({"box": box, "labels": names, "certainty": _float(rec.get("certainty"))})
    return out


def _chest_box(table: Table | None, problems: ProblemLog) -> list[float] | None:
    if table is None or not len(table):
        return None
    rec = next(table.records())
    box = [_float(rec.get(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
    if not all(np.isfinite(box)):
        problems.add(table.path, "bad_value", f"chest box with a non-numeric coordinate {box} ignored")
        return None
    return box


def _reflacx_reading(
    b: _Builder, rec: dict[str, str], main_root: Path, gaze_root: Path, cxr: CxrTables, meta_path: Path
) -> None:
    rid = rec["id"].strip()
    dicom = rec["dicom_id"].strip()
    cxr_meta = cxr.meta.get(dicom)
    if cxr_meta is None:
        b.problems.add(
            meta_path,
            "dicom_id_mismatch",
            f"reading {rid}: dicom_id {dicom} is not in the CXR metadata table",
        )
    subject = _id(rec.get("subject_id")) or (_id(cxr_meta.get("subject_id")) if cxr_meta else "")
    study = _id(cxr_meta.get("study_id")) if cxr_meta else ""
    if not study:
        m = re.search(r"/s(\d+)/", rec.get("image", "").replace("\\", "/"))
        study = m.group(1) if m else ""
    if not subject or not study:
        b.problems.add(
            meta_path,
            "missing_ids",
            f"reading {rid}: subject or study of dicom_id {dicom} unknown; reading skipped",
        )
        return
    img = cxr.image_path(subject, study, dicom)
    hint = (_float(rec.get("image_size_y")), _float(rec.get("image_size_x")))
    if not all(np.isfinite(hint)):
        hint = (_float((cxr_meta or {}).get("Rows")), _float((cxr_meta or {}).get("Columns")))
    size = b.image(img, hint, f"reading {rid}")
    if size is None:
        return
    discarded = L.parse_value(rec.get("eye_tracking_data_discarded")) == 1.0
    main = main_root / rid
    ell_t = read_table(
        main / "anomaly_location_ellipses.csv", b.problems, required=("xmin", "ymin", "xmax", "ymax")
    )
    chest_t = read_table(
        main / "chest_bounding_box.csv",
        b.problems,
        required=("xmin", "ymin", "xmax", "ymax"),
        allow_empty=False,
    )
    fix = F.empty()
    blank = 0
    words: list[list[Any]] = []
    text = ""
    paths = {"fixations_path": "", "gaze_path": "", "transcript_path": ""}
    if not discarded:
        fix_path = main / "fixations.csv"
        fix_t = read_table(fix_path, b.problems, allow_empty=False)
        if fix_t is not None:
            try:
                fix, blank = F.reflacx_fixations(fix_t)
            except KeyError as exc:
                b.problems.add(fix_path, "missing_columns", str(exc))
            else:
                paths["fixations_path"] = str(fix_path)
                if blank:
                    b.problems.add(fix_path, "blank_fixations", f"{blank} row(s) without a position dropped")
        gaze_path = gaze_root / rid / "gaze.csv"
        if gaze_path.is_file():
            paths["gaze_path"] = str(gaze_path)
        else:
            b.problems.add(gaze_path, "missing_file", "raw gaze samples of the reading are absent")
        ts_path = main / "timestamps_transcription.csv"
        ts = read_table(ts_path, b.problems, required=("word", "timestamp_start_word", "timestamp_end_word"))
        if ts is not None:
            paths["transcript_path"] = str(ts_path)
            words = [
                [w, s, e]
                for w, s, e in zip(
                    ts.col("word"),
                    ts.num("timestamp_start_word").tolist(),
                    ts.num("timestamp_end_word").tolist(),
                    strict=True,
                )
            ]
        txt = main / "transcription.txt"
        if txt.is_file():
            text = txt.read_text(encoding="utf-8", errors="replace").strip()
        else:
            b.problems.add(txt, "missing_file", "dictation transcript is absent")
    starts = [w[1] for w in words if w[1] == w[1]]
    report_path = cxr.report_path(subject, study)
    row = {
        "reading_id": rid,
        "source": "reflacx",
        "subject_id": subject,
        "study_id": study,
        "dicom_id": dicom,
        "image_path": str(img),
        "height": size[0],
        "width": size[1],
        "view": (cxr_meta or {}).get("ViewPosition", "").strip(),
        "official_split": cxr.split.get(dicom, ""),  # MIMIC-CXR's, not REFLACX's own split column
        "phase": int(rid[1]) if len(rid) > 1 and rid[1].isdigit() else 0,
        "discarded": discarded,
        "fix_dropped": blank,
        "first_word_time": min(starts) if starts else float("nan"),
        "display_scale_x": float("nan"),
        "display_scale_y": float("nan"),  # REFLACX records angular resolution
        "ellipses_path": str(main / "anomaly_location_ellipses.csv") if ell_t is not None else "",
        "chest_box_path": str(main / "chest_bounding_box.csv") if chest_t is not None else "",
        "report_path": str(report_path) if report_path.is_file() else "",
        "anatomy_path": "",
        **paths,
        **_label_columns(
            L.reflacx_findings(rec, b.cfg.certainty_threshold),
            L.chexpert_labels(cxr.chexpert.get(study)),
            L.egd_classes(None),
        ),
    }
    extra = {
        "ellipses": _ellipses(ell_t, b.problems),
        "chest_box": _chest_box(chest_t, b.problems),
        "anatomy_boxes": {},
        "text": text,
        "words": words,
        "report": b.report(report_path),
    }
    b.add(row, extra, fix)


def _reflacx_block(b: _Builder, meta: Table, main_root: Path, gaze_root: Path, cxr: CxrTables) -> None:
    seen: set[str] = set()
    for rec in meta.records():
        rid = rec["id"].strip()
        if not rid:
            continue
        if rid in seen:
            b.problems.add(meta.path, "duplicate_reading", f"reading {rid} listed more than once; first kept")
            continue
        seen.add(rid)
        _reflacx_reading(b, rec, main_root, gaze_root, cxr, meta.path)


def _repair_ids(ids: list[str], known: set[str], path: Path, problems: ProblemLog) -> dict[str, str]:
    """Map the DICOM_IDs of an EyeGaze gaze table to known dicom_ids, repairing truncated ones.

    A truncated id (shorter than 44 characters) is repaired when exactly one known id starts
    with it; every repair and every id left unmatched is reported.
    """
    mapping: dict[str, str] = {}
    for raw in sorted(set(ids)):
        if raw in known:
            mapping[raw] = raw
            continue
        hits = [k for k in known if k.startswith(raw)] if 0 < len(raw) < DICOM_ID_LEN else []
        if len(hits) == 1:
            mapping[raw] = hits[0]
            problems.add(path, "truncated_dicom_id", f"DICOM_ID {raw} repaired to {hits[0]} (unique prefix)")
        elif hits:
            problems.add(
                path, "truncated_dicom_id", f"DICOM_ID {raw} is a prefix of {len(hits)} images; rows dropped"
            )
        else:
            problems.add(
                path,
                "dicom_id_mismatch",
                f"DICOM_ID {raw} ({ids.count(raw)} rows) matches no image of the master sheet",
            )
    return mapping


def _eyegaze_block(b: _Builder, folder: Path, master_name: str, cxr: CxrTables) -> None:
    """EyeGaze tables in ``folder`` (MIMIC-Eye patient EyeGaze/ or a stand-alone EGD-CXR root)."""
    master = read_table(folder / master_name, b.problems, required=EYEGAZE_MASTER_REQUIRED, allow_empty=False)
    if master is None:
        return
    fix_t = read_table(folder / "fixations.csv", b.problems, required=("DICOM_ID",), allow_empty=False)
    box_t = read_table(
        folder / "bounding_boxes.csv",
        b.problems,
        required=("dicom_id", "bbox_name", "x1", "x2", "y1", "y2"),
        allow_empty=False,
    )
    records = {}
    for rec in master.records():
        dicom = rec["dicom_id"].strip()
        if dicom in records:
            b.problems.add(
                master.path, "duplicate_reading", f"dicom_id {dicom} listed more than once; first kept"
            )
        elif dicom:
            records[dicom] = rec
    known = set(records)
    groups: dict[str, list[int]] = defaultdict(list)
    if fix_t is not None:
        ids = [s.strip() for s in fix_t.col("DICOM_ID")]
        mapping = _repair_ids(ids, known, fix_t.path, b.problems)
        for i, raw in enumerate(ids):
            if raw in mapping:
                groups[mapping[raw]].append(i)
    if box_t is not None:
        x1, x2, y1, y2 = (box_t.num(c) for c in ("x1", "x2", "y1", "y2"))
        for i, (dicom, name) in enumerate(zip(box_t.col("dicom_id"), box_t.col("bbox_name"), strict=True)):
            box = [x1[i], y1[i], x2[i], y2[i]]
            if all(np.isfinite(box)):
                b.anatomy.setdefault(dicom.strip(), {})[name.strip()] = box
                b.anatomy_paths[dicom.strip()] = str(box_t.path)
            else:
                b.problems.add(
                    box_t.path, "bad_value", f"box {name!r} of {dicom} has a non-numeric coordinate"
                )
    for dicom, rec in records.items():
        subject, study = _id(rec["patient_id"]), _id(rec["study_id"])
        img = cxr.image_path(subject, study, dicom)
        cxr_meta = cxr.meta.get(dicom, {})
        if not cxr_meta:
            b.problems.add(
                master.path, "dicom_id_mismatch", f"dicom_id {dicom} is not in the CXR metadata table"
            )
        size = b.image(
            img, (_float(cxr_meta.get("Rows")), _float(cxr_meta.get("Columns"))), f"EyeGaze image {dicom}"
        )
        if size is None:
            continue
        fix = F.empty()
        invalid = 0
        scale = (float("nan"), float("nan"))
        if groups.get(dicom) and fix_t is not None:
            raw_pads = [_float(rec.get(c)) for c in PAD_COLUMNS]
            if not all(np.isfinite(raw_pads)):
                b.problems.add(master.path, "bad_value", f"image {dicom}: screen pads missing; taken as 0")
            pads = tuple(float(np.nan_to_num(v, nan=0.0)) for v in raw_pads)
            scale = F.display_scale(size, pads)
            try:
                fix, invalid = F.eyegaze_fixations(fix_t.subset(groups[dicom]), size, pads)  # type: ignore[arg-type]
            except KeyError as exc:
                b.problems.add(fix_t.path, "missing_columns", str(exc))
        elif fix_t is not None:
            b.problems.add(
                fix_t.path, "no_fixations", f"image {dicom} of the master sheet has no fixation rows"
            )
        tr_path = folder / "audio_segmentation_transcripts" / dicom / "transcript.json"
        text, words = "", []
        try:
            tr = json.loads(tr_path.read_text(encoding="utf-8"))
            text = str(tr.get("full_text", "")).strip()
            words = [
                [
                    str(p.get("phrase", "")),
                    float(p.get("begin_time", np.nan)),
                    float(p.get("end_time", np.nan)),
                ]
                for p in tr.get("time_stamped_text", [])
            ]
        except FileNotFoundError:
            b.problems.add(tr_path, "missing_file", "transcript of the EyeGaze image is absent")
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            b.problems.add(tr_path, "bad_json", f"{type(exc).__name__}: {exc}")
        starts = [w[1] for w in words if w[1] == w[1]]
        chx_rec = cxr.chexpert.get(study)
        chexpert = L.chexpert_labels(chx_rec) if chx_rec else L.chexpert_labels(rec, suffix="__chx")
        report_path = cxr.report_path(subject, study)
        row = {
            "reading_id": f"EG_{dicom}",
            "source": "eyegaze",
            "subject_id": subject,
            "study_id": study,
            "dicom_id": dicom,
            "image_path": str(img),
            "height": size[0],
            "width": size[1],
            "view": cxr_meta.get("ViewPosition", "").strip(),
            "official_split": cxr.split.get(dicom, ""),
            "phase": 0,
            "discarded": False,
            "fix_dropped": invalid,
            "first_word_time": min(starts) if starts else float("nan"),
            "display_scale_x": scale[0],
            "display_scale_y": scale[1],
            "fixations_path": str(fix_t.path) if fix.shape[0] and fix_t is not None else "",
            "gaze_path": str(folder / "eye_gaze.csv") if (folder / "eye_gaze.csv").is_file() else "",
            "ellipses_path": "",
            "chest_box_path": "",
            "transcript_path": str(tr_path) if words else "",
            "report_path": str(report_path) if report_path.is_file() else "",
            "anatomy_path": "",
            **_label_columns(L.eyegaze_findings(rec, chexpert), chexpert, L.egd_classes(rec)),
        }
        extra = {
            "ellipses": [],
            "chest_box": None,
            "anatomy_boxes": {},
            "text": text,
            "words": words,
            "report": b.report(report_path),
        }
        b.add(row, extra, fix)


def _read_mimic_eye(b: _Builder) -> None:
    for pdir in sorted(p for p in b.root.glob("patient_*") if p.is_dir()):
        subject = pdir.name[len("patient_") :]
        if not subject.isdigit():
            b.problems.add(pdir, "bad_folder_name", "patient folder name is not patient_<digits>; skipped")
            continue
        cxr = CxrTables(patient_dir=pdir)
        jpg = pdir / "CXR-JPG"
        cxr.fill(
            read_table(jpg / "cxr_meta.csv", b.problems, required=("dicom_id", "study_id")),
            read_table(jpg / "cxr_chexpert.csv", b.problems, required=("study_id",)),
            read_table(jpg / "cxr_split.csv", b.problems, required=("dicom_id", "split")),
        )
        if "reflacx" in b.cfg.sources and (pdir / "REFLACX").is_dir():
            meta = read_table(
                pdir / "REFLACX" / "metadata.csv",
                b.problems,
                required=REFLACX_META_REQUIRED,
                allow_empty=False,
            )
            if meta is not None:
                _reflacx_block(b, meta, pdir / "REFLACX" / "main_data", pdir / "REFLACX" / "gaze_data", cxr)
        if "eyegaze" in b.cfg.sources and (pdir / "EyeGaze").is_dir():
            _eyegaze_block(b, pdir / "EyeGaze", "master_sheet.csv", cxr)


def _read_reflacx(b: _Builder) -> None:
    cxr = _read_cxr_root(find_cxr_root(b.root, b.cfg.cxr_root), b.problems)
    files = sorted(b.root.glob("metadata_phase_*.csv")) or [b.root / "metadata.csv"]
    tables = [
        t for f in files if (t := read_table(f, b.problems, required=REFLACX_META_REQUIRED)) is not None
    ]
    if "reflacx" in b.cfg.sources:
        for table in tables:
            _reflacx_block(b, table, b.root / "main_data", b.root / "gaze_data", cxr)


def _read_egd(b: _Builder) -> None:
    cxr = _read_cxr_root(find_cxr_root(b.root, b.cfg.cxr_root), b.problems)
    if "eyegaze" in b.cfg.sources:
        _eyegaze_block(b, b.root, "master_sheet.csv", cxr)


READERS = {"mimic-eye": _read_mimic_eye, "reflacx": _read_reflacx, "egd": _read_egd}


# --------------------------------------------------------------------------- cache


def _walk_files(root: Path) -> Iterator[os.DirEntry[str]]:
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue  # the cache folder and other hidden files
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    yield entry


def tree_fingerprint(root: Path) -> str:
    """sha1 over (relative path, size, mtime) of every non-hidden file under ``root``."""
    prefix = len(str(root)) + 1  # scandir paths start with str(root) + separator
    items = []
    for e in _walk_files(root):
        st = e.stat()
        items.append(f"{e.path[prefix:]}\0{st.st_size}\0{st.st_mtime_ns}")
    items.sort()
    return hashlib.sha1("\n".join(items).encode()).hexdigest()


def cache_dir_for(root: Path, cfg: DataConfig) -> Path:
    """``data.cache_dir`` / <root hash>, else ``ROOT/.gazecxr-cache`` when writable, else
    ``~/.cache/gazecxr/<root hash>``."""
    tag = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    if cfg.cache_dir:
        return Path(cfg.cache_dir).expanduser() / tag
    local = root / ".gazecxr-cache"
    if os.access(root, os.W_OK):
        return local
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gazecxr" / tag


def _cache_key(root: Path, layout: str, cfg: DataConfig) -> str:
    parts = {
        "version": INDEX_VERSION,
        "layout": layout,
        "sources": sorted(cfg.sources),
        "threshold": cfg.certainty_threshold,
        "cxr_root": cfg.cxr_root,
        "tree": tree_fingerprint(root),
    }
    if layout != "mimic-eye":
        # The MIMIC-CXR-JPG tables (not its 377k images) are inputs of the index too.
        cxr = find_cxr_root(root, cfg.cxr_root)
        parts["cxr_tables"] = sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in cxr.glob("*.csv*")
        )
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _load_cache(folder: Path, key: str) -> tuple[pd.DataFrame, np.ndarray, list, list[Problem]] | None:
    meta_path = folder / "index.json"
    fix_path = folder / f"fixations-{key[:16]}.npy"
    if not meta_path.is_file() or not fix_path.is_file():
        return None
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        fix = np.load(fix_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("index cache %s unreadable (%s); rebuilding", folder, exc)
        return None
    df = pd.DataFrame(data["rows"])
    problems = [Problem(**p) for p in data["problems"]]
    return df, fix, data["extras"], problems


def _save_cache(
    folder: Path, key: str, df: pd.DataFrame, fix: np.ndarray, extras: list, problems: list[Problem]
) -> None:
    """Write the cache atomically (process-unique temporary names, then rename), so concurrent
    builders (e.g. several DDP ranks) never leave or read half a file. The fixations file is
    named by the key and written first; ``index.json`` (which names the key) commits it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fix_path = folder / f"fixations-{key[:16]}.npy"
        tmp_fix = folder / f".fixations-{key[:16]}-{os.getpid()}.npy"
        np.save(tmp_fix, fix, allow_pickle=False)
        os.replace(tmp_fix, fix_path)
        tmp = folder / f".index-{os.getpid()}.json"
        payload = {
            "key": key,
            "rows": df.to_dict(orient="list"),
            "extras": extras,
            "problems": [p.as_dict() for p in problems],
        }
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, folder / "index.json")
        for old in folder.glob("fixations-*.npy"):
            if old != fix_path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not write the index cache to %s (%s); the next start rebuilds it", folder, exc)


# --------------------------------------------------------------------------- public entry


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
    root = Path(root).expanduser().resolve()
    cfg = cfg or DataConfig()
    gaze_cfg = gaze_cfg or GazeConfig()
    layout = detect_layout(root) if cfg.layout == "auto" else cfg.layout
    if cfg.layout != "auto":
        detected = detect_layout(root)
        if detected != layout:
            raise DatasetRootError(f"{root}: data.layout is {layout!r} but the tree looks like {detected!r}")
    folder = cache_dir_for(root, cfg)
    key = _cache_key(root, layout, cfg) if use_cache else ""
    cached = _load_cache(folder, key) if use_cache else None
    if cached is not None:
        df, fix, extras, problems = cached
        from_cache = True
    else:
        b = _Builder(root, cfg, ProblemLog(root))
        READERS[layout](b)
        for row, extra in zip(b.rows, b.extras, strict=True):
            boxes = b.anatomy.get(row["dicom_id"])
            if boxes:
                extra["anatomy_boxes"] = boxes
                row["anatomy_path"] = b.anatomy_paths[row["dicom_id"]]
        label_cols = [L.FAMILY_PREFIX[f] + n for f, names in L.FAMILY_LABELS.items() for n in names]
        df = pd.DataFrame(b.rows, columns=[*ROW_COLUMNS, *label_cols])
        fix = np.concatenate(b.fix_chunks) if b.fix_chunks else F.empty()
        extras, problems = b.extras, b.problems.items
        from_cache = False
        if use_cache:
            _save_cache(folder, key, df, fix, extras, problems)
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
        }
    )
    for col in ("subject_id", "study_id", "dicom_id", "reading_id"):
        df[col] = df[col].astype(str)
    df["row"] = np.arange(len(df))
    index = DatasetIndex(root, layout, df, fix, extras, problems, from_cache, folder if use_cache else None)
    index.add_gaze_columns(gaze_cfg)
    return index
