"""The self-contained study report (index.html) and the demo's pure helpers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gazecxr.demo.html import StudyReport, StudyRow, VariantResult, content_terms, highlight, render
from gazecxr.demo.results import verdict
from gazecxr.demo.studies import select_studies
from gazecxr.report.overlay import heatmap_rgba, radiograph_uint8

LABELS = ["Atelectasis", "Pleural abnormality", "Pneumothorax"]


def _variant(name: str, auroc: float, cc: float | None) -> VariantResult:
    rng = np.random.default_rng(len(name))
    fpr = np.r_[0, np.sort(rng.random(8)), 1]
    roc = {lbl: (fpr, np.sqrt(fpr), auroc) for lbl in LABELS[:2]}  # Pneumothorax: one class only
    return VariantResult(
        name=name,
        run=f"runs/{name}",
        macro={
            "auroc": (auroc, auroc - 0.05, auroc + 0.05),
            "f1": (round(auroc - 0.3, 6), None, None),  # F1 without an interval, ordered like AUROC
            "attention_cc": None if cc is None else (cc, cc - 0.1, cc + 0.1),
        },
        per_class={lbl: {"auroc": (auroc, 0.1, 0.9), "f1": None} for lbl in LABELS},
        roc=roc,
    )


def _study(i: int) -> StudyRow:
    rng = np.random.default_rng(i)
    return StudyRow(
        study_id=f"P300R00000{i}",
        image=rng.random((64, 48)),
        gaze=rng.random((64, 48)) if i % 2 else None,
        attentions={"baseline": rng.random((4, 4)), "full": rng.random((4, 4))},
        boxes={"left lung": (0.5, 0.1, 0.9, 0.9)},
        truth=["Atelectasis"],
        predicted=[],
        hits={"left lung": ["Atelectasis"]},
        generated_report="FINDINGS: Possible atelectasis in the left lower lung zone. <b>",
        reference_report="FINDINGS: Left basilar atelectasis. No pneumothorax.",
    )


@pytest.fixture(scope="module")
def page() -> str:
    report = StudyReport(
        title="demo <test>",
        labels=LABELS,
        variants=[_variant("baseline", 0.6, 0.02), _variant("full", 0.8, 0.5)],
        studies=[_study(i) for i in range(6)],
        facts={"studies": 40},
        verdict=["ahead"],
    )
    return render(report)


def test_sections_and_self_contained(page: str) -> None:
    for section in ("summary", "metrics", "roc", "ablation", "studies", "provenance"):
        assert f'id="{section}"' in page
    assert page.count('<article class="study"') == 6
    # Offline: every image is embedded, nothing is fetched, no scripts.
    assert "<script" not in page
    assert not re.search(r"""(src|href)=['"]?(https?:|//)""", page)
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 2 + 6
    assert "SYNTHETIC DATA" in page
    assert "demo &lt;test&gt;" in page  # titles are escaped


def test_metric_table_has_intervals_and_missing_values(page: str) -> None:
    assert "0.800 <span class='ci'>[0.750, 0.850]</span>" in page
    assert "0.500</td>" in page  # macro F1 of "full" has no interval
    assert "<td class='na'>n/a</td>" in page  # per-class F1 = None


def test_highlight_marks_shared_content_words_and_escapes() -> None:
    gen = "Possible atelectasis in the left lower lung zone. <b>"
    ref = "Left basilar atelectasis. No pneumothorax."
    shared = content_terms(gen) & content_terms(ref)
    assert shared == {"atelectasis", "left"}
    out = highlight(gen, shared)
    assert "<mark>atelectasis</mark>" in out and "<mark>left</mark>" in out
    assert "<mark>the</mark>" not in out and "&lt;b&gt;" in out
    assert content_terms("Effusions. effusion") == {"effusion"}  # plural folded


def test_overlay_rendering() -> None:
    img = radiograph_uint8(np.linspace(0, 3, 2000 * 1000).reshape(2000, 1000), max_side=200)
    assert img.shape == (200, 100) and img.dtype == np.uint8
    assert img.min() <= 2 and img.max() >= 253  # full range (resampling blurs the extremes slightly)
    heat = np.zeros((4, 4))
    heat[1, 2] = 1.0
    rgba = heatmap_rgba(heat, (40, 40))
    assert rgba.shape == (40, 40, 4)
    assert rgba[15, 25, 3] > 150 and rgba[35, 5, 3] == 0  # opaque at the peak, transparent far away
    assert heatmap_rgba(np.zeros((4, 4)), (8, 8))[..., 3].max() == 0  # no gaze -> nothing drawn


def _sample(dicom: str, positive: list[str], gaze: bool = True) -> dict:
    return {"meta": {"dicom_id": dicom}, "gaze_valid": gaze, "positive": positive}


def test_select_studies_covers_labels_with_distinct_gazed_images() -> None:
    samples = [
        _sample("a", ["Atelectasis"]),
        _sample("a", ["Atelectasis", "Pneumothorax"]),
        _sample("b", ["Atelectasis"]),
        _sample("c", []),
        _sample("d", ["Pneumothorax", "Edema"]),
        _sample("e", ["Edema"], gaze=False),
        _sample("f", []),
    ]
    chosen = select_studies(samples, 3)
    assert chosen == [0, 3, 4]  # d adds two labels, a adds one, then one normal study
    assert len(select_studies(samples, 10)) == 5  # only distinct images with gaze


def test_verdict_says_plainly_when_gaze_model_is_not_ahead() -> None:
    lines, facts = verdict({"baseline": _variant("baseline", 0.7, 0.3), "full": _variant("full", 0.8, 0.2)})
    assert facts["full_ahead_auroc"] is True and facts["full_ahead_attention_cc"] is False
    assert any("NOT ahead" in line for line in lines)
    assert any("NOT ahead of the baseline on every headline metric" in line for line in lines)
    lines, facts = verdict({"baseline": _variant("baseline", 0.6, 0.0), "full": _variant("full", 0.8, 0.5)})
    assert facts == {
        "full_ahead_auroc": True,
        "delta_auroc": 0.2,
        "full_ahead_f1": True,
        "delta_f1": 0.2,
        "full_ahead_attention_cc": True,
        "delta_attention_cc": 0.5,
    }
    assert not any("NOT" in line for line in lines)


def test_verdict_compares_with_the_shuffled_gaze_control() -> None:
    results = {
        "baseline": _variant("baseline", 0.6, 0.0),
        "full": _variant("full", 0.8, 0.6),
        "full_shuffled": _variant("full_shuffled", 0.79, 0.6),
    }
    lines, facts = verdict(results)
    assert facts["full_minus_shuffled_auroc"] == pytest.approx(0.01)
    assert "generic prior of where radiologists look" in lines[-1]  # intervals overlap: not specific
    results["full_shuffled"] = _variant("full_shuffled", 0.6, 0.1)
    lines, _ = verdict(results)
    assert "depends on each image's own gaze" in lines[-1]

    # full behind the baseline: nothing to attribute to image-specific gaze
    results = {
        "baseline": _variant("baseline", 0.8, 0.0),
        "full": _variant("full", 0.7, 0.6),
        "full_shuffled": _variant("full_shuffled", 0.69, 0.6),
    }
    lines, _ = verdict(results)
    assert "no gain to attribute" in lines[-1]
