"""patient_split / official_split on synthetic tables: grouping, stratification, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gazecxr.data.config import SplitConfig
from gazecxr.data.splits import SplitError, official_split, patient_split


def table(n_patients: int = 400, seed: int = 0) -> pd.DataFrame:
    """1-3 readings per patient; label "rare" in 10 % of patients, "common" in 50 %."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        rare, common = rng.uniform() < 0.1, rng.uniform() < 0.5
        for r in range(int(rng.integers(1, 4))):
            rows.append(
                {
                    "subject_id": f"{p:08d}",
                    "reading_id": f"{p}-{r}",
                    "lab:rare": float(rare and r == 0),
                    "lab:common": float(common) if r else np.nan,
                }
            )
    return pd.DataFrame(rows)


def test_patient_split_groups_and_stratifies() -> None:
    df = table()
    cfg = SplitConfig(val_fraction=0.15, test_fraction=0.2, seed=1)
    split = patient_split(df, ["lab:rare", "lab:common"], cfg)
    assert split.groupby(df["subject_id"]).nunique().max() == 1  # a patient is in one split only
    patients = (
        df.groupby("subject_id")[["lab:rare"]].max().join(split.groupby(df["subject_id"]).first().rename("s"))
    )
    rare = patients[patients["lab:rare"] == 1]
    share = rare["s"].value_counts(normalize=True)
    # Systematic sampling inside the stratum: within one patient of the exact share.
    assert (
        abs(share["test"] - 0.2) <= 1 / len(rare) + 1e-9
        and abs(share["validate"] - 0.15) <= 1 / len(rare) + 1e-9
    )
    overall = patients["s"].value_counts(normalize=True)
    assert overall["train"] == pytest.approx(0.65, abs=0.02)
    assert split.equals(patient_split(df, ["lab:rare", "lab:common"], cfg))
    assert not split.equals(patient_split(df, ["lab:rare", "lab:common"], SplitConfig(seed=2)))


def test_split_fractions_must_leave_training_data() -> None:
    with pytest.raises(SplitError, match="no training"):
        patient_split(table(20), ["lab:rare"], SplitConfig(val_fraction=0.5, test_fraction=0.5))


def test_official_split_checks_patients() -> None:
    df = pd.DataFrame({"subject_id": ["1", "1", "2", "3"], "official_split": ["train", "train", "Test", ""]})
    assert official_split(df).tolist() == ["train", "train", "test", ""]
    df.loc[1, "official_split"] = "validate"
    with pytest.raises(SplitError, match="several splits"):
        official_split(df)
