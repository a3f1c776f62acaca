"""The demo's study panels: which test studies to show, their predictions, maps and reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gazecxr.anatomy.localiser import find_anatomy
from gazecxr.data.labels import positive_labels
from gazecxr.data.reports import reference_report
from gazecxr.demo.figures import FindingMaps
from gazecxr.demo.html import StudyRow
from gazecxr.report.regions import findings_by_region


def select_studies(samples: Sequence[dict[str, Any]], n: int) -> list[int]:
    """Pick ``n`` readings to show: distinct images, with gaze, covering as many labels as possible.

    Greedy: repeatedly take the reading that adds the most not-yet-shown positive labels (ties: the
    earliest), then fill with normal studies so that a negative example is shown too.
    """
    seen_images: set[str] = set()
    candidates = []
    for i, s in enumerate(samples):
        image = s["meta"]["dicom_id"]
        if image in seen_images or not bool(s["gaze_valid"]):
            continue
        seen_images.add(image)
        candidates.append((i, set(s["positive"])))
    chosen: list[int] = []
    covered: set[str] = set()
    normal_taken = False
    while len(chosen) < n and candidates:
        # score: new labels covered (a normal study scores 1 until one is taken); ties -> earliest
        scores = [
            (len(labels - covered) if labels else int(not normal_taken), -i) for i, labels in candidates
        ]
        index, labels = candidates.pop(max(range(len(candidates)), key=scores.__getitem__))
        chosen.append(index)
        covered |= labels
        normal_taken |= not labels
    return sorted(chosen)


def finding_maps(
    sample: dict[str, Any], labels: list[str], preds: dict[str, Any], headline: str, baseline: str
) -> list[FindingMaps]:
    """Per positive finding: the radiologist's gaze for it (the fixations made while it was
    dictated when the dataset builds those maps and the finding was dictated, else the whole
    reading's) beside the baseline's and the headline model's own attention map for that label."""
    out = []
    per_label = sample.get("gaze_label_heatmaps")
    valid = sample.get("gaze_label_valid")
    for label in sample["positive"]:
        j = labels.index(label)
        dictated = per_label is not None and bool(valid[j])
        out.append(
            FindingMaps(
                finding=label,
                gaze=(per_label[j] if dictated else sample["gaze_heatmap"]).numpy(),
                gaze_kind="while dictating it" if dictated else "whole reading",
                maps={v: preds[v].attention_for(label) for v in (baseline, headline)},
            )
        )
    return out


def study_rows(
    runs: dict[str, Path],
    headline: str,
    baseline: str,
    data_root: Path,
    n: int,
    on_item: Callable[[], None],
) -> list[StudyRow]:
    """Predict, write reports and collect the panels for ``n`` test studies.

    Args:
        runs: variant -> the run whose predictions are shown (one seed per variant).
        headline: the gaze-supervised variant whose report is written and whose per-finding maps
            are compared with ``baseline``'s.
    """
    from gazecxr.anatomy.localiser import Localiser
    from gazecxr.data import build_datasets
    from gazecxr.data.images import load_image
    from gazecxr.report import generate_report
    from gazecxr.report.calibrate import CUTPOINTS_FILE, calibrate_run, run_report_config
    from gazecxr.train.predict import Predictor

    predictors = {name: Predictor.from_run(run) for name, run in runs.items()}
    gaze_pred = predictors[headline]
    localiser = Localiser.load(gaze_pred.cfg.report.anatomy_model)
    dataset = build_datasets(gaze_pred.cfg, root=data_root)["test"]
    labels = list(dataset.label_names)
    samples = []
    for i in range(len(dataset)):
        s = dataset[i]
        s["positive"] = positive_labels(s, labels)
        samples.append(s)
    gaze_run = runs[headline]
    if not (gaze_run / CUTPOINTS_FILE).is_file():  # certainty phrases calibrated on validation, once
        calibrate_run(gaze_run, data_root)
    report_cfg = run_report_config(gaze_run, gaze_pred.cfg.report)
    rows = []
    for i in select_studies(samples, n):
        s = samples[i]
        meta = s["meta"]
        # Same preprocessing as evaluation (predict_path reads like the dataset); the panels show
        # the full-resolution radiograph.
        preds = {name: p.predict_path(meta["image_path"]) for name, p in predictors.items()}
        image = load_image(meta["image_path"])
        main = preds[headline]
        main.anatomy = find_anatomy(image, localiser, s["anatomy_boxes"])
        report = generate_report(main, report_cfg)
        rows.append(
            StudyRow(
                study_id=str(meta["reading_id"]),
                image=image,
                gaze=s["gaze_heatmap"].numpy(),
                attentions={name: p.attention for name, p in preds.items()},
                anatomy=main.anatomy,
                truth=s["positive"],
                predicted=main.positive,
                hits=findings_by_region(report.to_dict()),
                generated_report=report.text,
                reference_report=reference_report(meta["image_path"], meta["study_id"]),
                writer=report.writer,
                finding_maps=finding_maps(s, labels, preds, headline, baseline),
            )
        )
        on_item()
    return rows
