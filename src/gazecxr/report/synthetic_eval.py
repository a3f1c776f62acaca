"""Region grounding of generated reports on the synthetic cohort (where the truth is known).

For every frontal test image of a ``gazecxr synth`` tree, a trained run predicts, a report is
written (the image's own 17 anatomy boxes from ``OUT/synthetic/ground_truth.jsonl``), and each stated
finding that is truly drawn (and that the dictionary locates) is checked:

- ``region_hit``: an assigned region is one of the regions the finding was drawn in;
- ``side_hit``: the assigned sides (right / left / both) are exactly the sides it was drawn on, so a
  bilateral statement about a one-sided finding is a miss;
- ``ellipse_hit``: the centre of a REFLACX ellipse drawn for that finding on that image lies in an
  assigned region box (readings of the image that have ellipses for it).

The same is computed with a uniform attention map (``prior_only``: regions from the dictionary priors
alone), so the contribution of the model's attention is visible, with raw attention mass instead
of density as region evidence (``attention_mass``, see :func:`gazecxr.report.regions.region_evidence`),
and with the boxes a user without anatomy boxes gets instead of the true ones: the anatomy
localiser's (``localiser_boxes``, :meth:`gazecxr.anatomy.localiser.Localiser.locate`: its boxes, those placed
from its lungs, or the atlas where it is not confident) and the atlas alone (``atlas_boxes``); the ellipse hit is then judged in those boxes.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.anatomy.localiser import Localiser, find_anatomy
from gazecxr.data.images import load_image
from gazecxr.data.labels import FINDINGS, REFLACX_PHASE1_TO_CANONICAL
from gazecxr.prediction import Anatomy, Box
from gazecxr.report.config import ReportConfig
from gazecxr.report.generate import Report, dictionary_for, generate_report

log = logging.getLogger("gazecxr.report")


def _side(region: str) -> str | None:
    return region.split(" ")[0] if region.startswith(("right ", "left ")) else None


def read_ground_truth(root: Path, split: str) -> list[dict[str, Any]]:
    """Frontal ground-truth records of ``split`` from ``root/synthetic/ground_truth.jsonl``."""
    path = root / "synthetic" / "ground_truth.jsonl"
    if not path.is_file():
        raise ValueError(f"{path}: not found (is {root} a `gazecxr synth` tree?)")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not valid JSON ({exc})") from None
        if rec.get("split") == split and rec.get("view") != "LATERAL":
            records.append(rec)
    return records


def read_ellipses(
    root: Path, subject_id: str, reading_id: str, size: tuple[int, int]
) -> list[tuple[Box, set[str]]]:
    """REFLACX ellipses of a reading: (normalised box, canonical labels); [] when the file is absent."""
    path = (
        root
        / f"patient_{subject_id}"
        / "REFLACX"
        / "main_data"
        / reading_id
        / "anomaly_location_ellipses.csv"
    )
    if not path.is_file():
        return []
    h, w = size
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            labels = set()
            for col, val in row.items():
                if col and str(val).strip().lower() == "true":
                    name = REFLACX_PHASE1_TO_CANONICAL.get(col, col)
                    if name in FINDINGS:
                        labels.add(name)
            try:
                box = (
                    float(row["xmin"]) / w,
                    float(row["ymin"]) / h,
                    float(row["xmax"]) / w,
                    float(row["ymax"]) / h,
                )
            except (KeyError, ValueError):
                log.warning("%s: ellipse row without numeric xmin/ymin/xmax/ymax skipped", path)
                continue
            out.append((box, labels))
    return out


def score_report(
    report: Report,
    truth: dict[str, Any],
    boxes: dict[str, Box],
    ellipses: list[tuple[Box, set[str]]],
    locate: dict[str, bool],
) -> list[dict[str, Any]]:
    """Per stated, truly drawn, located finding: region / side / ellipse hits (None when not applicable)."""
    drawn: dict[str, set[str]] = defaultdict(set)
    for f in truth.get("findings", []):
        drawn[f["name"]].update(f.get("regions") or [])
    rows = []
    for f in report.findings:
        if f.name not in drawn or not locate.get(f.name, False) or not f.regions:
            continue
        true_regions = drawn[f.name]
        true_sides = {_side(r) for r in true_regions} - {None}
        got_sides = {_side(r) for r in f.regions} - {None}
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b, labels in ellipses if f.name in labels]
        in_box = [
            any(
                boxes[r][0] <= x <= boxes[r][2] and boxes[r][1] <= y <= boxes[r][3]
                for r in f.regions
                if r in boxes
            )
            for x, y in centres
        ]
        rows.append(
            {
                "finding": f.name,
                "regions": list(f.regions),
                "true_regions": sorted(true_regions),
                "region_hit": bool(set(f.regions) & true_regions) if true_regions else None,
                "side_hit": got_sides == true_sides if true_sides and got_sides else None,
                "ellipse_hit": any(in_box) if centres else None,
            }
        )
    return rows


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n_findings": len(rows)}
    for key in ("region_hit", "side_hit", "ellipse_hit"):
        vals = [r[key] for r in rows if r[key] is not None]
        out[f"{key}_rate"] = float(np.mean(vals)) if vals else None
        out[f"n_{key}"] = len(vals)
    return out


def evaluate_regions(
    run_dir: str | Path,
    root: str | Path,
    split: str = "test",
    cfg: ReportConfig | None = None,
    limit: int | None = None,
    reports_path: str | Path | None = None,
    localiser: Localiser | None = None,
) -> dict[str, Any]:
    """Reports for every frontal ``split`` image of a synthetic tree, and their region grounding.

    Args:
        run_dir: trained run (``gazecxr train --out``).
        root: the ``gazecxr synth`` output tree.
        localiser: the anatomy localiser of the ``localiser_boxes`` variant (None: the shipped one).
        cfg: report configuration (default: the run's ``report`` section with its calibrated cut-points).
        limit: only the first ``limit`` images (quick runs).
        reports_path: optional JSONL file receiving every report (``dicom_id``, text, findings).

    Returns:
        summary with ``attention`` (each finding placed by its own map when the model has
        per-label maps), ``mixture_attention`` (every finding placed by the probability-weighted
        mixture; only for per-label models), ``prior_only`` and ``attention_mass`` rates,
        per-finding rates (``attention``), counts.
    """
    from gazecxr.train.predict import Predictor

    root = Path(root)
    predictor = Predictor.from_run(run_dir)
    localiser = localiser or Localiser.load()
    if cfg is None:
        from gazecxr.report.calibrate import run_report_config

        cfg = run_report_config(run_dir, predictor.cfg.report)
    records = read_ground_truth(root, split)[:limit]
    if not records:
        raise ValueError(f"{root}: no frontal images in split {split!r}")
    locate = {n: f.locate for n, f in dictionary_for(cfg).findings.items()}
    variants = {
        "attention": cfg,
        "mixture_attention": cfg,
        "prior_only": cfg,
        "attention_mass": cfg.model_copy(update={"region_evidence": "mass"}),
        "localiser_boxes": cfg,
        "atlas_boxes": cfg,
    }
    box_sources: dict[str, int] = defaultdict(int)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    out_lines = []
    for rec in records:
        h, w = rec["image_size"]
        path = (
            root
            / f"patient_{rec['subject_id']}"
            / "CXR-JPG"
            / f"s{rec['study_id']}"
            / f"{rec['dicom_id']}.jpg"
        )
        boxes = {k: (b[0] / w, b[1] / h, b[2] / w, b[3] / h) for k, b in rec.get("regions", {}).items()}
        pred = predictor.predict_path(path)
        pred.anatomy = Anatomy.from_dataset(boxes)
        ellipses = [
            e
            for rid in rec.get("reflacx_readings", [])
            for e in read_ellipses(root, rec["subject_id"], rid, (h, w))
        ]
        given = {
            "prior_only": replace(
                pred, attention=np.ones_like(pred.attention) / pred.attention.size, class_attention=None
            ),
            "mixture_attention": replace(pred, class_attention=None),
        }
        image = load_image(path, draft_size=512)
        located = localiser.locate(image)
        box_sources[located.source] += 1
        given["localiser_boxes"] = replace(pred, anatomy=located)
        given["atlas_boxes"] = replace(pred, anatomy=find_anatomy(image, None))
        for name, variant_cfg in variants.items():
            if name == "mixture_attention" and pred.class_attention is None:
                continue
            report = generate_report(given.get(name, pred), variant_cfg)
            scored = score_report(
                report, rec, given[name].anatomy.boxes if name in given else boxes, ellipses, locate
            )
            rows[name] += scored
            if name == "attention":
                out_lines.append(
                    {
                        "dicom_id": rec["dicom_id"],
                        "text": report.text,
                        "findings": report.to_dict()["findings"],
                        "truth": [f["name"] for f in rec.get("findings", [])],
                        "scored": scored,
                    }
                )
    if reports_path is not None:
        Path(reports_path).write_text("".join(json.dumps(x) + "\n" for x in out_lines), encoding="utf-8")
    per_finding = {}
    for name in sorted({r["finding"] for r in rows["attention"]}):
        per_finding[name] = _rates([r for r in rows["attention"] if r["finding"] == name])
    return {
        "run": str(run_dir),
        "cohort": str(root),
        "split": split,
        "n_images": len(records),
        "n_reports": len(out_lines),
        "localiser_sources": dict(box_sources),
        **{name: _rates(r) for name, r in rows.items() if r},
        "per_finding": per_finding,
    }
