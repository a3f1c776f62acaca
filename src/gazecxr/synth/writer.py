"""Write a synthetic cohort in the exact MIMIC-Eye layout (``docs/synthetic-cohort.md``).

The parent process plans the whole cohort from the seed (identifiers, patients, splits, views,
findings, confounders, which images are read where, what every report says); patients are
then rendered and written in parallel, each from its own seed, and the parent writes the
aggregated ``spreadsheets/`` and ``synthetic/`` files. The tree is therefore byte-identical
for a given seed and config, whatever the number of worker processes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from gazecxr.config import to_dict
from gazecxr.log import progress_disabled
from gazecxr.synth import releases, tables
from gazecxr.synth.config import TAG_SLOTS, ReadersConfig, SynthConfig
from gazecxr.synth.findings import Finding, mask_box, render_frontal, sample_findings
from gazecxr.synth.language import Mention, chexpert_row, dictation, report_text
from gazecxr.synth.phantom import Box, region_boxes, render_lateral, sample_anatomy, to_uint8
from gazecxr.synth.readers import (
    EYEGAZE_READER,
    REFLACX_READERS,
    GazeRecord,
    fit_rect,
    reading_mentions,
    report_mentions,
    simulate_reading,
)

log = logging.getLogger("gazecxr.synth")

INDICATIONS = (
    "shortness of breath",
    "chest pain",
    "fever and cough",
    "hypoxia",
    "line placement",
    "evaluation for pneumonia",
    "dyspnea on exertion",
    "preoperative assessment",
)


@dataclass
class ReadingPlan:
    reading_id: str
    phase: int
    reader: int  # index into REFLACX_READERS
    discarded: bool


@dataclass
class StudyPlan:
    study_id: int
    dicom_id: str
    lateral_id: str | None
    view: str
    height: int
    width: int
    date: int
    time: str
    stay_id: float | None
    seed: int
    findings: list[Finding]
    report: list[Mention]
    indication: str
    confounders: tuple[str, ...]  # findings whose marker is burned into the frontal image
    eyegaze_class: str | None  # "Normal" / "CHF" / "pneumonia" when read in EyeGaze
    readings: list[ReadingPlan] = field(default_factory=list)
    eyegaze_session: tuple[int, int] = (0, 0)  # SESSION_ID, MEDIA_ID


@dataclass
class PatientPlan:
    subject_id: int
    split: str
    sex: str
    age: int
    studies: list[StudyPlan]
    meta_offset: int = 0  # rows of the aggregated cxr_meta.csv before this patient (pandas index)


@dataclass
class CohortSummary:
    """What :func:`write_cohort` wrote (all counts also in ``synthetic/cohort.json``)."""

    out: Path
    patients: int
    studies: int
    images: int
    reflacx_readings: int
    eyegaze_images: int
    off_image_fixations: int
    outside_crop_fixations: int
    seconds: float
    cohort: dict[str, Any]


# --- planning -------------------------------------------------------------------------------


def _unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> list[int]:
    """``n`` distinct integers in [low, high), in random order."""
    out: set[int] = set()
    while len(out) < n:
        out.update(int(v) for v in rng.integers(low, high, n - len(out)))
    return [int(v) for v in rng.permutation(sorted(out))]


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(f"{int(v):08x}" for v in rng.integers(0, 2**32, 5, dtype=np.uint64))


def eyegaze_class(report: list[Mention]) -> str | None:
    """EGD-CXR class of a report: CHF (edema stated), pneumonia (consolidation stated),
    Normal (nothing stated present), or None (the image would not be in EGD-CXR)."""
    stated = {m.finding for m in report if m.certainty >= 3}
    if "Pulmonary edema" in stated and "Consolidation" not in stated:
        return "CHF"
    if "Consolidation" in stated and "Pulmonary edema" not in stated:
        return "pneumonia"
    if not stated:
        return "Normal"
    return None


def _choose_eyegaze(rng: np.random.Generator, studies: list[StudyPlan], n: int) -> list[int]:
    """Indices of the studies read in the EyeGaze session: as balanced over Normal / CHF /
    pneumonia as the cohort allows (EGD-CXR is balanced), in study order."""
    pools: dict[str, list[int]] = {"Normal": [], "CHF": [], "pneumonia": []}
    for k, st in enumerate(studies):
        cls = eyegaze_class(st.report)
        if cls is not None:
            pools[cls].append(k)
    for cls in pools:
        pools[cls] = [pools[cls][i] for i in rng.permutation(len(pools[cls]))]
    chosen: list[int] = []
    while len(chosen) < n and any(pools.values()):
        for cls in ("Normal", "CHF", "pneumonia"):
            if pools[cls] and len(chosen) < n:
                chosen.append(pools[cls].pop())
    return sorted(chosen)


def _plan_readings(srng: np.random.Generator, rc: ReadersConfig, numbers: list[int]) -> list[ReadingPlan]:
    """REFLACX readings of one image: phase, readers (several only in phases 1-2), ids, discarded."""
    u = srng.random()
    phase = 1 if u < rc.phase1_fraction else (2 if u < rc.phase1_fraction + rc.phase2_fraction else 3)
    multi = phase < 3 and rc.n_reflacx_readers > 1 and srng.random() < rc.multi_reader_fraction
    n_read = int(srng.integers(2, rc.n_reflacx_readers + 1)) if multi else 1
    readings = []
    for j, r in enumerate(srng.choice(rc.n_reflacx_readers, size=n_read, replace=False)):
        trial = int(srng.integers(1, 100))
        rid = f"P300R{numbers[j]:06d}" if phase == 3 else f"P{phase}{trial:02d}R{numbers[j]:06d}"
        readings.append(ReadingPlan(rid, phase, int(r), bool(srng.random() < rc.discarded_fraction)))
    return readings


def plan_cohort(cfg: SynthConfig) -> list[PatientPlan]:
    """Everything about the cohort except pixels and gaze (deterministic in ``cfg.seed``)."""
    rng = np.random.default_rng(cfg.seed)
    counts: list[int] = []
    while sum(counts) < cfg.studies:
        counts.append(min(int(rng.geometric(1.0 / cfg.studies_per_patient)), cfg.studies - sum(counts)))
    n_pat = len(counts)
    subjects = _unique_ints(rng, n_pat, 10_000_000, 20_000_000)
    study_ids = _unique_ints(rng, cfg.studies, 50_000_000, 60_000_000)
    reading_numbers = _unique_ints(rng, cfg.studies * 5, 100_000, 1_000_000)
    order = rng.permutation(n_pat)
    n_test = round(cfg.test_fraction * n_pat)
    n_val = round(cfg.validate_fraction * n_pat)
    split_of = np.array(["train"] * n_pat, dtype=object)
    split_of[order[:n_test]] = "test"
    split_of[order[n_test : n_test + n_val]] = "validate"
    seeds = np.random.SeedSequence(cfg.seed).spawn(cfg.studies)
    rc = cfg.readers
    conf = cfg.confounder
    patients: list[PatientPlan] = []
    study_rngs: list[np.random.Generator] = []
    k = 0
    for p, n_st in enumerate(counts):
        split = str(split_of[p])
        sex = "M" if rng.random() < 0.52 else "F"
        age = int(rng.integers(25, 92))
        studies = []
        day = int(rng.integers(0, 3000))
        for _ in range(n_st):
            srng = np.random.default_rng(seeds[k])
            view = "AP" if srng.random() < cfg.ap_fraction else "PA"
            aspect = srng.uniform(0.8, 0.87)
            findings = sample_findings(srng, cfg, view)
            report = report_mentions(srng, findings, rc)
            present = {f.name for f in findings}
            # Always drawn, so that a cohort without confounders is the same cohort minus the markers.
            u = srng.random(len(conf.findings))
            if split == "test":
                p_marker = [conf.p_test] * len(conf.findings)
            else:
                p_marker = [conf.p_positive if f in present else conf.p_negative for f in conf.findings]
            confounders = tuple(
                f for f, ui, pi in zip(conf.findings, u, p_marker, strict=True) if conf.enabled and ui < pi
            )
            day += int(srng.integers(1, 400))
            hh, mm, ss = int(srng.integers(0, 24)), int(srng.integers(0, 60)), srng.uniform(0, 60)
            st = StudyPlan(
                study_id=study_ids[k],
                dicom_id=_dicom_id(srng),
                lateral_id=_dicom_id(srng) if srng.random() < cfg.lateral_fraction else None,
                view=view,
                height=cfg.image_size,
                width=round(cfg.image_size * aspect),
                date=int(
                    (np.datetime64("2150-01-01") + np.timedelta64(day, "D")).astype(str).replace("-", "")
                ),
                time=f"{hh * 10000 + mm * 100 + ss:.3f}",  # HHMMSS.fff, leading zeros lost
                stay_id=float(srng.integers(30_000_000, 40_000_000)) if srng.random() < 0.6 else None,
                seed=int(srng.integers(0, 2**63 - 1)),
                findings=findings,
                report=report,
                indication=INDICATIONS[int(srng.integers(len(INDICATIONS)))],
                confounders=confounders,
                eyegaze_class=None,
            )
            studies.append(st)
            study_rngs.append(srng)
            k += 1
        patients.append(PatientPlan(subjects[p], split, sex, age, studies))
    all_studies = [st for pp in patients for st in pp.studies]
    eyegaze = {
        k: i
        for i, k in enumerate(
            _choose_eyegaze(rng, all_studies, round(rc.eyegaze_fraction * len(all_studies)))
        )
    }
    for k, (st, srng) in enumerate(zip(all_studies, study_rngs, strict=True)):
        if k in eyegaze:
            st.eyegaze_class = eyegaze_class(st.report)
            st.eyegaze_session = (1 + eyegaze[k] // 50, 1 + eyegaze[k] % 50)  # 50 images per session
        if k not in eyegaze or srng.random() < rc.both_fraction:
            st.readings = _plan_readings(srng, rc, reading_numbers[5 * k : 5 * k + 5])
    offset = 0
    for pp in patients:
        pp.meta_offset = offset
        offset += sum(1 + (st.lateral_id is not None) for st in pp.studies)
    return patients


# --- rendering one study --------------------------------------------------------------------


def _scale_box(b: Box, sx: float, sy: float) -> Box:
    return (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)


@dataclass
class RenderedStudy:
    image: np.ndarray  # uint8 (H, W)
    regions: dict[str, Box]  # image px
    chest_box: Box
    confounder_boxes: dict[str, Box]  # confounded finding -> its marker's box (image px)
    masks: dict[str, np.ndarray]  # EyeGaze segmentation masks, bool (H, W)


def render_study(st: StudyPlan, cfg: SynthConfig, rng: np.random.Generator) -> RenderedStudy:
    """Render the frontal image of a study; sets every finding's ``box`` (image px)."""
    H, W = st.height, st.width
    r = min(1.0, cfg.render_size / max(H, W))
    Hr, Wr = max(32, round(H * r)), max(32, round(W * r))
    an = sample_anatomy(rng, Hr, Wr, st.view)
    rendering = render_frontal(an, st.findings, int(rng.integers(0, 2**31)), cfg)
    sx, sy = W / Wr, H / Hr
    for f, m in zip(st.findings, rendering.masks, strict=True):
        b = mask_box(m)
        f.box = _scale_box(b, sx, sy) if b is not None else None
    regions = {k: _scale_box(v, sx, sy) for k, v in region_boxes(an, rendering.layers).items()}
    image = to_uint8(rendering.grey, (H, W), rng, cfg.noise)
    # Its own random stream: with or without the marker, everything else is identical.
    crng = np.random.default_rng([st.seed, 1])
    confounder_boxes = {
        f: _burn_confounder(image, cfg, crng, an, sx, sy, cfg.confounder.findings.index(f))
        for f in st.confounders
    }
    lungs = [regions["right lung"], regions["left lung"], regions["cardiac silhouette"]]
    chest = (
        min(b[0] for b in lungs),
        min(b[1] for b in lungs),
        max(b[2] for b in lungs),
        max(b[3] for b in lungs),
    )
    L = rendering.layers
    seg = {
        "right_lung": L.lung_full[0],
        "left_lung": L.lung_full[1],
        "mediastanum": np.maximum(L.mediastinum, L.heart),  # (sic) EyeGaze file name
        "aortic_knob": L.aortic_knob,
    }
    masks = {
        k: np.asarray(Image.fromarray((v > 0.5).astype(np.uint8) * 255).resize((W, H), Image.NEAREST)) > 0
        for k, v in seg.items()
    }
    return RenderedStudy(image, regions, chest, confounder_boxes, masks)


