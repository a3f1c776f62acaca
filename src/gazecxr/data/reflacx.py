"""REFLACX readings: per-reading folders (``main_data/{id}/``, ``gaze_data/{id}/``) and metadata rows.

Used for MIMIC-Eye's per-patient ``REFLACX/`` folders and for the stand-alone release
(:func:`read_release`); the metadata placements are found by :mod:`gazecxr.data.layout`.
Discarded readings (``eye_tracking_data_discarded``) have only their chest box and ellipses, and
an empty ``gaze_data/{id}/``: nothing else is expected of them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.data import labels as label_table
from gazecxr.data.cxr_jpg import CxrTables, normal_id, read_cxr_root, report_label_ranges
from gazecxr.data.layout import Layout, find_cxr_root
from gazecxr.data.rows import (
    IndexBuilder,
    ReadingExtra,
    ReadingRow,
    box_problem,
    first_word_time,
    label_columns,
)
from gazecxr.data.tables import ProblemLog, Table, read_table
from gazecxr.gaze import fixations as fx

META_REQUIRED = ("id", "dicom_id")
BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax")
WORD_COLUMNS = ("word", "timestamp_start_word", "timestamp_end_word")


def _float(text: str | None) -> float:
    return label_table.parse_value(text)


def ellipses(table: Table | None, problems: ProblemLog) -> list[dict[str, Any]]:
    """Ellipse rows -> {box (xyxy image px), labels (canonical), certainty}; rows with a
    non-numeric coordinate are reported and skipped."""
    if table is None:
        return []
    label_cols = [c for c in table.columns if c not in (*BOX_COLUMNS, "certainty")]
    out = []
    for rec in table.records():
        box = [_float(rec[k]) for k in BOX_COLUMNS]
        if bad := box_problem(box):
            problems.add(table.path, bad[0], f"ellipse box {box} {bad[1]}; skipped")
            continue
        names = sorted(
            {label_table.canonical_label(c) for c in label_cols if label_table.parse_value(rec[c]) == 1.0}
        )
        out.append({"box": box, "labels": names, "certainty": _float(rec.get("certainty"))})
    return out


def chest_box(table: Table | None, problems: ProblemLog) -> list[float] | None:
    if table is None or not len(table):
        return None
    rec = next(table.records())
    box = [_float(rec.get(k)) for k in BOX_COLUMNS]
    if bad := box_problem(box):
        problems.add(table.path, bad[0], f"chest box {box} {bad[1]}; ignored")
        return None
    return box


def report_value_problems(path: Path, problems: ProblemLog, found: list[tuple[str, int, str]]) -> None:
    for kind, count, effect in found:
        problems.add(path, kind, f"{count} {effect}", count=count)


def _words(ts: Table, problems: ProblemLog) -> list[list[Any]]:
    """Timed words of ``timestamps_transcription.csv``; NaN, negative and decreasing times are
    reported (kept as they are: they move the silent / reporting split and the dictation windows)."""
    starts, ends = ts.num("timestamp_start_word"), ts.num("timestamp_end_word")
    what = {
        "nan_timestamp": "word(s) without a start or end time",
        "negative_timestamp": "word(s) starting before time 0",
        "end_before_start": "word(s) ending before they start",
        "decreasing_timestamp": "word start(s) earlier than the previous word's",
    }
    for kind, n in fx.timing_problems(starts, ends).items():
        problems.add(
            ts.path, kind, f"{n} {what[kind]} (kept; they move the silent / reporting split)", count=n
        )
    return [[w, s, e] for w, s, e in zip(ts.col("word"), starts.tolist(), ends.tolist(), strict=True)]


def _gaze_files(
    b: IndexBuilder, main: Path, gaze_dir: Path
) -> tuple[np.ndarray, int, dict[str, str], str, list]:
    """Fixations, transcript and raw-gaze path of a reading that was not discarded."""
    fix, n_dropped = fx.empty(), 0
    words: list[list[Any]] = []
    text = ""
    paths = {"fixations_path": "", "gaze_path": "", "transcript_path": ""}
    fix_path = main / "fixations.csv"
    fix_t = read_table(fix_path, b.problems, allow_empty=False)
    if fix_t is not None:
        try:
            fix, dropped = fx.reflacx_fixations(fix_t)
        except KeyError as exc:
            b.problems.add(fix_path, "missing_columns", str(exc))
        else:
            paths["fixations_path"] = str(fix_path)
            n_dropped = sum(dropped.values())
            if n := dropped.get("no_position", 0):
                b.problems.add(fix_path, "blank_fixations", f"{n} row(s) without a position dropped", count=n)
            if n := dropped.get("bad_time", 0):
                b.problems.add(
                    fix_path,
                    "bad_time",
                    f"{n} row(s) with a start or end time that is not a finite number dropped: "
                    "no weight or phase can be given",
                    count=n,
                )
            report_value_problems(fix_path, b.problems, fx.value_problems(fix, angular_resolution=True))
    gaze_path = gaze_dir / "gaze.csv"
    if gaze_path.is_file():
        paths["gaze_path"] = str(gaze_path)
    else:
        b.problems.add(gaze_path, "missing_file", "raw gaze samples of the reading are absent")
    ts_path = main / "timestamps_transcription.csv"
    ts = read_table(ts_path, b.problems, required=WORD_COLUMNS)
    if ts is not None:
        paths["transcript_path"] = str(ts_path)
        words = _words(ts, b.problems)
    txt = main / "transcription.txt"
    if txt.is_file():
        raw = txt.read_bytes()
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="replace").strip()
            b.problems.add(
                txt, "bad_encoding", f"not UTF-8 (byte {exc.start}); undecodable bytes replaced by U+FFFD"
            )
    else:
        b.problems.add(txt, "missing_file", "dictation transcript is absent")
    return fix, n_dropped, paths, text, words


def read_reading(
    b: IndexBuilder, rec: dict[str, str], main_root: Path, gaze_root: Path, cxr: CxrTables, meta_path: Path
) -> None:
    """One metadata row -> one reading (or a reported skip)."""
    rid = rec["id"].strip()
    dicom = rec["dicom_id"].strip()
    cxr_meta = cxr.meta.get(dicom)
    if cxr_meta is None:
        b.problems.add(
            meta_path,
            "dicom_id_mismatch",
            f"reading {rid}: dicom_id {dicom} is not in the CXR metadata table",
        )
    subject = normal_id(rec.get("subject_id")) or (normal_id(cxr_meta.get("subject_id")) if cxr_meta else "")
    study = normal_id(cxr_meta.get("study_id")) if cxr_meta else ""
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
    discarded = label_table.parse_value(rec.get("eye_tracking_data_discarded")) == 1.0
    main = main_root / rid
    ell_t = read_table(main / "anomaly_location_ellipses.csv", b.problems, required=BOX_COLUMNS)
    chest_t = read_table(main / "chest_bounding_box.csv", b.problems, required=BOX_COLUMNS, allow_empty=False)
    fix, n_dropped, paths, text, words = fx.empty(), 0, {}, "", []
    if not discarded:
        fix, n_dropped, paths, text, words = _gaze_files(b, main, gaze_root / rid)
    report_path = cxr.report_path(subject, study)
    row = ReadingRow(
        reading_id=rid,
        source="reflacx",
        subject_id=subject,
        study_id=study,
        dicom_id=dicom,
        image_path=str(img),
        height=size[0],
        width=size[1],
        view=(cxr_meta or {}).get("ViewPosition", "").strip(),
        official_split=cxr.split.get(dicom, ""),
        phase=int(rid[1]) if len(rid) > 1 and rid[1].isdigit() else 0,
        discarded=discarded,
        fix_dropped=n_dropped,
        first_word_time=first_word_time(words),
        ellipses_path=str(main / "anomaly_location_ellipses.csv") if ell_t is not None else "",
        chest_box_path=str(main / "chest_bounding_box.csv") if chest_t is not None else "",
        report_path=str(report_path) if report_path.is_file() else "",
        labels=label_columns(
            label_table.reflacx_findings(rec, b.cfg.certainty_threshold),
            label_table.chexpert_labels(cxr.chexpert.get(study)),
            label_table.egd_classes(None),
        ),
        **paths,
    )
    extra = ReadingExtra(
        ellipses=ellipses(ell_t, b.problems),
        chest_box=chest_box(chest_t, b.problems),
        text=text,
        words=words,
        report=b.report(report_path),
    )
    b.add(row, extra, fix)


def read_block(b: IndexBuilder, meta: Table, main_root: Path, gaze_root: Path, cxr: CxrTables) -> None:
    """Every reading of one metadata table (duplicates and out-of-range labels reported)."""
    report_label_ranges(meta, label_table.reflacx_label_ranges(meta.columns), b.problems, "REFLACX")
    seen: set[str] = set()
    duplicates = 0
    for rec in meta.records():
        rid = rec["id"].strip()
        if not rid:
            continue
        if rid in seen:
            duplicates += 1
            continue
        seen.add(rid)
        read_reading(b, rec, main_root, gaze_root, cxr, meta.path)
    if duplicates:
        b.problems.add(
            meta.path,
            "duplicate_reading",
            f"{duplicates} reading id(s) listed more than once; first kept",
            count=duplicates,
        )


def read_release(b: IndexBuilder, layout: Layout) -> None:
    """The stand-alone REFLACX release next to MIMIC-CXR-JPG."""
    assert layout.main_root is not None and layout.gaze_root is not None
    cxr = read_cxr_root(find_cxr_root(layout.root, b.cfg.cxr_root), b.problems)
    tables = [
        t for f in layout.metadata if (t := read_table(f, b.problems, required=META_REQUIRED)) is not None
    ]
    if "reflacx" in b.cfg.sources:
        for table in tables:
            read_block(b, table, layout.main_root, layout.gaze_root, cxr)
