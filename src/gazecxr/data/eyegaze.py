"""EyeGaze (EGD-CXR) images: master sheet, fixation table, anatomy boxes and transcripts.

Used for MIMIC-Eye's per-patient ``EyeGaze/`` folders and for the stand-alone EGD-CXR release
(:func:`read_release`). Each image of the master sheet is one reading (one radiologist).

Calibration screens: the stand-alone release interleaves fixation rows whose ``DICOM_ID`` is not
a radiograph of the master sheet (EGD's ``image_preparation.py`` saves the calibration image, a
dot at the centre of a black screen shown every 20 images, as ``dicom_id[:-5]``; one calibration
id is longer than 44 characters). Their fixations belong to no radiograph and run on their own
clock: they are dropped, counted (``calibration_rows``) and reported once per file, and never
merged into the image whose id they prefix. A 44-character id absent from the master sheet is a
``dicom_id_mismatch`` instead. MIMIC-Eye keeps only master-sheet ids, so neither occurs there.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.data import labels as label_table
from gazecxr.data.cxr_jpg import CxrTables, normal_id, read_cxr_root, report_duplicates, report_label_ranges
from gazecxr.data.format import EYEGAZE_CHX, EYEGAZE_GRANULAR
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
from gazecxr.gaze import clock
from gazecxr.gaze import fixations as fx

DICOM_ID_LEN = 44
MASTER_REQUIRED = ("dicom_id", "study_id", "patient_id")
PAD_COLUMNS = ("image_top_pad", "image_bottom_pad", "image_left_pad", "image_right_pad")
CALIBRATION = "calibration_rows"
_DROP_TEXT = {
    "no_position": "valid fixation row(s) without a screen position (FPOGX / FPOGY) dropped",
    "bad_time": "valid fixation row(s) with a NaN start (FPOGS) or duration (FPOGD) dropped: no weight can be given",
}


def _float(text: str | None) -> float:
    return label_table.parse_value(text)


def group_rows(ids: list[str], known: set[str], path: Path, problems: ProblemLog) -> dict[str, list[int]]:
    """Row numbers of the gaze table per master-sheet image; calibration rows and unknown ids
    are dropped and reported (see the module docstring)."""
    groups: dict[str, list[int]] = defaultdict(list)
    calibration: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    for i, raw in enumerate(ids):
        if raw in known:
            groups[raw].append(i)
        elif len(raw) != DICOM_ID_LEN:
            calibration[raw] += 1
        else:
            unknown[raw] += 1
    if calibration:
        rows = sum(calibration.values())
        example = min(calibration)
        problems.add(
            path,
            CALIBRATION,
            f"{rows} row(s) of {len(calibration)} calibration screen(s) (DICOM_ID not a radiograph of "
            f"the master sheet and not {DICOM_ID_LEN} characters, e.g. {example!r}): gaze on a dot at the "
            "screen centre shown between radiographs, on its own clock; dropped, never merged into a radiograph",
            count=rows,
        )
    if unknown:
        rows = sum(unknown.values())
        problems.add(
            path,
            "dicom_id_mismatch",
            f"{len(unknown)} DICOM_ID(s) ({rows} rows, e.g. {min(unknown)}) match no image of the master sheet; rows dropped",
            count=rows,
        )
    return groups


def raw_onsets(path: Path, wanted: set[str], problems: ProblemLog) -> dict[str, float]:
    """First ``Time (in secs)`` of each wanted ``DICOM_ID`` in the raw ``eye_gaze.csv``, streamed
    (the file holds 60 samples a second of every image; only two columns are kept)."""
    onsets: dict[str, float] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            if "DICOM_ID" not in header or "Time (in secs)" not in header:
                problems.add(
                    path,
                    "missing_columns",
                    "no DICOM_ID / Time (in secs) column: image onsets taken from fixations.csv",
                )
                return {}
            i_id, i_t = header.index("DICOM_ID"), header.index("Time (in secs)")
            for rec in reader:
                if len(rec) <= max(i_id, i_t) or (dicom := rec[i_id].strip()) not in wanted:
                    continue
                t = _float(rec[i_t])
                if np.isfinite(t) and t < onsets.get(dicom, np.inf):
                    onsets[dicom] = t
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.add(
            path, "unreadable_csv", f"{type(exc).__name__}: {exc}; image onsets taken from fixations.csv"
        )
        return {}
    return onsets


def _onsets(
    folder: Path, fix_t: Table | None, groups: dict[str, list[int]], problems: ProblemLog
) -> tuple[dict[str, clock.Onset], clock.Clock]:
    """Each image's onset (:func:`gazecxr.gaze.clock.image_onset`) and the clock of the folder."""
    if fix_t is None or "FPOGS" not in fix_t.columns:
        return {}, "per-image"
    raw_path = folder / "eye_gaze.csv"
    raw = raw_onsets(raw_path, set(groups), problems) if raw_path.is_file() else {}
    starts, valid = fix_t.num("FPOGS"), fix_t.num("FPOGV") if "FPOGV" in fix_t.columns else None
    onsets = {}
    for dicom, rows in groups.items():
        mine = starts[rows] if valid is None else starts[rows][valid[rows] == 1]
        onset = clock.image_onset(raw.get(dicom), mine)
        if onset is not None:
            onsets[dicom] = onset
    return onsets, clock.detect_clock(o.time for o in onsets.values())


