"""The cohort plan: what every patient, study and reading of a synthetic cohort will be.

The parent process plans the whole cohort from the seed (identifiers, patients, splits, views,
findings, confounders, which images are read where, what every report says) before anything is
rendered (:mod:`gazecxr.synth.render`) or written (:mod:`gazecxr.synth.writer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.synth.config import ReadersConfig, SynthConfig
from gazecxr.synth.findings import Finding, sample_findings
from gazecxr.synth.language import Mention
from gazecxr.synth.phantom import Box
from gazecxr.synth.readers import report_mentions

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


@dataclass
class RenderedStudy:
    image: np.ndarray  # uint8 (H, W)
    regions: dict[str, Box]  # image px
    chest_box: Box
    confounder_boxes: dict[str, Box]  # confounded finding -> its marker's box (image px)
    masks: dict[str, np.ndarray]  # EyeGaze segmentation masks, bool (H, W)


@dataclass
class PatientResult:
    rows: dict[str, list[list[str]]]  # table name -> rows (without index column)
    ground_truth: list[dict]
    counts: dict[str, int]
