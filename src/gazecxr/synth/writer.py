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
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from gazecxr.config import to_dict
from gazecxr.log import progress_disabled
from gazecxr.synth import releases, tables, tables_eyegaze, tables_reflacx
from gazecxr.synth.config import SynthConfig
from gazecxr.synth.csvfmt import write_csv
from gazecxr.synth.language import chexpert_row, dictation, report_text
from gazecxr.synth.phantom import render_lateral, to_uint8
from gazecxr.synth.plan import (
    CohortSummary,
    PatientPlan,
    PatientResult,
    ReadingPlan,
    RenderedStudy,
    StudyPlan,
    plan_cohort,
)
from gazecxr.synth.readers import (
    EYEGAZE_READER,
    REFLACX_READERS,
    GazeRecord,
    fit_rect,
    reading_mentions,
    simulate_reading,
)
from gazecxr.synth.render import _write_jpg, render_study

log = logging.getLogger("gazecxr.synth")


# --- planning -------------------------------------------------------------------------------


# --- rendering one study --------------------------------------------------------------------


# --- writing one patient --------------------------------------------------------------------


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
            write_csv(pdir / spec.patient_path, spec.header, rows[name], index=spec.index, start=start)
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
    write_csv(
        mdir / "anomaly_location_ellipses.csv",
        tables_reflacx.ellipse_header(rd.phase),
        tables_reflacx.ellipse_rows(rng, labels, st.findings, rs.regions, rd.phase, (st.height, st.width)),
        crlf=True,
    )
    cb = tables_reflacx.jitter_box(rng, rs.chest_box, 0.02, (st.height, st.width))
    write_csv(
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
        tables_reflacx.write_reflacx_gaze(pdir / "REFLACX", rd.reading_id, g, rng, cfg.readers.gaze_hz)
        counts = _reading_gaze_counts(g)
    return tables_reflacx.reflacx_metadata_row(plan, st, rd, mentions), counts


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
    fix, raw, off = tables_eyegaze.eyegaze_gaze_rows(st, g, rng, rect, cfg.readers.eyegaze_hz)
    rows = {
        "eyegaze_master": [tables_eyegaze.master_sheet_row(plan, st, rect, chex, st.report)],
        "eyegaze_fixations": fix,
        "eyegaze_gaze": raw,
        "eyegaze_boxes": tables_eyegaze.bbox_rows(st.dicom_id, rs.regions),
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
