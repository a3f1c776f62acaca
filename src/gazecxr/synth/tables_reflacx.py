"""REFLACX files of a synthetic reading: metadata row, ellipses, chest box, fixations and raw gaze."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.data.format import REFLACX_FIXATION_COLUMNS, REFLACX_GAZE_COLUMNS, REFLACX_META_LABELS
from gazecxr.data.labels import REFLACX_BOOLEAN_LABELS, REFLACX_PHASE1_LABELS, REFLACX_PHASE23_LABELS
from gazecxr.synth.csvfmt import _fcol, _icol, write_csv
from gazecxr.synth.findings import Finding
from gazecxr.synth.language import Mention
from gazecxr.synth.phantom import Box
from gazecxr.synth.plan import PatientPlan, StudyPlan
from gazecxr.synth.readers import GazeRecord, raw_samples


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
