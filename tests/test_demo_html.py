"""The self-contained study report (index.html) and the demo's pure helpers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gazecxr.demo.figures import FindingMaps
from gazecxr.demo.html import StudyReport, StudyRow, VariantPage, content_terms, highlight, render
from gazecxr.demo.results import verdict
from gazecxr.demo.studies import select_studies
from gazecxr.prediction import Anatomy
from gazecxr.report.overlay import heatmap_rgba, radiograph_uint8

LABELS = ["Atelectasis", "Pleural abnormality", "Pneumothorax"]


def _variant(name: str, auroc: float, cc: float, diff: tuple[float, float, float] | None) -> VariantPage:
    """A variant's summary entry as :func:`gazecxr.demo.results.variant_summary` writes it."""
    rng = np.random.default_rng(len(name))
    fpr = np.r_[0, np.sort(rng.random(8)), 1]
    roc = {lbl: (fpr, np.sqrt(fpr), auroc) for lbl in LABELS[:2]}  # Pneumothorax: one class only
    seeds = [auroc - 0.01, auroc, auroc + 0.01]
    summary = {
        "macro_auroc": auroc,
        "macro_f1": round(auroc - 0.3, 6),
        "attention_cc": cc,
        "pointing_game": cc / 2,
        "per_seed": {
            "macro_auroc": seeds,
            "macro_f1": [v - 0.3 for v in seeds],
            "attention_cc": [cc] * 3,
            "pointing_game": [cc / 2, None, cc / 2],  # a seed without outlined test readings
        },
        "per_class_auroc": {lbl: auroc for lbl in LABELS[:2]} | {"Pneumothorax": None},
        "runs": [f"runs/{name}/seed{k}" for k in range(3)],
    }
    if diff is not None:
        d = dict(zip(("diff", "lo", "hi"), diff, strict=True))
        summary["paired_vs_baseline"] = {"macro_auroc": d, "macro_f1": d}
    return VariantPage(name=name, summary=summary, roc=roc)


def _study(i: int) -> StudyRow:
    rng = np.random.default_rng(i)
    maps = [
        FindingMaps(
            "Atelectasis",
            rng.random((64, 48)),
            "while dictating it",
            {"baseline": rng.random((4, 4)), "full": rng.random((4, 4))},
        )
    ]
    return StudyRow(
        study_id=f"P300R00000{i}",
        image=rng.random((64, 48)),
        gaze=rng.random((64, 48)) if i % 2 else None,
        attentions={"baseline": rng.random((4, 4)), "full": rng.random((4, 4))},
        anatomy=Anatomy(
            {"left lung": (0.5, 0.1, 0.9, 0.9)},
            {"left lung": ("dataset", "lung-anchored", "atlas")[i % 3]},
            {},
            ("dataset", "model", "atlas")[i % 3],
            "low confidence for the left lung (0.21)" if i % 3 == 2 else "",
        ),
        truth=["Atelectasis"],
        predicted=[],
        hits={"left lung": ["Atelectasis"]},
        generated_report="FINDINGS: Possible atelectasis in the left lower lung zone. <b>",
        reference_report="FINDINGS: Left basilar atelectasis. No pneumothorax.",
        finding_maps=maps if i < 4 else [],
    )


@pytest.fixture(scope="module")
def page() -> str:
    report = StudyReport(
        title="demo <test>",
        labels=LABELS,
        variants=[_variant("baseline", 0.6, 0.02, None), _variant("full", 0.8, 0.5, (0.2, 0.1, 0.3))],
        headline="full",
        baseline="baseline",
        studies=[_study(i) for i in range(6)],
        facts={"studies": 40},
        verdict=["The answer.", "More."],
    )
    return render(report)


def test_sections_in_order_and_self_contained(page: str) -> None:
    ids = re.findall(r'<(?:section|footer) id="([a-z-]+)"', page)
    assert ids == ["summary", "seeds", "per-class", "roc", "maps", "studies", "details", "provenance"]
    assert "<p class='answer'>The answer.</p>" in page  # the page leads with the answer
    assert page.count('<article class="study"') == 6
    # Offline: every image is embedded, nothing is fetched, no scripts.
    assert "<script" not in page
    assert not re.search(r"""(src|href)=['"]?(https?:|//)""", page)
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 1 + 4 + 6  # ROC, maps, panels
    assert "SYNTHETIC DATA" in page
    assert "demo &lt;test&gt;" in page  # titles are escaped


