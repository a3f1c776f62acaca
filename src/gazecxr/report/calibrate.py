"""Certainty cut-points of a trained run, calibrated on its validation split.

``calibrate_run`` predicts every validation reading of the run's dataset, pools the probabilities
of all labels (unknown labels left out) and places the certainty scale's cut-points with
:func:`gazecxr.vocab.dictionary.calibrate_cutpoints`; the result is stored in the run directory as
``report_cutpoints.json``. :func:`run_report_config` gives the run's report configuration with those
cut-points applied (the dictionary defaults when the run was never calibrated).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.report.config import ReportConfig
from gazecxr.report.generate import dictionary_for
from gazecxr.vocab.dictionary import calibrate_cutpoints

log = logging.getLogger("gazecxr.report")

CUTPOINTS_FILE = "report_cutpoints.json"


def calibrate_run(
    run_dir: str | Path, root: str | Path | None = None, split: str = "validate", min_support: int = 10
) -> dict[str, Any]:
    """Calibrate and store the run's certainty cut-points.

    Args:
        run_dir: trained run directory.
        root: dataset root (default: the run config's ``data.root``).
        split: split whose readings are predicted (never "test": cut-points are a tuning choice).
        min_support: fewest cases above a cut-point for its positive rate to count.

    Returns:
        the stored record: ``cutpoints``, ``split``, ``n_readings``, ``n_labels`` (known label values used).
    """
    from gazecxr.data import build_datasets
    from gazecxr.train.predict import Predictor

    if split == "test":
        raise ValueError(
            "cut-points are tuned on validation data; calibrating on the test split would leak it"
        )
    run_dir = Path(run_dir)
    predictor = Predictor.from_run(run_dir)
    dataset = build_datasets(predictor.cfg, root=root)[split]
    if list(dataset.label_names) != list(predictor.labels):
        raise ValueError(
            f"{run_dir}: run labels {predictor.labels} differ from the dataset's {list(dataset.label_names)}"
        )
    if len(dataset) == 0:
        raise ValueError(f"{root or predictor.cfg.data.root}: the {split!r} split is empty")
    probs, labels, skipped = [], [], []
    for i in range(len(dataset)):
        sample = dataset[i]
        if "skipped" in sample:  # unreadable image: left out, listed
            skipped.append(sample["skipped"])
            continue
        probs.append(predictor.predict_array(sample["image"][0].numpy()).probabilities)
        y = sample["labels"].numpy().astype(np.float64)
        y[sample["label_mask"].numpy() == 0] = np.nan  # unknown / uncertain labels do not count
        labels.append(y)
    p, y = np.stack(probs), np.stack(labels)
    cfg: ReportConfig = predictor.cfg.report
    record = {
        "cutpoints": calibrate_cutpoints(
            p, y, dictionary_for(cfg.model_copy(update={"cutpoints": None})), min_support
        ),
        "split": split,
        "n_readings": len(dataset) - len(skipped),
        "skipped_readings": skipped,
        "n_labels": int(np.isfinite(y).sum()),
        "min_support": min_support,
    }
    (run_dir / CUTPOINTS_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def run_report_config(run_dir: str | Path, cfg: ReportConfig) -> ReportConfig:
    """``cfg`` with the run's calibrated cut-points, unless ``cfg`` sets its own or the run has none."""
    path = Path(run_dir) / CUTPOINTS_FILE
    if cfg.cutpoints is not None or not path.is_file():
        return cfg
    try:
        cuts = json.loads(path.read_text(encoding="utf-8"))["cutpoints"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a cut-points file ({exc!r}); delete it or rerun the calibration"
        ) from None
    log.info("certainty cut-points calibrated on the run's validation split (%s)", path)
    return cfg.model_copy(update={"cutpoints": cuts})