def _burn_confounder(
    image: np.ndarray, cfg: SynthConfig, rng: np.random.Generator, an: Any, sx: float, sy: float, slot: int
) -> Box:
    """Burn the marker of the ``slot``-th confounded finding into the image (in place); returns its box in image px."""
    H, W = image.shape
    c = cfg.confounder
    value = np.uint8(round(255 * c.intensity))
    if c.kind == "tag":
        tw = max(8, round(c.size * W))
        th = max(4, round(0.3 * tw))
        fx, fy = TAG_SLOTS[slot]
        x0 = round(fx * W) if fx >= 0 else W + round(fx * W) - tw
        y0 = min(round(fy * H), H - th)
        glyphs = rng.random((5, 4 * 4)) < 0.55  # four block "characters" of 4 x 5 cells
        glyphs[:, 3::4] = False  # spacing column between characters
        cells = (
            np.asarray(
                Image.fromarray(glyphs.astype(np.uint8) * 255).resize(
                    (tw - 2 * max(1, tw // 16), th - 2 * max(1, th // 6)), Image.NEAREST
                )
            )
            > 0
        )
        patch = np.zeros((th, tw), dtype=np.uint8)
        oy, ox = max(1, th // 6), max(1, tw // 16)
        patch[oy : oy + cells.shape[0], ox : ox + cells.shape[1]][cells] = value
        image[y0 : y0 + th, x0 : x0 + tw] = patch
        return float(x0), float(y0), float(x0 + tw), float(y0 + th)
    # ECG electrode on the lateral chest wall: bright rim, grey centre, short lead wire.
    side = 1.0 if slot == 0 else -1.0
    px, py = an.to_px(side * rng.uniform(0.65, 0.8), rng.uniform(0.0, 0.4))
    cx, cy, rad = float(px) * sx, float(py) * sy, max(3.0, c.size * W / 6)
    ys, xs = np.mgrid[0:H, 0:W]
    d = np.hypot(xs - cx, ys - cy)
    rim = (d < rad) & (d > 0.6 * rad)
    image[rim] = value
    image[d <= 0.6 * rad] = np.maximum(image[d <= 0.6 * rad], value // 2)
    wire = (np.abs(ys - cy) < max(1.0, rad / 6)) & ((xs - cx) * side > rad) & ((xs - cx) * side < 4 * rad)
    image[wire] = value
    return cx - rad, cy - rad, cx + rad, cy + rad


# --- writing one patient --------------------------------------------------------------------


@dataclass
class PatientResult:
    rows: dict[str, list[list[str]]]  # table name -> rows (without index column)
    ground_truth: list[dict]
    counts: dict[str, int]


def _write_jpg(path: Path, image: np.ndarray, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=quality, optimize=False)


def write_patient(plan: PatientPlan, cfg: SynthConfig, out: Path) -> PatientResult:
    """Render and write ``patient_{subject_id}/``; return rows for the aggregated tables."""
    pdir = out / f"patient_{plan.subject_id}"
    rows: dict[str, list[list[str]]] = {name: [] for name in tables.AGGREGATED}
    gts: list[dict] = []
    counts = {
        "reflacx_fixations": 0,
        "reflacx_off_image": 0,
        "reflacx_outside_crop": 0,
        "eyegaze_fixations": 0,
        "eyegaze_off_image": 0,
        "reflacx_readings": 0,
        "eyegaze_images": 0,
    }
    for st in plan.studies:
        rng = np.random.default_rng(st.seed)
        rs = render_study(st, cfg, rng)
        jdir = pdir / "CXR-JPG" / f"s{st.study_id}"
        _write_jpg(jdir / f"{st.dicom_id}.jpg", rs.image, cfg.jpeg_quality)
        gts.append(tables.ground_truth(plan, st, rs, cfg.confounder.kind))
        if st.lateral_id:
            lat = render_lateral(
                rng,
                min(st.height, cfg.render_size),
                min(st.width, round(cfg.render_size * st.width / st.height)),
            )
            _write_jpg(
                jdir / f"{st.lateral_id}.jpg",
                to_uint8(lat, (st.height, st.width), rng, cfg.noise),
                cfg.jpeg_quality,
            )
            gts.append(tables.ground_truth(plan, st, None, cfg.confounder.kind))
        text, stated = report_text(st.report, rng, st.view, plan.sex, st.indication)
        ddir = pdir / "CXR-DICOM"
        ddir.mkdir(parents=True, exist_ok=True)
        (ddir / f"s{st.study_id}.txt").write_text(text, encoding="utf-8", newline="\n")
        chex, negbio = chexpert_row(stated), chexpert_row(stated, negbio=True)
        rows["cxr_meta"] += tables.meta_rows(plan, st)
        rows["cxr_split"] += tables.split_rows(plan, st)
        rows["cxr_chexpert"].append(tables.label_row(plan, st, chex))
        rows["cxr_negbio"].append(tables.label_row(plan, st, negbio))
        for rd in st.readings:
            meta, c = _write_reflacx_reading(pdir, plan, st, rd, rs, cfg, rng)
            rows["reflacx_metadata"].append(meta)
            for key, v in c.items():
                counts[key] += v
            counts["reflacx_readings"] += 1
        if st.eyegaze_class is not None:
            eg, c = _eyegaze_rows(pdir, plan, st, rs, cfg, rng, chex)
            for key, v in eg.items():
                rows[key] += v
            for key, v in c.items():
                counts[key] += v
            counts["eyegaze_images"] += 1
    for name, spec in tables.AGGREGATED.items():
        if rows[name]:  # a folder exists only when the patient has rows for it
            start = plan.meta_offset if name == "cxr_meta" else 0
            tables.write_csv(pdir / spec.patient_path, spec.header, rows[name], index=spec.index, start=start)
    return PatientResult(rows, gts, counts)


def _reading_gaze_counts(g: GazeRecord) -> dict[str, int]:
    """Fixations written off the image / outside the crop shown (integer positions as written)."""
    H, W = g.image_size
    x, y, c = np.round(g.x), np.round(g.y), np.round(g.crop)
    off = (x < 0) | (x >= W) | (y < 0) | (y >= H)
    # The crop is the half-open pixel range [xmin, xmax) x [ymin, ymax), like the image itself.
    outside = ~off & ((x < c[:, 0]) | (x >= c[:, 2]) | (y < c[:, 1]) | (y >= c[:, 3]))
    return {
        "reflacx_fixations": len(g.x),
        "reflacx_off_image": int(off.sum()),
        "reflacx_outside_crop": int(outside.sum()),
    }


def _write_reflacx_reading(
    pdir: Path,
    plan: PatientPlan,
    st: StudyPlan,
    rd: ReadingPlan,
    rs: RenderedStudy,
    cfg: SynthConfig,
    rng: np.random.Generator,
) -> tuple[list[str], dict[str, int]]:
    profile = REFLACX_READERS[rd.reader]
    mentions = reading_mentions(rng, profile, st.findings, cfg.readers)
    labels = [m for m in mentions if m.certainty > 0]
    mdir = pdir / "REFLACX" / "main_data" / rd.reading_id
    tables.write_csv(
        mdir / "anomaly_location_ellipses.csv",
        tables.ellipse_header(rd.phase),
        tables.ellipse_rows(rng, labels, st.findings, rs.regions, rd.phase, (st.height, st.width)),
        crlf=True,
    )
    cb = tables.jitter_box(rng, rs.chest_box, 0.02, (st.height, st.width))
    tables.write_csv(
        mdir / "chest_bounding_box.csv",
        ["xmin", "ymin", "xmax", "ymax"],
        [[str(round(v)) for v in cb]],
        crlf=True,
    )
    counts: dict[str, int] = {}
    if not rd.discarded:
        sentences = dictation(mentions, profile.style, st.view)
        g = simulate_reading(
            rng, profile, (st.height, st.width), rs.regions, st.findings, sentences, cfg.readers
        )
        tables.write_reflacx_gaze(pdir / "REFLACX", rd.reading_id, g, rng, cfg.readers.gaze_hz)
        counts = _reading_gaze_counts(g)
    return tables.reflacx_metadata_row(plan, st, rd, mentions), counts


def _eyegaze_rows(
    pdir: Path,
    plan: PatientPlan,
    st: StudyPlan,
    rs: RenderedStudy,
    cfg: SynthConfig,
    rng: np.random.Generator,
    chex: dict[str, float],
) -> tuple[dict[str, list[list[str]]], dict[str, int]]:
    mentions = reading_mentions(rng, EYEGAZE_READER, st.findings, cfg.readers)
    sentences = dictation(mentions, EYEGAZE_READER.style, st.view)
    g = simulate_reading(
        rng,
        EYEGAZE_READER,
        (st.height, st.width),
        rs.regions,
        st.findings,
        sentences,
        cfg.readers,
        screen=(1920, 1080),
        allow_zoom=False,
    )
    tdir = pdir / "EyeGaze" / "audio_segmentation_transcripts" / st.dicom_id
    tdir.mkdir(parents=True, exist_ok=True)
    transcript = {
        "full_text": " ".join(s.text for s in sentences),
        "time_stamped_text": [
            {"phrase": s.text, "begin_time": round(b, 3), "end_time": round(e, 3)}
            for s, (b, e) in zip(sentences, g.sentence_spans, strict=True)
        ],
    }
    (tdir / "transcript.json").write_text(json.dumps(transcript, indent=1), encoding="utf-8")
    for name, mask in rs.masks.items():
        Image.fromarray(mask.astype(np.uint8) * 255).save(tdir / f"{name}.png", optimize=False)
    rect = fit_rect((0.0, 0.0, float(st.width), float(st.height)), (1920, 1080))
    fix, raw, off = tables.eyegaze_gaze_rows(st, g, rng, rect, cfg.readers.eyegaze_hz)
    rows = {
        "eyegaze_master": [tables.master_sheet_row(plan, st, rect, chex, st.report)],
        "eyegaze_fixations": fix,
        "eyegaze_gaze": raw,
        "eyegaze_boxes": tables.bbox_rows(st.dicom_id, rs.regions),
    }
    return rows, {
        "eyegaze_fixations": len(fix),
        "eyegaze_off_image": off,
    }


# --- the cohort -----------------------------------------------------------------------------


def _worker(args: tuple[PatientPlan, dict, str]) -> PatientResult:
    plan, cfg_dict, out = args
    return write_patient(plan, SynthConfig.model_validate(cfg_dict), Path(out))


def _tick(progress: tqdm, result: PatientResult) -> PatientResult:
    progress.update(1)
    return result


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Make ``out`` an empty folder marked as a synthetic cohort (``synthetic/INCOMPLETE``)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder for the cohort")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out} exists and is not empty (use --overwrite to replace a synthetic cohort)"
            )
        if not (out / "synthetic").is_dir():
            raise FileExistsError(
                f"{out} is not a synthetic cohort (no synthetic/ folder); refusing to delete it"
            )
        shutil.rmtree(out)
    # The synthetic/ folder marks the tree as ours from the start, so an interrupted run can be
    # overwritten; INCOMPLETE disappears when the last file is written.
    (out / "synthetic").mkdir(parents=True, exist_ok=True)
    (out / "synthetic" / "INCOMPLETE").write_text("gazecxr synth is writing this tree\n", encoding="utf-8")


def write_cohort(
    out: str | Path,
    cfg: SynthConfig,
    overwrite: bool = False,
    workers: int | None = None,
    layout: str = "mimic-eye",
) -> CohortSummary:
    """Write a complete synthetic cohort under ``out``.

    ``layout``: ``mimic-eye`` (the MIMIC-Eye tree), or ``reflacx`` / ``egd`` for the stand-alone
    release next to MIMIC-CXR-JPG (:mod:`gazecxr.synth.releases`). ``workers``: processes
    (None or 0 = min(CPU count, 4)); the tree does not depend on it.

    Raises:
        FileExistsError: ``out`` exists and is not empty, and ``overwrite`` is False (or it
            does not look like a synthetic cohort, which is never deleted).
    """
    t0 = time.perf_counter()
    out = Path(out)
    _prepare_out(out, overwrite)
    if layout != "mimic-eye":
        build = out / ".mimic-eye-build"
        summary = write_cohort(build, cfg, overwrite=True, workers=workers)
        info = releases.write_releases(build, out, layout, cfg)
        releases.finish(build, out, info)
        summary.cohort["releases"] = info
        summary.out, summary.seconds = out, time.perf_counter() - t0
        return summary
    plans = plan_cohort(cfg)
    workers = workers or min(os.cpu_count() or 1, 4)
    cfg_dict = to_dict(cfg)
    jobs = [(p, cfg_dict, str(out)) for p in plans]
    progress = tqdm(total=len(jobs), desc="patients", unit="patient", disable=progress_disabled())
    with progress:
        if workers <= 1 or len(plans) < 4:
            results = [_tick(progress, _worker(j)) for j in jobs]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                chunk = max(1, len(jobs) // (8 * workers))
                results = [_tick(progress, r) for r in pool.map(_worker, jobs, chunksize=chunk)]
    cohort = tables.write_aggregates(out, cfg, plans, results)
    (out / "synthetic" / "INCOMPLETE").unlink()
    summary = CohortSummary(
        out=out,
        patients=len(plans),
        studies=cfg.studies,
        images=cohort["counts"]["images"],
        reflacx_readings=cohort["counts"]["reflacx_readings"],
        eyegaze_images=cohort["counts"]["eyegaze_images"],
        off_image_fixations=cohort["gaze"]["reflacx_off_image"] + cohort["gaze"]["eyegaze_off_image"],
        outside_crop_fixations=cohort["gaze"]["reflacx_outside_crop"],
        seconds=time.perf_counter() - t0,
        cohort=cohort,
    )
    log.info(
        "wrote %d images of %d patients to %s in %.1f s",
        summary.images,
        summary.patients,
        out,
        summary.seconds,
    )
    return summary
