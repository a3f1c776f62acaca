"""Rows and files of the MIMIC-Eye tables (columns exactly as in ``mimic-eye-format.md``).

Every value is formatted here, as a string, so the bytes written are fully determined.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gazecxr.config import to_dict
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.format import (
    CXR_META_COLUMNS,
    EYEGAZE_GAZE_COLUMNS,
    EYEGAZE_GRANULAR,
    MASTER_COLUMNS,
    REFLACX_FIXATION_COLUMNS,
    REFLACX_GAZE_COLUMNS,
    REFLACX_META_COLUMNS,
    REFLACX_META_LABELS,
)
from gazecxr.data.labels import (
    CHEXPERT_COLUMNS,
    REFLACX_BOOLEAN_LABELS,
    REFLACX_PHASE1_LABELS,
    REFLACX_PHASE23_LABELS,
)
from gazecxr.synth.config import SYNTH_FINDINGS, SynthConfig
from gazecxr.synth.findings import Finding
from gazecxr.synth.language import Mention
from gazecxr.synth.phantom import Box
from gazecxr.synth.readers import GazeRecord, raw_samples

if TYPE_CHECKING:  # only for annotations: writer imports this module
    from gazecxr.synth.writer import PatientPlan, PatientResult, RenderedStudy, StudyPlan

GENERATOR_VERSION = 4  # bump when the same seed and config would give a different tree
DIAGNOSES = {
    "CHF": ("Congestive heart failure, unspecified", "I509"),
    "pneumonia": ("Pneumonia, unspecified organism", "J189"),
    "Normal": ("Chest pain, unspecified", "R079"),
}


@dataclass(frozen=True)
class TableSpec:
    header: list[str]
    patient_path: str  # relative to patient_{id}/
    spreadsheet_path: str  # relative to spreadsheets/
    # Leading unnamed pandas index column: every table MIMIC-Eye wrote with pandas has one. The
    # real per-patient files carry the row numbers of MIMIC-Eye's global table; ours number the
    # rows of cxr_meta that way and the others from 0 per file (readers drop the column either way).
    index: bool = False


AGGREGATED: dict[str, TableSpec] = {
    "cxr_meta": TableSpec(CXR_META_COLUMNS, "CXR-JPG/cxr_meta.csv", "cxr_meta.csv", index=True),
    "cxr_chexpert": TableSpec(
        ["subject_id", "study_id", *CHEXPERT_COLUMNS],
        "CXR-JPG/cxr_chexpert.csv",
        "CXR-JPG/cxr_chexpert.csv",
        index=True,
    ),
    "cxr_negbio": TableSpec(
        ["subject_id", "study_id", *CHEXPERT_COLUMNS],
        "CXR-JPG/cxr_negbio.csv",
        "CXR-JPG/cxr_negbio.csv",
        index=True,
    ),
    "cxr_split": TableSpec(
        ["dicom_id", "study_id", "subject_id", "split"],
        "CXR-JPG/cxr_split.csv",
        "CXR-JPG/cxr_split.csv",
        index=True,
    ),
    "reflacx_metadata": TableSpec(
        REFLACX_META_COLUMNS, "REFLACX/metadata.csv", "REFLACX/metadata.csv", index=True
    ),
    "eyegaze_master": TableSpec(
        MASTER_COLUMNS, "EyeGaze/master_sheet.csv", "EyeGaze/master_sheet_with_updated_stayId.csv", index=True
    ),
    "eyegaze_fixations": TableSpec(
        EYEGAZE_GAZE_COLUMNS, "EyeGaze/fixations.csv", "EyeGaze/fixations.csv", index=True
    ),
    "eyegaze_gaze": TableSpec(
        EYEGAZE_GAZE_COLUMNS, "EyeGaze/eye_gaze.csv", "EyeGaze/eye_gaze.csv", index=True
    ),
    "eyegaze_boxes": TableSpec(
        ["dicom_id", "bbox_name", "x1", "x2", "y1", "y2"],
        "EyeGaze/bounding_boxes.csv",
        "EyeGaze/bounding_boxes.csv",
        index=True,
    ),
}


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    index: bool = False,
    crlf: bool = False,
    start: int = 0,
) -> None:
    """Write rows of pre-formatted strings. ``index`` adds pandas' unnamed index column
    (numbered from ``start``); ``crlf`` ends lines with CRLF (REFLACX byte copies); a ``.gz``
    path is gzip-compressed (mtime 0, so the bytes depend on the rows only).

    Quoting follows :mod:`csv` (minimal). Large numeric tables take a fast path: joined
    directly when no field holds a comma, quote or line break, which gives the same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    eol = "\r\n" if crlf else "\n"
    if index:
        header = ["", *header]
        rows = [[str(start + i), *r] for i, r in enumerate(rows)]
    lines = [",".join(header), *map(",".join, rows)]
    body = "\n".join(lines)
    plain = (
        len(header) > 1
        and all(len(r) == len(header) for r in rows)
        and body.count(",") == len(lines) * (len(header) - 1)
        and body.count("\n") == len(lines) - 1
        and '"' not in body
        and "\r" not in body
    )
    if plain:
        text = eol.join(lines) + eol
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator=eol)
        w.writerow(header)
        w.writerows(rows)
        text = buf.getvalue()
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def _f(v: float | None, digits: int = 3) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _label(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


# --- CXR-JPG --------------------------------------------------------------------------------


def _images(st: StudyPlan) -> list[tuple[str, str]]:
    return [(st.dicom_id, st.view)] + ([(st.lateral_id, "LATERAL")] if st.lateral_id else [])


def meta_rows(plan: PatientPlan, st: StudyPlan) -> list[list[str]]:
    desc = "CHEST (PORTABLE AP)" if st.view == "AP" else "CHEST (PA AND LAT)"
    date = str(st.date)
    hhmmss = f"{float(st.time):010.3f}"
    dt = f"{date[:4]}-{date[4:6]}-{date[6:]} {hhmmss[:2]}:{hhmmss[2:4]}:{hhmmss[4:]}"
    out = []
    for dicom_id, view in _images(st):
        code = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral"}[view]
        frontal = view != "LATERAL"
        out.append(
            [
                dicom_id,
                str(plan.subject_id),
                str(st.study_id),
                desc,
                view,
                str(st.height),
                str(st.width),
                date,
                st.time,
                desc,
                code,
                "Recumbent" if st.view == "AP" else "Erect",
                str(frontal and st.eyegaze_class is not None),
                str(frontal and bool(st.readings)),
                dt,
                "" if st.stay_id is None else f"{st.stay_id:.1f}",
            ]
        )
    return out


def split_rows(plan: PatientPlan, st: StudyPlan) -> list[list[str]]:
    return [[d, str(st.study_id), str(plan.subject_id), plan.split] for d, _ in _images(st)]


def label_row(plan: PatientPlan, st: StudyPlan, values: dict[str, float]) -> list[str]:
    return [str(plan.subject_id), str(st.study_id), *[_label(values.get(c)) for c in CHEXPERT_COLUMNS]]


# --- REFLACX ----------------------------------------------------------------------------------


def phase_column(m: Mention, phase: int) -> str:
    """REFLACX label column of a mention in the vocabulary of ``phase``."""
    if phase == 1:
        if m.finding == "Pleural abnormality":
            return "Pleural effusion"
        if m.finding == "Lung nodule or mass":
            return "Mass" if m.kind == "mass" else "Nodule"
    return m.finding


def reflacx_metadata_row(plan: PatientPlan, st: StudyPlan, rd: Any, mentions: list[Mention]) -> list[str]:
    phase_labels = REFLACX_PHASE1_LABELS if rd.phase == 1 else REFLACX_PHASE23_LABELS
    cert: dict[str, int] = {}
    for m in mentions:
        col = phase_column(m, rd.phase)
        cert[col] = max(cert.get(col, 0), m.certainty)
    values = []
    for col in REFLACX_META_LABELS:
        if col not in phase_labels:
            values.append("")  # the other phase's column: NaN in the concatenated file
        elif col == "Other":
            values.append("")
        elif col in REFLACX_BOOLEAN_LABELS:
            values.append(str(cert.get(col, 0) >= 3))
        else:
            values.append(f"{cert.get(col, 0):.1f}")  # pandas writes these NaN-holding columns as floats
    sid = str(plan.subject_id)
    image = f"physionet.org/files/mimic-cxr/2.0.0/files/p{sid[:2]}/p{sid}/s{st.study_id}/{st.dicom_id}.dcm"
    return [
        rd.reading_id,
        plan.split,
        str(rd.discarded),
        image,
        st.dicom_id,
        sid,
        str(st.width),
        str(st.height),
        *values,
    ]


def ellipse_header(phase: int) -> list[str]:
    return [
        "xmin",
        "ymin",
        "xmax",
        "ymax",
        "certainty",
        *(REFLACX_PHASE1_LABELS if phase == 1 else REFLACX_PHASE23_LABELS),
    ]


def jitter_box(rng: np.random.Generator, b: Box, rel: float, size: tuple[int, int]) -> Box:
    """A reader's drawing of box ``b``: each edge moved by ~``rel`` of the box size, clipped to the image."""
    H, W = size
    w, h = b[2] - b[0], b[3] - b[1]
    d = rng.normal(0, rel, 4) * np.array([w, h, w, h])
    x0, y0, x1, y1 = b[0] + d[0], b[1] + d[1], b[2] + d[2], b[3] + d[3]
    return (
        float(np.clip(min(x0, x1 - 2), 0, W)),
        float(np.clip(min(y0, y1 - 2), 0, H)),
        float(np.clip(max(x1, x0 + 2), 0, W)),
        float(np.clip(max(y1, y0 + 2), 0, H)),
    )


def ellipse_rows(
    rng: np.random.Generator,
    mentions: list[Mention],
    findings: list[Finding],
    regions: dict[str, Box],
    phase: int,
    size: tuple[int, int],
) -> list[list[str]]:
    """One ellipse per located statement: around each drawn finding it refers to, or (for an
    absent finding called unlikely) inside the region named."""
    labels = REFLACX_PHASE1_LABELS if phase == 1 else REFLACX_PHASE23_LABELS
    rows = []
    for m in mentions:
        if m.finding == "Support devices" or m.certainty == 0:
            continue
        boxes = [findings[i].box for i in m.targets if findings[i].box is not None]
        if not boxes and m.regions and m.regions[0] in regions:
            r = regions[m.regions[0]]
            cx, cy, w, h = (r[0] + r[2]) / 2, (r[1] + r[3]) / 2, (r[2] - r[0]) * 0.3, (r[3] - r[1]) * 0.3
            boxes = [(cx - w, cy - h, cx + w, cy + h)]
        col = phase_column(m, phase)
        for b in boxes:
            e = jitter_box(rng, b, 0.06, size)
            rows.append([str(round(v)) for v in e] + [str(m.certainty)] + [str(c == col) for c in labels])
    return rows


def _fcol(values: np.ndarray, digits: int = 3) -> list[str]:
    """A column of fixed-point strings (NaN -> empty cell); formats Python floats, which is
    several times faster than formatting numpy scalars one by one."""
    fmt = f"{{:.{digits}f}}".format
    return ["" if v != v else fmt(v) for v in np.asarray(values, dtype=np.float64).tolist()]


def _icol(values: np.ndarray) -> list[str]:
    """A column of integers, rounded half to even (NaN -> empty cell)."""
    return ["" if v != v else str(int(v)) for v in np.round(np.asarray(values, dtype=np.float64)).tolist()]


def _crop_columns(g: GazeRecord, idx: np.ndarray) -> list[list[str]]:
    """The eight crop/screen columns for fixations ``idx``."""
    crop, rect = np.round(g.crop[idx]), g.rect[idx]
    return [_icol(crop[:, j]) for j in range(4)] + [_icol(rect[:, j]) for j in range(4)]


def write_reflacx_gaze(
    rdir: Path, reading_id: str, g: GazeRecord, rng: np.random.Generator, hz: float
) -> None:
    """``main_data/{id}/`` fixations, timestamps, transcription and ``gaze_data/{id}/gaze.csv`` (CRLF)."""
    mdir = rdir / "main_data" / reading_id
    n = len(g.start)
    ww, wl = (str(v) for v in g.window)
    every = np.arange(n)
    cols = [
        _fcol(g.start),
        _fcol(g.end),
        _icol(g.x),
        _icol(g.y),
        _fcol(g.pupil, 4),
        _icol(g.ppd[:, 0]),
        _icol(g.ppd[:, 1]),
        [ww] * n,
        [wl] * n,
        *_crop_columns(g, every),
    ]
    write_csv(mdir / "fixations.csv", REFLACX_FIXATION_COLUMNS, list(zip(*cols, strict=True)), crlf=True)
    words = [w for w, _, _ in g.words]
    times = np.array([(a, b) for _, a, b in g.words], dtype=np.float64).reshape(-1, 2)
    write_csv(
        mdir / "timestamps_transcription.csv",
        ["word", "timestamp_start_word", "timestamp_end_word"],
        list(zip(words, _fcol(times[:, 0]), _fcol(times[:, 1]), strict=True)),
        crlf=True,
    )
    text = " ".join(words)
    for p in ".,;:":
        text = text.replace(f" {p}", p)
    (mdir / "transcription.txt").write_bytes(text.encode("utf-8"))
    s = raw_samples(rng, g, hz)
    cur = np.clip(s["fix"], 0, max(n - 1, 0))
    m = len(s["t"])
    cols = [
        _fcol(s["t"]),
        _icol(s["x"]),
        _icol(s["y"]),
        _fcol(s["pupil"], 4),
        _icol(g.ppd[cur, 0]),
        _icol(g.ppd[cur, 1]),
        [ww] * m,
        [wl] * m,
        *_crop_columns(g, cur),
    ]
    write_csv(
        rdir / "gaze_data" / reading_id / "gaze.csv",
        REFLACX_GAZE_COLUMNS,
        list(zip(*cols, strict=True)),
        crlf=True,
    )


# --- EyeGaze ----------------------------------------------------------------------------------


def eyegaze_gaze_rows(
    st: StudyPlan,
    g: GazeRecord,
    rng: np.random.Generator,
    rect: tuple[int, int, int, int],
    hz: float,
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], int]:
    """EyeGaze ``fixations.csv`` and ``eye_gaze.csv`` rows of one image (GP3 columns) and the
    number of fixations off the image.

    Times are session times: image ``MEDIA_ID`` of a session is shown from ``120 * (MEDIA_ID-1)`` s.
    ``X_ORIGINAL``/``Y_ORIGINAL`` follow the screen-to-image formula with the master-sheet pads
    (``X = W / (1920 - L - R) * (FPOGX * 1920 - L)``), and are -1 when the point is off the image.
    """
    H, W = g.image_size
    L, T, R, B = rect[0], rect[1], 1920 - rect[2], 1080 - rect[3]
    session, media = st.eyegaze_session
    t0 = 120.0 * (media - 1)
    dicom = st.dicom_id

    def screen(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image px -> screen fractions (the inverse of the formula)."""
        return (x * (1920 - L - R) / W + L) / 1920, (y * (1080 - T - B) / H + T) / 1080

    fx, fy = screen(g.x, g.y)
    X = W / (1920 - L - R) * (fx * 1920 - L)
    Y = H / (1080 - T - B) * (fy * 1080 - T)
    off = (X < 0) | (X >= W) | (Y < 0) | (Y >= H)
    ox = np.where(off, -1, np.floor(X)).astype(int)
    oy = np.where(off, -1, np.floor(Y)).astype(int)
    sx, sy = fx * 1920, fy * 1080
    mag = np.hypot(np.diff(sx, prepend=sx[:1]), np.diff(sy, prepend=sy[:1]))  # saccade into each fixation
    ang = np.degrees(np.arctan2(-np.diff(sy, prepend=sy[:1]), np.diff(sx, prepend=sx[:1]))) + 0.0  # no "-0.0"
    pupil_mm = 3.2 + 0.6 * (g.pupil - 1.0)

    def table(
        t: np.ndarray, i: np.ndarray, valid: np.ndarray, bx: np.ndarray, by: np.ndarray, blink_id: np.ndarray
    ) -> list[tuple[str, ...]]:
        """Rows at times ``t`` whose current fixation is ``i``; NaN ``bx`` marks a blink."""
        n = len(t)
        ok = (~np.isnan(bx)).astype(int)
        okc = _icol(ok)

        def const(v: str) -> list[str]:
            return [v] * n

        cols = [
            const(str(session)),
            const(str(media)),
            const(dicom),
            _icol(np.arange(n)),
            _fcol(t0 + t, 5),
            _icol(np.floor((t0 + t) * 1e7)),
            _fcol(fx[i], 5),
            _fcol(fy[i], 5),
            _fcol(t0 + g.start[i], 5),
            _fcol(g.end[i] - g.start[i], 5),
            _icol(i + 1),
            _icol(valid),
            _fcol(np.nan_to_num(bx), 5),
            _fcol(np.nan_to_num(by), 5),
            okc,
            const("0.45000"),
            const("0.52000"),
            const("28.00000"),
            const("1.00000"),
            okc,
            const("0.58000"),
            const("0.52000"),
            const("28.00000"),
            const("1.00000"),
            okc,
            _icol(blink_id),
            const("0.00000"),
            const("12"),
            _fcol(pupil_mm[i], 5),
            okc,
            _fcol(pupil_mm[i], 5),
            okc,
            _fcol(mag[i], 5),
            _fcol(ang[i], 5),
            const("0"),
            _icol(ox[i]),
            _icol(oy[i]),
        ]
        return list(zip(*cols, strict=True))

    every = np.arange(len(g.start))
    fix = table(g.start, every, np.ones(len(every)), fx, fy, np.zeros(len(every)))
    s = raw_samples(rng, g, hz)
    cur = np.clip(s["fix"], 0, max(len(g.start) - 1, 0))
    bx, by = screen(s["x"], s["y"])
    blink = np.isnan(bx)
    starts = blink & ~np.concatenate([[False], blink[:-1]])
    blink_id = np.where(blink, np.cumsum(starts), 0)  # GP3 numbers blinks; 0 outside one
    valid = ((s["fix"] >= 0) & (s["t"] < g.end[cur])).astype(int)
    raw = table(s["t"], cur, valid, bx, by, blink_id)
    return fix, raw, int(off.sum())


def master_sheet_row(
    plan: PatientPlan,
    st: StudyPlan,
    rect: tuple[int, int, int, int],
    chex: dict[str, float],
    report: list[Mention],
) -> list[str]:
    cls = st.eyegaze_class or "Normal"
    stated = {m.finding: m for m in report if m.certainty >= 3}
    edema = stated.get("Pulmonary edema")
    granular = {
        "consolidation": "Consolidation" in stated,
        "enlarged_cardiac_silhouette": "Enlarged cardiac silhouette" in stated,
        "linear__patchy_atelectasis": "Atelectasis" in stated,
        "lobar__segmental_collapse": False,
        "not_otherwise_specified_opacity___pleural__parenchymal_opacity__": "Lung nodule or mass" in stated,
        "pleural_effusion_or_thickening": "Pleural abnormality" in stated,
        "pulmonary_edema__hazy_opacity": edema is not None,
        "normal_anatomically": not stated,
        "elevated_hemidiaphragm": False,
        "hyperaeration": False,
        "vascular_redistribution": edema is not None and edema.severity != "mild",
    }
    sid = str(plan.subject_id)
    dx, icd = DIAGNOSES[cls]
    decade = plan.age // 10 * 10
    return [
        st.dicom_id,
        f"files/p{sid[:2]}/p{sid}/s{st.study_id}/{st.dicom_id}.dcm",
        str(st.study_id),
        sid,
        "nan" if st.stay_id is None else f"{st.stay_id:.1f}",
        plan.sex,
        f"{decade} - {decade + 10}",
        str(rect[1]),
        str(1080 - rect[3]),
        str(rect[0]),
        str(1920 - rect[2]),
        dx,
        icd,
        *[""] * 16,
        "1" if cls == "Normal" else "0",
        *(str(int(cls == c)) for c in ("Normal", "CHF", "pneumonia")),
        *(str(int(granular[c])) for c in EYEGAZE_GRANULAR),
        *[_label(chex.get(c)) for c in CHEXPERT_COLUMNS],
        f"___ year old with {st.indication}.\nEvaluate for acute process.",
    ]


def bbox_rows(dicom_id: str, regions: dict[str, Box]) -> list[list[str]]:
    return [
        [dicom_id, name, _f(b[0], 2), _f(b[2], 2), _f(b[1], 2), _f(b[3], 2)]
        for name, b in ((n, regions[n]) for n in REGIONS)
    ]


# --- ground truth and aggregates ------------------------------------------------------------


def ground_truth(plan: PatientPlan, st: StudyPlan, rs: RenderedStudy | None, kind: str) -> dict[str, Any]:
    """One ``ground_truth.jsonl`` record; ``rs`` None for the lateral image (findings not drawn)."""
    frontal = rs is not None
    return {
        "dicom_id": st.dicom_id if frontal else st.lateral_id,
        "subject_id": plan.subject_id,
        "study_id": st.study_id,
        "split": plan.split,
        "view": st.view if frontal else "LATERAL",
        "image_size": [st.height, st.width],
        "confounders": [
            {"finding": f, "kind": kind, "box": [round(v, 1) for v in b]}
            for f, b in rs.confounder_boxes.items()
        ]
        if frontal
        else [],
        "findings": [f.to_json() for f in st.findings] if frontal else [],
        "regions": {k: [round(v, 1) for v in b] for k, b in rs.regions.items()} if frontal else {},
        "chest_box": [round(v, 1) for v in rs.chest_box] if frontal else None,
        "reflacx_readings": [r.reading_id for r in st.readings] if frontal else [],
        "in_eyegaze": bool(frontal and st.eyegaze_class is not None),
    }


def write_aggregates(
    out: Path, cfg: SynthConfig, plans: list[PatientPlan], results: list[PatientResult]
) -> dict:
    """``spreadsheets/`` copies, ``synthetic/ground_truth.jsonl`` and ``synthetic/cohort.json``."""
    sheets = out / "spreadsheets"
    for name, spec in AGGREGATED.items():
        rows = [r for res in results for r in res.rows[name]]
        write_csv(sheets / spec.spreadsheet_path, spec.header, rows, index=spec.index)
    meta = [r for res in results for r in res.rows["cxr_meta"]]
    with_stay = [(i, r) for i, r in enumerate(meta) if r[-1]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["", *CXR_META_COLUMNS])
    w.writerows([str(i), *r] for i, r in with_stay)
    (sheets / "cxr_meta_with_stay_id_only.csv").write_bytes(buf.getvalue().encode("utf-8"))
    syn = out / "synthetic"
    syn.mkdir(parents=True, exist_ok=True)
    gts = [gt for res in results for gt in res.ground_truth]
    (syn / "ground_truth.jsonl").write_text(
        "".join(json.dumps(gt, sort_keys=True) + "\n" for gt in gts), encoding="utf-8"
    )
    cohort = cohort_stats(cfg, plans, results, gts)
    (syn / "cohort.json").write_text(json.dumps(cohort, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return cohort


def _marked(record: dict, finding: str) -> bool:
    return any(c["finding"] == finding for c in record["confounders"])


def _rate(records: list[dict], finding: str) -> float | None:
    """Share of ``records`` that carry ``finding``'s marker (None for an empty list)."""
    return round(sum(_marked(g, finding) for g in records) / len(records), 4) if records else None


def cohort_stats(
    cfg: SynthConfig, plans: list[PatientPlan], results: list[PatientResult], gts: list[dict]
) -> dict:
    frontal = [gt for gt in gts if gt["view"] != "LATERAL"]
    splits = ("train", "validate", "test")
    prevalence: dict[str, dict[str, float]] = {}
    for split in splits:
        rows = [gt for gt in frontal if gt["split"] == split]
        n = max(len(rows), 1)
        prevalence[split] = {
            name: round(sum(any(f["name"] == name for f in gt["findings"]) for gt in rows) / n, 4)
            for name in SYNTH_FINDINGS
        }
        prevalence[split]["n_images"] = len(rows)
    conf: dict[str, dict[str, Any]] = {}
    for split in splits:
        rows = [gt for gt in frontal if gt["split"] == split]
        conf[split] = {"n_images": len(rows), "with_any_marker": sum(bool(g["confounders"]) for g in rows)}
        for target in cfg.confounder.findings:
            pos = [gt for gt in rows if any(f["name"] == target for f in gt["findings"])]
            neg = [gt for gt in rows if not any(f["name"] == target for f in gt["findings"])]
            conf[split][target] = {
                "with_marker": sum(_marked(g, target) for g in rows),
                "p_given_positive": _rate(pos, target),
                "p_given_negative": _rate(neg, target),
            }
    gaze = Counter()
    for res in results:
        gaze.update(res.counts)
    phases = Counter(rd.phase for p in plans for st in p.studies for rd in st.readings)
    return {
        "generator": "gazecxr.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "config": to_dict(cfg),
        "counts": {
            "patients": len(plans),
            "studies": sum(len(p.studies) for p in plans),
            "images": len(gts),
            "frontal_images": len(frontal),
            "lateral_images": len(gts) - len(frontal),
            "reflacx_readings": gaze["reflacx_readings"],
            "reflacx_readings_by_phase": {str(k): phases[k] for k in (1, 2, 3)},
            "reflacx_discarded": sum(rd.discarded for p in plans for st in p.studies for rd in st.readings),
            "eyegaze_images": gaze["eyegaze_images"],
            "eyegaze_classes": dict(
                Counter(st.eyegaze_class for p in plans for st in p.studies if st.eyegaze_class)
            ),
            "patients_per_split": dict(Counter(p.split for p in plans)),
        },
        "prevalence": prevalence,
        "confounder": {
            "enabled": cfg.confounder.enabled,
            "kind": cfg.confounder.kind,
            "findings": list(cfg.confounder.findings),
            "per_split": conf,
        },
        "gaze": {
            k: gaze[k]
            for k in (
                "reflacx_fixations",
                "reflacx_off_image",
                "reflacx_outside_crop",
                "eyegaze_fixations",
                "eyegaze_off_image",
            )
        },
    }
