"""Per-label gaze maps from the dictation: sentence windows, labelling, and that the maps locate
the dictated finding better than the whole reading's heatmap (synthetic cohort, known boxes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gazecxr.config import load_config
from gazecxr.data import build_datasets, collate
from gazecxr.gaze.config import CUSTOM, GazeConfig
from gazecxr.gaze.dictation import dictated_sentences, dictated_spans, dictation_heatmaps

LABELS = ["Atelectasis", "Consolidation", "Pneumothorax"]
NAN = math.nan


def test_sentences_are_grouped_by_their_end_and_timed_by_their_words() -> None:
    words = [
        ["Right", 1.0, 1.2],
        ["lower", 1.3, 1.5],
        ["lobe", 1.6, 1.8],
        ["consolidation", 1.9, 2.4],
        [".", 2.4, 2.4],
        ["No", NAN, NAN],
        ["pneumothorax.", 3.0, 3.6],
        ["trailing", 5.0, 5.2],
    ]
    assert dictated_sentences(words) == [
        ("Right lower lobe consolidation .", 1.0, 2.4),
        ("No pneumothorax.", 3.0, 3.6),
        ("trailing", 5.0, 5.2),
    ]
    assert dictated_sentences([["No", NAN, NAN], [".", NAN, NAN]]) == []  # untimed: cannot be placed


def test_spans_keep_asserted_labels_of_the_label_set_only() -> None:
    words = [
        ["Probable", 1.0, 1.4],
        ["right", 1.5, 1.7],
        ["lower", 1.8, 2.0],
        ["lobe", 2.1, 2.2],
        ["consolidation.", 2.3, 2.9],
        ["No", 4.0, 4.1],
        ["pneumothorax.", 4.2, 4.8],
        ["Heart", 6.0, 6.2],
        ["is", 6.3, 6.4],
        ["enlarged.", 6.5, 7.0],
    ]
    spans = dictated_spans(words, LABELS, lead_s=0.5)
    # uncertain counts, negated does not, a finding outside the label set is ignored
    assert spans == {"Consolidation": [(0.5, 2.9)]}


def _fix(rows: list[tuple[float, float, float, float]]) -> np.ndarray:
    """Fixation rows as the index selects them: x, y, start, end (+ unused columns)."""
    fix = np.zeros((len(rows), 10))
    fix[:, :4] = rows
    fix[:, 6:10] = (0.0, 0.0, 1000.0, 1000.0)  # crop shown: the whole image
    return fix


def test_heatmaps_use_only_the_fixations_inside_each_labels_windows() -> None:
    cfg = GazeConfig(reference=CUSTOM, sigma_deg=None, sigma_px=40.0, dictation_min_fixations=2)
    fix = _fix(
        [
            (800, 800, 0.0, 0.5),  # search, before any window
            (200, 300, 1.0, 1.3),  # while consolidation is dictated
            (220, 310, 1.4, 1.9),
            (600, 600, 3.0, 3.2),  # only one fixation for pneumothorax: below the minimum
        ]
    )
    spans = {"Consolidation": [(0.9, 2.0)], "Pneumothorax": [(2.9, 3.5)]}
    maps, valid = dictation_heatmaps(fix, spans, LABELS, (1000, 1000), (50, 50), cfg)
    assert maps.shape == (3, 50, 50) and valid.tolist() == [False, True, False]
    assert maps[1].sum() == pytest.approx(1.0, abs=1e-5) and maps[0].sum() == maps[2].sum() == 0
    peak = np.unravel_index(maps[1].argmax(), maps[1].shape)
    assert abs(peak[0] - 15) <= 1 and abs(peak[1] - 10) <= 1  # (y 300, x 200..220) of 1000 -> 50 grid


from gazecxr.synth import writer as synth_writer  # noqa: E402 - our own module: an ImportError must fail


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gazecxr.synth import SynthConfig

    out = tmp_path_factory.mktemp("synth") / "cohort"
    synth_writer.write_cohort(out, SynthConfig(studies=60, image_size=256, seed=4), workers=1)
    return out


def test_dictation_maps_locate_the_dictated_finding(cohort: Path) -> None:
    cfg = load_config(
        None,
        [f"data.root={cohort}", "data.split.mode=official", "data.image_size=64", "gaze.dictation_maps=true"],
    )
    truth = {}
    for line in (cohort / "synthetic" / "ground_truth.jsonl").read_text().splitlines():
        g = json.loads(line)
        truth[g["dicom_id"]] = g
    ds = build_datasets(cfg)["train"]
    reading, dictated = [], []
    for i in range(len(ds)):
        s = ds[i]
        g = truth[s["meta"]["dicom_id"]]
        h, w = g["image_size"]
        for f in g["findings"]:
            c = ds.label_names.index(f["name"])
            if not bool(s["gaze_label_valid"][c]):
                continue
            x0, y0, x1, y1 = f["box"]
            box = (
                slice(int(y0 / h * 64), math.ceil(y1 / h * 64)),
                slice(int(x0 / w * 64), math.ceil(x1 / w * 64)),
            )
            reading.append(float(s["gaze_heatmap"][box].sum()))
            dictated.append(float(s["gaze_label_heatmaps"][c][box].sum()))
    assert len(dictated) >= 20
    # Measured: 33 dictated findings, mass in the finding's box 0.49 vs 0.21 for the reading's map.
    assert np.mean(dictated) > 2.0 * np.mean(reading)
    batch = collate([ds[0], ds[1]])
    assert batch["gaze_label_heatmaps"].shape == (2, 8, 64, 64) and batch["gaze_label_valid"].shape == (2, 8)


def test_dictation_maps_move_with_the_image_under_augmentation(cohort: Path) -> None:
    overrides = [
        f"data.root={cohort}",
        "data.split.mode=official",
        "data.image_size=64",
        "gaze.dictation_maps=true",
    ]
    plain = build_datasets(load_config(None, overrides))["train"]
    moved = build_datasets(load_config(None, [*overrides, "data.augment=true"]))["train"]
    i = next(k for k in range(len(plain)) if bool(plain[k]["gaze_label_valid"].any()))
    torch.manual_seed(0)  # the random affine draws from torch's generator
    a, b = plain[i], moved[i]
    c = int(a["gaze_label_valid"].nonzero()[0])
    sums = b["gaze_label_heatmaps"].flatten(1).sum(1)
    assert (
        np.allclose(sums[b["gaze_label_valid"]], 1.0, atol=1e-4) and (sums[~b["gaze_label_valid"]] == 0).all()
    )
    assert not np.allclose(a["gaze_label_heatmaps"][c], b["gaze_label_heatmaps"][c])  # warped with the image