def _transcript(path: Path, problems: ProblemLog) -> tuple[str, list[list[Any]]]:
    try:
        tr = json.loads(path.read_text(encoding="utf-8"))
        text = str(tr.get("full_text", "")).strip()
        words = [
            [str(p.get("phrase", "")), float(p.get("begin_time", np.nan)), float(p.get("end_time", np.nan))]
            for p in tr.get("time_stamped_text", [])
        ]
        return text, words
    except FileNotFoundError:
        problems.add(path, "missing_file", "transcript of the EyeGaze image is absent")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        problems.add(path, "bad_json", f"{type(exc).__name__}: {exc}")
    return "", []


def _anatomy(b: IndexBuilder, box_t: Table) -> None:
    x1, x2, y1, y2 = (box_t.num(c) for c in ("x1", "x2", "y1", "y2"))
    for i, (dicom, name) in enumerate(zip(box_t.col("dicom_id"), box_t.col("bbox_name"), strict=True)):
        box = [x1[i], y1[i], x2[i], y2[i]]
        if bad := box_problem(box):
            b.problems.add(box_t.path, bad[0], f"box {name!r} of {dicom} {box} {bad[1]}; skipped")
        else:
            b.anatomy.setdefault(dicom.strip(), {})[name.strip()] = box
            b.anatomy_paths[dicom.strip()] = str(box_t.path)


def _master(b: IndexBuilder, master: Table) -> dict[str, dict[str, str]]:
    report_duplicates(master, "dicom_id", b.problems, "dicom_id(s)")
    ranges = dict.fromkeys((*label_table.EYEGAZE_CLASSES, *EYEGAZE_GRANULAR), label_table.BOOLEAN_VALUES)
    ranges.update(dict.fromkeys(EYEGAZE_CHX, label_table.CHEXPERT_VALUES))
    report_label_ranges(master, ranges, b.problems, "EyeGaze")
    records: dict[str, dict[str, str]] = {}
    for rec in master.records():
        dicom = rec["dicom_id"].strip()
        if dicom:
            records.setdefault(dicom, rec)
    return records


