"""Region assignment, atlas fallback, template writer and generate_report."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from gazecxr.anatomy.atlas import atlas_boxes, lung_box
from gazecxr.anatomy.localiser import Localiser
from gazecxr.data.anatomy import REGIONS
from gazecxr.metrics.report import hallucination_counts, keyword_counts
from gazecxr.prediction import Anatomy, Prediction
from gazecxr.report import generate_report
from gazecxr.report.config import ReportConfig
from gazecxr.report.generate import plan_from_findings, write_report
from gazecxr.report.regions import assign_regions, box_masses
from gazecxr.vocab.dictionary import load_dictionary


def _atlas() -> dict:
    return atlas_boxes(_phantom())


def _phantom(size: int = 128, lungs=((0.15, 0.15, 0.45, 0.8), (0.55, 0.15, 0.85, 0.8))) -> np.ndarray:
    """Bright body with two dark elliptical lungs at the given normalised boxes, dark air outside."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.where((np.abs(xx - 0.5) < 0.45) & (yy > 0.05), 0.75, 0.05)
    for x0, y0, x1, y1 in lungs:
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        img = np.where(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1, 0.2, img)
    return img + np.random.default_rng(0).normal(0, 0.02, img.shape)


def test_box_masses_partial_cells_and_normalisation():
    att = np.zeros((4, 4))
    att[0, 0] = 2.0  # normalised to 1 inside
    m = box_masses(att, {"a": (0, 0, 0.25, 0.25), "half": (0, 0, 0.125, 0.25), "none": (0.5, 0.5, 1, 1)})
    assert m == pytest.approx({"a": 1.0, "half": 0.5, "none": 0.0})
    assert box_masses(np.zeros((4, 4)), {"a": (0, 0, 1, 1)}) == {"a": 0.0}
    with pytest.raises(ValueError, match="2-D"):
        box_masses(np.zeros(4), {"a": (0, 0, 1, 1)})


def test_atlas_on_phantom_finds_the_drawn_lungs():
    box = lung_box(_phantom())
    assert box == pytest.approx((0.15, 0.15, 0.85, 0.8), abs=0.04)
    atlas = _atlas()
    assert set(atlas) == set(REGIONS)
    # Patient's right lung is on the image left.
    assert atlas["right lung"][2] <= atlas["left lung"][0]
    assert atlas["right lower lung zone"][1] > atlas["right upper lung zone"][1]


def test_atlas_mirrors_a_single_found_lung():
    box = lung_box(_phantom(lungs=((0.15, 0.15, 0.45, 0.8),)))
    assert box[0] == pytest.approx(0.15, abs=0.04) and box[2] == pytest.approx(0.85, abs=0.04)


def test_atlas_on_real_radiographs(shared_data):
    from PIL import Image

    paths = sorted((shared_data / "real_cxr" / "images").glob("*")) + sorted(
        (shared_data / "real_cxr" / "nih").glob("*.png")
    )
    assert len(paths) >= 30
    plausible = 0
    for p in paths:
        img = np.asarray(Image.open(p).convert("L"), dtype=float) / 255
        box = lung_box(img)
        if (
            box is not None
            and abs((box[0] + box[2]) / 2 - 0.5) < 0.15
            and 0.45 < box[2] - box[0] < 0.98
            and 0.3 < box[3] - box[1] < 0.95
        ):
            plausible += 1
        atlas = atlas_boxes(img)  # always 17 valid boxes, default lung box when nothing is found
        assert all(0 <= b[0] < b[2] <= 1 and 0 <= b[1] < b[3] <= 1 for b in atlas.values())
    assert plausible / len(paths) >= 0.8, f"{plausible}/{len(paths)} plausible lung boxes"


def _attention_on(boxes: dict, regions: list[str], size: int = 32) -> np.ndarray:
    att = np.full((size, size), 1e-4)
    for r in regions:
        x0, y0, x1, y1 = boxes[r]
        att[
            int(y0 * size) : max(int(y1 * size), int(y0 * size) + 1),
            int(x0 * size) : max(int(x1 * size), int(x0 * size) + 1),
        ] += 1
    return att / att.sum()


def test_assign_regions_prior_laterality_and_bibasilar():
    d = load_dictionary()
    boxes = _atlas()
    left = box_masses(_attention_on(boxes, ["left lower lung zone"]), boxes)
    regions, scores = assign_regions(d.findings["Atelectasis"], left)
    assert regions == ("left lower lung zone",)
    assert set(scores) == set(d.findings["Atelectasis"].priors)
    both = box_masses(_attention_on(boxes, ["left lower lung zone", "right lower lung zone"]), boxes)
    assert assign_regions(d.findings["Atelectasis"], both)[0] == (
        "left lower lung zone",
        "right lower lung zone",
    )
    assert assign_regions(d.findings["Atelectasis"], {})[0] == ()