def test_seed_table_and_per_class_deltas(page: str) -> None:
    assert page.count("<td>seed ") == 6 and page.count("<td>mean of 3</td>") == 2
    assert "<td class='num pos'>+0.200 <span class='ci'>[+0.100, +0.300]</span></td>" in page
    assert "<td class='na'>n/a</td>" in page  # the seed without a pointing-game value
    per_class = page[page.index('id="per-class"') : page.index('id="roc"')]
    assert per_class.count("<td class='num'>+0.200</td>") == 2  # two labels, full - baseline
    assert "Pneumothorax</th><td class='na'>n/a</td><td class='na'>n/a</td>" in per_class


def test_every_study_names_where_its_anatomy_boxes_came_from(page: str) -> None:
    said = re.findall(r"<p class=\"boxes\">Anatomy boxes: ([^<]*)</p>", page)
    assert len(said) == 6
    assert said[0] == "the reading&#x27;s own (EyeGaze)." and said[1] == "the anatomy localiser&#x27;s."
    assert said[2] == "the atlas&#x27;s, not the localiser&#x27;s (low confidence for the left lung (0.21))."


def test_a_finding_in_a_region_placed_from_the_lungs_says_so(page: str) -> None:
    lists = re.findall(r"<ol class=\"regions\">(.*?)</ol>", page)
    assert len(lists) == 6
    flagged = ["placed from the lungs" in x for x in lists]
    assert flagged == [False, True, False, False, True, False]  # the studies whose left lung was anchored


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


def _summary(name: str, auroc: float, diff: tuple[float, float, float] | None) -> dict:
    return _variant(name, auroc, 0.4 if diff else 0.2, diff).summary


def test_verdict_leads_with_the_paired_answer() -> None:
    variants = {
        "baseline": _summary("baseline", 0.80, None),
        "full": _summary("full", 0.83, (0.03, 0.01, 0.05)),
        "full_shuffled": _summary("full_shuffled", 0.80, (0.0, -0.01, 0.012)),
    }
    lines = verdict(variants, "full", "baseline", "full_shuffled", 3, 240)
    assert lines[0].startswith("The gaze-supervised model (full) is ahead of the baseline over 3 seeds")
    assert "+0.030 [95% CI +0.010, +0.050]" in lines[0] and "240 test readings" in lines[0]
    assert "comes from each image's own gaze" in lines[1]
    assert "pointing game" in lines[2]


def test_verdict_says_plainly_when_the_run_does_not_show_the_effect() -> None:
    variants = {
        "baseline": _summary("baseline", 0.80, None),
        "full": _summary("full", 0.81, (0.01, -0.01, 0.03)),
    }
    lines = verdict(variants, "full", "baseline", None, 1, 100)
    assert lines[0].startswith(
        "The gaze-supervised model (full) is not clearly ahead of the baseline with one seed"
    )
    assert lines[1] == (
        "This run does not show the effect the project measures: the AUROC interval includes 0 or lies below it."
    )
    variants["full"] = _summary("full", 0.75, (-0.05, -0.08, -0.02))
    lines = verdict(variants, "full", "baseline", None, 1, 100)
    assert " is behind the baseline" in lines[0] and "worse than the baseline" in lines[1]
    # a control that gains as much: the gain is not specific to each image's gaze
    variants["full"] = _summary("full", 0.83, (0.03, 0.01, 0.05))
    variants["ctrl"] = _summary("ctrl", 0.83, (0.03, 0.01, 0.05))
    assert "not specific to each image's gaze" in verdict(variants, "full", "baseline", "ctrl", 3, 100)[1]
    # a control below the baseline is a cost of the wrong gaze, not a gain shared with it
    variants["ctrl"] = _summary("ctrl", 0.79, (-0.008, -0.015, -0.001))
    line = verdict(variants, "full", "baseline", "ctrl", 3, 100)[1]
    assert "falls below the baseline" in line and "not specific" not in line
    variants["ctrl"] = _summary("ctrl", 0.80, (0.002, -0.006, 0.010))
    assert "comes from each image's own gaze" in verdict(variants, "full", "baseline", "ctrl", 3, 100)[1]
    assert verdict({"baseline": variants["baseline"]}, "full", "baseline", None, 1, 1) == [
        "full or baseline was not trained; no comparison."
    ]
