"""Rows and files of the MIMIC-Eye tables (columns exactly as in ``mimic-eye-format.md``).

Every value is formatted here, as a string, so the bytes written are fully determined.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazecxr.config import to_dict
from gazecxr.data.format import (
    CXR_META_COLUMNS,
    EYEGAZE_GAZE_COLUMNS,
    MASTER_COLUMNS,
    REFLACX_META_COLUMNS,
)
from gazecxr.data.labels import (
    CHEXPERT_COLUMNS,
)
from gazecxr.data.layout import SYNTHETIC_FACTS
from gazecxr.synth.config import SYNTH_FINDINGS, SynthConfig
from gazecxr.synth.csvfmt import _label, write_csv
from gazecxr.synth.plan import PatientPlan, PatientResult, RenderedStudy, StudyPlan

GENERATOR_VERSION = 4  # bump when the same seed and config would give a different tree


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


# --- EyeGaze ----------------------------------------------------------------------------------


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
    (out / SYNTHETIC_FACTS).write_text(json.dumps(cohort, indent=2, sort_keys=True) + "\n", encoding="utf-8")
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
