"""The data layer on the synthetic MIMIC-Eye cohort (gazecxr.synth): zero problems, counts that
agree with the generator's own record, and every reading served with the official split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gazecxr.config import load_config
from gazecxr.data import build_datasets
from gazecxr.data.index import build_index
from gazecxr.synth import config as synth_config
from gazecxr.synth import writer as synth_writer


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    synth_writer.write_cohort(out, synth_config.SynthConfig(studies=20, image_size=128, seed=3), workers=1)
    return out


def test_synthetic_tree_has_no_problems_and_matching_counts(cohort: Path) -> None:
    idx = build_index(cohort, use_cache=False)
    assert idx.layout == "mimic-eye"
    assert idx.problems == []  # synthetic/ground_truth.jsonl and cohort.json are ignored
    record = json.loads((cohort / "synthetic" / "cohort.json").read_text())["counts"]
    st = idx.stats()
    assert st["reflacx_readings"] == record["reflacx_readings"]
    assert st["reflacx_readings_discarded"] == record["reflacx_discarded"]
    assert st["eyegaze_images"] == record["eyegaze_images"]
    assert st["images"] == record["frontal_images"]
    assert st["reflacx_readings_with_fixations"] == record["reflacx_readings"] - record["reflacx_discarded"]
    assert st["eyegaze_images_with_fixations"] == record["eyegaze_images"]


def test_synthetic_cohort_serves_every_reading_with_official_split(cohort: Path) -> None:
    cfg = load_config(None, [f"data.root={cohort}", "data.split.mode=official", "data.image_size=64"])
    ds = build_datasets(cfg)
    idx = build_index(cohort)
    assert sum(len(d) for d in ds.values()) == len(idx.readings)
    for name, d in ds.items():
        assert len(d) and set(d.index["official_split"]) == {name}
        s = d[0]
        assert s["image"].shape == (1, 64, 64) and s["labels"].shape == (8,)
        assert bool(s["gaze_valid"]) == (float(s["gaze_heatmap"].sum()) > 0)