def _prediction(probs: dict[str, float], regions: list[str], boxes: dict | None = None) -> Prediction:
    boxes = _atlas() if boxes is None else boxes
    names = list(probs)
    return Prediction(
        names,
        np.array([probs[n] for n in names]),
        np.full(len(names), 0.5),
        _attention_on(_atlas(), regions),
        (512, 512),
        Anatomy.from_dataset(boxes),
    )


def test_generate_report_end_to_end():
    pred = _prediction(
        {
            "Atelectasis": 0.93,
            "Pleural abnormality": 0.45,
            "Pneumothorax": 0.02,
            "Enlarged cardiac silhouette": 0.05,
            "Consolidation": 0.2,
        },
        ["left lower lung zone", "right lower lung zone"],
    )
    rep = generate_report(pred, ReportConfig())
    d = rep.to_dict()
    names = {f["name"]: f for f in d["findings"]}
    assert names["Atelectasis"]["certainty"] == "consistent with"
    assert names["Atelectasis"]["regions"] == ["left lower lung zone", "right lower lung zone"]
    assert "bibasilar atelectasis" in rep.findings_text.lower()
    # 0.45 < threshold 0.5: the classifier calls it negative, so neither stated nor negated
    assert "Pleural abnormality" not in names and "Pleural abnormality" not in d["negatives"]
    assert 0 < sum(names["Atelectasis"]["region_mass"].values())
    assert set(d["negatives"]) == {"Pneumothorax", "Enlarged cardiac silhouette"}
    assert (
        "pneumothorax" in rep.findings_text.lower() and "Consolidation" not in names
    )  # 0.2: neither stated nor negated
    assert rep.impression_text and rep.text.startswith("FINDINGS:")
    assert all(s["source"] == "template" for s in d["sentences"])
    # The written text states exactly what was given: nothing more, nothing upgraded.
    given = {f["name"]: f["regions"] for f in d["findings"]}
    assert hallucination_counts(rep.findings_text, given)[0] == 0
    assert generate_report(pred, ReportConfig()).text == rep.text  # deterministic


def test_each_finding_is_placed_by_its_own_map():
    """With per-label maps, a finding's regions come from where the model looked for it."""
    pred = _prediction({"Atelectasis": 0.9, "Consolidation": 0.9}, ["right upper lung zone"])
    pred.class_attention = np.stack(
        [
            _attention_on(_atlas(), ["left lower lung zone"]),
            _attention_on(_atlas(), ["right upper lung zone"]),
        ]
    )
    assert np.array_equal(pred.attention_for("Atelectasis"), pred.class_attention[0])
    placed = {f["name"]: f["regions"] for f in generate_report(pred, ReportConfig()).to_dict()["findings"]}
    assert placed["Atelectasis"] == ["left lower lung zone"]
    assert placed["Consolidation"] == ["right upper lung zone"]
    pred.class_attention = None  # the shared map (right upper zone) now places both
    placed = {f["name"]: f["regions"] for f in generate_report(pred, ReportConfig()).to_dict()["findings"]}
    assert placed["Atelectasis"] != ["left lower lung zone"]


def test_normal_report_and_atlas_from_image():
    pred = _prediction(
        {
            n: 0.01
            for n in (
                "Atelectasis",
                "Consolidation",
                "Pleural abnormality",
                "Pneumothorax",
                "Enlarged cardiac silhouette",
            )
        },
        ["trachea"],
        boxes={},
    )
    located = replace(pred, anatomy=Localiser.load().locate(_phantom()))
    rep = generate_report(located, ReportConfig())
    assert rep.anatomy_source in {"model", "atlas"} and len(rep.region_mass) == 17
    assert "lungs are clear" in rep.findings_text.lower()
    assert "no acute" in rep.impression_text.lower()
    assert hallucination_counts(rep.text, {})[0] == 0
    assert generate_report(pred, ReportConfig()).anatomy_source == "none"


def test_unknown_labels_are_skipped_and_reported():
    pred = _prediction({"Normal": 0.9, "Atelectasis": 0.9}, ["left lower lung zone"])
    rep = generate_report(pred)
    assert rep.skipped_labels == ["Normal"] and [f.name for f in rep.findings] == ["Atelectasis"]


def test_template_varies_wording_but_is_reproducible():
    d = load_dictionary()
    universe = list(d.findings)

    def finding_sentences(seed: int) -> list[str]:
        out = []
        for n in universe:
            rep = write_report(plan_from_findings({n: ()}, universe, d), ReportConfig(seed=seed), d)
            out += [s.text for s in rep.sentences if s.section == "findings" and s.findings == [n]]
        return out

    texts = finding_sentences(0)
    assert len(texts) == len(universe)
    assert len({t.split(" ")[0] for t in texts}) > 1  # several sentence frames in use
    assert finding_sentences(0) == texts
    assert finding_sentences(1) != texts


