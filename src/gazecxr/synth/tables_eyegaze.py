"""EyeGaze (EGD-CXR) rows of a synthetic image: fixations and raw gaze (GP3 columns), master sheet,
anatomy boxes."""

from __future__ import annotations

import numpy as np

from gazecxr.data.anatomy import REGIONS
from gazecxr.data.format import EYEGAZE_GRANULAR
from gazecxr.data.labels import CHEXPERT_COLUMNS
from gazecxr.synth.csvfmt import _f, _fcol, _icol, _label
from gazecxr.synth.language import Mention
from gazecxr.synth.phantom import Box
from gazecxr.synth.plan import PatientPlan, StudyPlan
from gazecxr.synth.readers import GazeRecord, raw_samples

DIAGNOSES = {
    "CHF": ("Congestive heart failure, unspecified", "I509"),
    "pneumonia": ("Pneumonia, unspecified organism", "J189"),
    "Normal": ("Chest pain, unspecified", "R079"),
}


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