def read_folder(b: IndexBuilder, folder: Path, master_name: str, cxr: CxrTables) -> None:
    """EyeGaze tables in ``folder`` (MIMIC-Eye patient EyeGaze/ or a stand-alone EGD-CXR root)."""
    master = read_table(folder / master_name, b.problems, required=MASTER_REQUIRED, allow_empty=False)
    if master is None:
        return
    fix_t = read_table(folder / "fixations.csv", b.problems, required=("DICOM_ID",), allow_empty=False)
    box_t = read_table(
        folder / "bounding_boxes.csv",
        b.problems,
        required=("dicom_id", "bbox_name", "x1", "x2", "y1", "y2"),
        allow_empty=False,
    )
    records = _master(b, master)
    groups: dict[str, list[int]] = {}
    if fix_t is not None:
        groups = group_rows([s.strip() for s in fix_t.col("DICOM_ID")], set(records), fix_t.path, b.problems)
    if box_t is not None:
        _anatomy(b, box_t)
    onsets, folder_clock = _onsets(folder, fix_t, groups, b.problems)
    dropped: Counter[str] = Counter()
    values: Counter[str] = Counter()
    effects: dict[str, str] = {}
    for dicom, rec in records.items():
        subject, study = normal_id(rec["patient_id"]), normal_id(rec["study_id"])
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
        fix, n_dropped = fx.empty(), 0
        scale = (float("nan"), float("nan"))
        onset = onsets.get(dicom)
        shift = clock.clock_shift(onset, folder_clock)
        if groups.get(dicom) and fix_t is not None:
            raw_pads = [_float(rec.get(c)) for c in PAD_COLUMNS]
            if not all(np.isfinite(raw_pads)):
                b.problems.add(master.path, "bad_value", f"image {dicom}: screen pads missing; taken as 0")
            pads = tuple(float(np.nan_to_num(v, nan=0.0)) for v in raw_pads)
            scale = fx.display_scale(size, pads)
            try:
                fix, reasons = fx.eyegaze_fixations(fix_t.subset(groups[dicom]), size, pads)  # type: ignore[arg-type]
            except KeyError as exc:
                b.problems.add(fix_t.path, "missing_columns", str(exc))
            else:
                fix = clock.rebase(fix, shift)
                n_dropped = sum(reasons.values())
                dropped.update({k: v for k, v in reasons.items() if k in _DROP_TEXT})
                for kind, count, effect in fx.value_problems(fix, angular_resolution=False):
                    values[kind] += count
                    effects[kind] = effect
        elif fix_t is not None:
            b.problems.add(
                fix_t.path, "no_fixations", f"image {dicom} of the master sheet has no fixation rows"
            )
        tr_path = folder / "audio_segmentation_transcripts" / dicom / "transcript.json"
        text, words = _transcript(tr_path, b.problems)
        chx_rec = cxr.chexpert.get(study)
        chexpert = (
            label_table.chexpert_labels(chx_rec)
            if chx_rec
            else label_table.chexpert_labels(rec, suffix="__chx")
        )
        report_path = cxr.report_path(subject, study)
        row = ReadingRow(
            reading_id=f"EG_{dicom}",
            source="eyegaze",
            subject_id=subject,
            study_id=study,
            dicom_id=dicom,
            image_path=str(img),
            height=size[0],
            width=size[1],
            view=cxr_meta.get("ViewPosition", "").strip(),
            official_split=cxr.split.get(dicom, ""),
            phase=0,
            discarded=False,
            fix_dropped=n_dropped,
            first_word_time=first_word_time(words),
            display_scale_x=scale[0],
            display_scale_y=scale[1],
            gaze_clock=folder_clock if onset else "",
            gaze_onset=onset.time if onset else float("nan"),
            onset_source=onset.source if onset else "",
            clock_shift=shift,
            fixations_path=str(fix_t.path) if fix.shape[0] and fix_t is not None else "",
            gaze_path=str(folder / "eye_gaze.csv") if (folder / "eye_gaze.csv").is_file() else "",
            transcript_path=str(tr_path) if words else "",
            report_path=str(report_path) if report_path.is_file() else "",
            labels=label_columns(
                label_table.eyegaze_findings(rec, chexpert), chexpert, label_table.egd_classes(rec)
            ),
        )
        b.add(row, ReadingExtra(text=text, words=words, report=b.report(report_path)), fix)
    if fix_t is not None:
        for kind, count in sorted(dropped.items()):
            b.problems.add(fix_t.path, kind, f"{count} {_DROP_TEXT[kind]}", count=count)
        for kind, count in sorted(values.items()):
            b.problems.add(fix_t.path, kind, f"{count} {effects[kind]}", count=count)


def read_release(b: IndexBuilder, layout: Layout) -> None:
    """The stand-alone EGD-CXR release next to MIMIC-CXR-JPG."""
    cxr = read_cxr_root(find_cxr_root(layout.root, b.cfg.cxr_root), b.problems)
    if "eyegaze" in b.cfg.sources:
        read_folder(b, layout.root, "master_sheet.csv", cxr)
