"""The reading row: one definition that every source reader fills, and the builder that collects them.

A *reading* is a REFLACX reading (``id`` of its metadata; up to five per image) or an EyeGaze
image (one radiologist). Each reader (:mod:`gazecxr.data.reflacx`, :mod:`gazecxr.data.eyegaze`)
makes a :class:`ReadingRow`, its :class:`ReadingExtra` and its fixation array and hands them to
:meth:`IndexBuilder.add`; the index (:mod:`gazecxr.data.index`) turns the rows into a frame.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.data import labels as label_table
from gazecxr.data.config import DataConfig
from gazecxr.data.images import ImageReadError, image_size
from gazecxr.data.reports import parse_report
from gazecxr.data.tables import ProblemLog

NAN = float("nan")


@dataclass
class ReadingRow:
    """Scalar columns of one reading (paths as strings, "" when absent).

    ``fix_offset`` / ``fix_count`` are set by :meth:`IndexBuilder.add`; ``labels`` holds the label
    columns (``lab:<finding>``, ``chx:<CheXpert column>``, ``egd:<class>``; 1 / 0 / NaN = unknown).
    """

    reading_id: str
    source: str  # "reflacx" | "eyegaze"
    subject_id: str
    study_id: str
    dicom_id: str
    image_path: str
    height: int
    width: int
    view: str
    official_split: str  # MIMIC-CXR's split (not REFLACX's own split column)
    phase: int  # REFLACX phase 1-3; 0 for EyeGaze
    discarded: bool
    fix_offset: int = 0
    fix_count: int = 0
    fix_dropped: int = 0  # fixation rows without a usable position or time (counted, reported)
    first_word_time: float = NAN  # start of the first dictated word (s); NaN: no transcript
    display_scale_x: float = NAN  # EyeGaze image px per screen px; NaN for REFLACX
    display_scale_y: float = NAN
    # EyeGaze gaze clock (gazecxr.gaze.clock): the file's clock, the image's onset on it (s, NaN:
    # no gaze), where the onset was read, and the seconds subtracted from the fixation times.
    gaze_clock: str = ""  # "session" | "per-image" | "" (REFLACX: times are per reading)
    gaze_onset: float = NAN
    onset_source: str = ""  # "eye_gaze.csv" | "fixations.csv" | ""
    clock_shift: float = 0.0
    fixations_path: str = ""
    gaze_path: str = ""
    ellipses_path: str = ""
    chest_box_path: str = ""
    transcript_path: str = ""
    report_path: str = ""
    anatomy_path: str = ""
    labels: dict[str, float] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """Flat dict: the scalar columns in :data:`ROW_COLUMNS` order, then the label columns."""
        rec = {f: getattr(self, f) for f in ROW_COLUMNS}
        rec.update(self.labels)
        return rec


# Columns of every row, in order (label columns follow).
ROW_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ReadingRow) if f.name != "labels")


@dataclass
class ReadingExtra:
    """Non-scalar data of one reading, kept beside the frame (JSON-serialisable via :meth:`as_dict`).

    ellipses: [{box (xyxy image px), labels (canonical), certainty}]; anatomy_boxes: {name: xyxy
    px}; chest_box: xyxy px or None; text: transcript; words: [[word, start s, end s]];
    report: {section: text}.
    """

    ellipses: list[dict[str, Any]] = field(default_factory=list)
    chest_box: list[float] | None = None
    anatomy_boxes: dict[str, list[float]] = field(default_factory=dict)
    text: str = ""
    words: list[list[Any]] = field(default_factory=list)
    report: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ellipses": self.ellipses,
            "chest_box": self.chest_box,
            "anatomy_boxes": self.anatomy_boxes,
            "text": self.text,
            "words": self.words,
            "report": self.report,
        }


def label_columns(
    findings: dict[str, float], chexpert: dict[str, float], egd: dict[str, float]
) -> dict[str, float]:
    """Prefixed label columns of one reading (see :data:`gazecxr.data.labels.FAMILY_PREFIX`)."""
    out = {label_table.FAMILY_PREFIX["finding"] + k: v for k, v in findings.items()}
    out.update({label_table.FAMILY_PREFIX["chexpert"] + k: v for k, v in chexpert.items()})
    out.update({label_table.FAMILY_PREFIX["egd"] + k: v for k, v in egd.items()})
    return out


def box_problem(box: list[float]) -> tuple[str, str] | None:
    """(problem kind, what is wrong) of an xyxy box read from a table, or None when it is usable:
    ``bad_value`` (a coordinate that is not a number) or ``bad_box`` (empty or inverted)."""
    if not all(np.isfinite(box)):
        return "bad_value", "has a non-numeric coordinate"
    if box[2] <= box[0] or box[3] <= box[1]:
        return "bad_box", "is empty or inverted (max <= min)"
    return None


def first_word_time(words: list[list[Any]]) -> float:
    """Start (s) of the first timed word, NaN when none is timed."""
    starts = [w[1] for w in words if w[1] == w[1]]  # NaN != NaN
    return min(starts) if starts else NAN


@dataclass
class IndexBuilder:
    """Accumulates rows, extras and fixation arrays while a layout is read."""

    root: Path
    cfg: DataConfig
    problems: ProblemLog
    rows: list[ReadingRow] = field(default_factory=list)
    extras: list[ReadingExtra] = field(default_factory=list)
    fix_chunks: list[np.ndarray] = field(default_factory=list)
    n_fix: int = 0
    reports: dict[Path, dict[str, str]] = field(default_factory=dict)
    anatomy: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # dicom_id -> boxes
    anatomy_paths: dict[str, str] = field(default_factory=dict)

    def report(self, path: Path) -> dict[str, str]:
        """Parsed report of a study (read once per path; a missing file is reported once)."""
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

    def add(self, row: ReadingRow, extra: ReadingExtra, fix: np.ndarray) -> None:
        row.fix_offset, row.fix_count = self.n_fix, int(fix.shape[0])
        self.n_fix += int(fix.shape[0])
        self.fix_chunks.append(fix.astype(np.float32, copy=False))
        self.rows.append(row)
        self.extras.append(extra)

    def attach_anatomy(self) -> None:
        """Give every reading the EyeGaze anatomy boxes of its image (read from any source)."""
        for row, extra in zip(self.rows, self.extras, strict=True):
            boxes = self.anatomy.get(row.dicom_id)
            if boxes:
                extra.anatomy_boxes = boxes
                row.anatomy_path = self.anatomy_paths[row.dicom_id]
