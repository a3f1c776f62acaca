"""Train / validate / test splits grouped by patient (never by row), written to the run directory.

``patient`` mode: patients are grouped into strata by their rarest positive label (over all their
readings, in the configured label set; "none" when they have no positive) and, within each
stratum, shuffled with the seed and allocated by systematic sampling, so that every stratum is
split in the configured proportions as closely as its size allows. ``official`` mode uses the
MIMIC-CXR ``cxr_split.csv`` split of each image (itself patient-grouped); readings without one are
excluded and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gazecxr.data.config import SplitConfig

log = logging.getLogger("gazecxr.data")

SPLITS: tuple[str, ...] = ("train", "validate", "test")
SPLIT_FILE = "splits.csv"


class SplitError(ValueError):
    """The split cannot be made (e.g. one patient in two official splits)."""


def patient_split(readings: pd.DataFrame, label_cols: list[str], cfg: SplitConfig) -> pd.Series:
    """Split name per reading (index aligned with ``readings``), grouped by ``subject_id``.

    Args:
        readings: index rows with ``subject_id`` and the ``label_cols`` (1 / 0 / NaN).
        label_cols: label columns used for stratification.
        cfg: fractions and seed.
    """
    if cfg.val_fraction + cfg.test_fraction >= 1:
        raise SplitError(
            f"val_fraction + test_fraction = {cfg.val_fraction + cfg.test_fraction} leaves no training data"
        )
    positives = (
        (readings[label_cols].fillna(0.0).to_numpy() > 0.5)
        if label_cols
        else np.zeros((len(readings), 0), bool)
    )
    per_patient = pd.DataFrame(positives, columns=label_cols).groupby(readings["subject_id"].to_numpy()).any()
    prevalence = per_patient.sum(axis=0)
    order = sorted(label_cols, key=lambda c: (prevalence[c], c))  # rarest first

    def stratum(row: pd.Series) -> str:
        return next((c for c in order if row[c]), "none")

    strata = per_patient.apply(stratum, axis=1) if label_cols else pd.Series("none", index=per_patient.index)
    rng = np.random.default_rng(cfg.seed)
    assignment: dict[str, str] = {}
    for name in sorted(strata.unique()):
        patients = np.array(sorted(strata.index[strata == name]))
        rng.shuffle(patients)
        # Systematic sampling: position k of n falls at (k + u) / n in [0, 1).
        pos = (np.arange(len(patients)) + rng.uniform()) / len(patients)
        for pid, q in zip(patients, pos, strict=True):
            assignment[pid] = (
                "test"
                if q < cfg.test_fraction
                else ("validate" if q < cfg.test_fraction + cfg.val_fraction else "train")
            )
    return readings["subject_id"].map(assignment)


def official_split(readings: pd.DataFrame) -> pd.Series:
    """MIMIC-CXR official split per reading ("" where the image has none)."""
    split = readings["official_split"].fillna("").astype(str).str.strip().str.lower()
    split = split.where(split.isin(SPLITS), "")
    per_patient = split[split != ""].groupby(readings["subject_id"][split != ""]).nunique()
    mixed = per_patient[per_patient > 1]
    if len(mixed):
        raise SplitError(
            f"official split puts {len(mixed)} patient(s) in several splits "
            f"(e.g. {mixed.index[0]}); use data.split.mode=patient"
        )
    return split


def assign_splits(readings: pd.DataFrame, label_cols: list[str], cfg: SplitConfig) -> pd.Series:
    """Split per reading for ``cfg.mode``; "" marks a reading left out (logged with its count)."""
    split = patient_split(readings, label_cols, cfg) if cfg.mode == "patient" else official_split(readings)
    missing = int((split == "").sum())
    if missing:
        log.warning("%d reading(s) have no official split and are left out", missing)
    return split


def write_splits(df: pd.DataFrame, run_dir: str | Path) -> Path:
    """Write ``splits.csv`` (reading_id, dicom_id, subject_id, study_id, source, split) to the run dir."""
    path = Path(run_dir) / SPLIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = ["reading_id", "dicom_id", "subject_id", "study_id", "source", "split"]
    df[cols].sort_values(["split", "subject_id", "reading_id"]).to_csv(path, index=False)
    return path