def test_every_finding_level_and_location_round_trips_through_the_labeler():
    """Template text read back by the labeler: the finding, its certainty and regions, nothing else."""
    d = load_dictionary()
    locations = [
        (),
        ("left lower lung zone",),
        ("left lower lung zone", "right lower lung zone"),
        ("right upper lung zone",),
        ("right hilar structures",),
        ("left costophrenic angle",),
    ]
    for name, level, regions in itertools.product(d.findings, [lv.name for lv in d.certainty], locations):
        entry = d.findings[name]
        regions = tuple(r for r in regions if r in entry.priors)
        plan = plan_from_findings({name: regions}, [name], d, certainty=level)
        rep = write_report(plan, ReportConfig(), d)
        from gazecxr.vocab.labeler import label_report

        got = {f.name: f for f in label_report(rep.findings_text, d)}
        assert set(got) == {name}, (rep.findings_text, got)
        assert got[name].status == d.level(level).status, rep.findings_text
        if d.level(level).status != "negated":
            assert got[name].certainty == level, rep.findings_text
            assert keyword_counts(rep.findings_text, [name], d) == (1, 1, 1)
        if entry.locate:
            assert got[name].regions == tuple(sorted(regions)), rep.findings_text


def test_bad_report_config_is_a_config_error():
    from gazecxr.schema import ConfigError

    pred = _prediction({"Atelectasis": 0.9}, ["left lower lung zone"])
    with pytest.raises(ConfigError, match="mention_min_certainty"):
        generate_report(pred, ReportConfig(mention_min_certainty="definitely"))
    with pytest.raises(ConfigError, match="report.cutpoints"):
        generate_report(pred, ReportConfig(cutpoints={"possibly": 0.9}))  # above "suspicious for"
    with pytest.raises(ConfigError, match="report.cutpoints"):
        generate_report(pred, ReportConfig(cutpoints={"maybe": 0.5}))


def test_plural_nouns_agree_with_the_verb():
    d = load_dictionary()
    writer_texts = {
        write_report(
            plan_from_findings({"Low lung volumes": ()}, ["Low lung volumes"], d, level),
            ReportConfig(seed=s),
            d,
        ).findings_text
        for level in ("unlikely", "consistent with")
        for s in range(6)
    }
    assert not any(" volumes is " in t or "There is low lung volumes" in t for t in writer_texts)
    assert any(" are " in t for t in writer_texts)


def test_density_evidence_does_not_favour_large_boxes():
    from gazecxr.report.regions import region_evidence

    d = load_dictionary()
    boxes = _atlas()
    masses = box_masses(np.ones((32, 32)), boxes)
    density = region_evidence(masses, boxes, "density")
    inside = [r for r, b in boxes.items() if b[1] > 0 and b[3] < 1]  # boxes not clipped by the image edge
    assert np.allclose([density[r] for r in inside], 1.0, atol=0.08)  # uniform map: 1 everywhere
    effusion = d.findings["Pleural abnormality"]
    # A uniform map leaves the choice to the priors (costophrenic angles); raw mass picks the whole lungs.
    assert assign_regions(effusion, density)[0] == ("left costophrenic angle", "right costophrenic angle")
    assert assign_regions(effusion, region_evidence(masses, boxes, "mass"))[0] == ("left lung", "right lung")
    with pytest.raises(ValueError, match="density' or 'mass"):
        region_evidence(masses, boxes, "area")


def test_positive_decision_is_never_phrased_as_an_absence():
    # Decision thresholds chosen on validation can be far below the "possibly" cut-point.
    pred = _prediction({"Pleural abnormality": 0.17, "Pneumothorax": 0.05}, ["right costophrenic angle"])
    pred.thresholds = np.array([0.13 if n == "Pleural abnormality" else 0.5 for n in pred.labels])
    report = generate_report(pred, ReportConfig())
    stated = {f["name"]: f for f in report.to_dict()["findings"]}
    assert stated["Pleural abnormality"]["certainty"] == "possibly"
    assert stated["Pleural abnormality"]["probability"] == pytest.approx(0.17)
    assert "unlikely" not in report.text.lower() and "less likely" not in report.text.lower()
    assert "Pneumothorax" not in stated  # below threshold and below every cut-point: not stated


def test_finding_below_its_threshold_is_not_stated_even_at_a_possible_level():
    # Calibrated cut-points can put "possibly" below a validation (F1) threshold: the report must
    # still agree with the classifier's negative call.
    pred = _prediction({"Pneumothorax": 0.45, "Atelectasis": 0.93}, ["right upper lung zone"])
    pred.thresholds = np.array([0.6 if n == "Pneumothorax" else 0.5 for n in pred.labels])
    report = generate_report(
        pred, ReportConfig(cutpoints={"unlikely": 0.05, "less likely": 0.1, "possibly": 0.2})
    )
    stated = {f["name"] for f in report.to_dict()["findings"]}
    assert stated == set(pred.positive) == {"Atelectasis"}
    assert "pneumothorax" not in report.text.lower()
