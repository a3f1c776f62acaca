"""Regions where the lungs say they are (issue 24): the lung-anchored layout, the plausibility check,
per-region sources, and the real-film checks.

Checked against material we did not write: the reference geometry of
``../shared/tools/anatomy_regions_check.py`` (its own functions, imported from the file), real
radiographs of ``../shared/data`` (a flipped film, the per-region sources on real films, the
patient-grouped CV of the 15 non-lung regions against the lung-derived reference). The unit tests
check our layout against our own synthetic boxes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from gazecxr.anatomy.boxes import iou
from gazecxr.anatomy.layout import ANCHORED, ZONES, LungLayout
from gazecxr.anatomy.localiser import Localiser
from gazecxr.anatomy.sources import read_dataset
from gazecxr.data.anatomy import REGIONS
from gazecxr.prediction import Prediction

TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "anatomy_regions_check.py"


@pytest.fixture(scope="module")
def cohort_boxes(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    from gazecxr.synth import config as synth_config
    from gazecxr.synth import writer as synth_writer

    out = tmp_path_factory.mktemp("layout") / "cohort"
    cfg = synth_config.SynthConfig(studies=30, image_size=96, seed=21)
    cfg.readers.eyegaze_fraction = 0.9
    synth_writer.write_cohort(out, cfg, workers=1)
    return [s["boxes"] for s in read_dataset(out) if len(s["boxes"]) == len(REGIONS)]


def stacked(boxes: list[dict]) -> torch.Tensor:
    return torch.tensor([[b[r] for r in REGIONS] for b in boxes], dtype=torch.float64)


def test_the_layout_places_every_region_of_a_cohort_from_its_lungs(cohort_boxes: list[dict]) -> None:
    layout = LungLayout.fit_boxes(cohort_boxes)
    truth = stacked(cohort_boxes)
    placed = layout.place(truth)
    assert torch.equal(placed[:, ~ANCHORED], truth[:, ~ANCHORED])  # the lungs are the lungs given
    fit = iou(placed, truth).mean(0)
    assert torch.allclose(fit.float(), layout.fit, atol=1e-5)  # fit: the placement's IoU on its own boxes
    assert float(fit[ANCHORED].min()) > 0.6, dict(zip(REGIONS, fit.tolist(), strict=True))
    # The true boxes are plausible for the true lungs (measured: 1 of 300 here, a clavicle clipped
    # by the top of the image, its centre 0.26 of the lung's width from the mean placement).
    assert float(layout.implausible(truth)[:, ANCHORED].float().mean()) < 0.01


def test_an_implausible_box_is_flagged_and_only_it(cohort_boxes: list[dict]) -> None:
    layout = LungLayout.fit_boxes(cohort_boxes)
    truth = stacked(cohort_boxes[:4])
    bad = truth.clone()
    cp, hilum = REGIONS.index("left costophrenic angle"), REGIONS.index("right hilar structures")
    bad[0, cp] = torch.tensor([0.05, 0.05, 0.95, 0.95])  # most of the image
    bad[1, hilum] = truth[1, REGIONS.index("left hilar structures")]  # the other side
    upper, mid, _ = ZONES["right"]
    bad[2, [upper, mid]] = truth[2, [mid, upper]]  # the zones out of order
    flagged = layout.implausible(bad)
    assert flagged[0].nonzero().flatten().tolist() == [cp]
    assert flagged[1].nonzero().flatten().tolist() == [hilum]
    assert flagged[2].nonzero().flatten().tolist() == ZONES["right"]
    assert not flagged[3].any()


def test_a_layout_needs_every_region_at_least_once() -> None:
    lungs_only = [{"right lung": (0.1, 0.1, 0.45, 0.9), "left lung": (0.55, 0.1, 0.9, 0.9)}]
    with pytest.raises(ValueError, match="lung-anchored layout needs every region"):
        LungLayout.fit_boxes(lungs_only)


def test_the_regions_placed_from_the_lungs_lose_accuracy_with_the_lungs_error(
    cohort_boxes: list[dict],
) -> None:
    """``anatomy sensitivity``: exact lungs place every region exactly; larger edge errors cost more."""
    from gazecxr.anatomy.evaluate import lung_error_sensitivity

    layout = LungLayout.fit_boxes(cohort_boxes)
    lungs_only = [{"boxes": {r: b[r] for r in ("right lung", "left lung")}} for b in cohort_boxes]
    rows = lung_error_sensitivity(lungs_only, layout, [0.0, 0.04, 0.08], repeats=3)
    lungs = [r["lungs"]["mean_iou"] for r in rows]
    others = [r["non_lung"]["mean_iou"] for r in rows]
    assert lungs[0] == pytest.approx(1.0) and others[0] == pytest.approx(1.0)
    assert lungs[0] > lungs[1] > lungs[2] and others[0] > others[1] > others[2]
    assert others[1] < lungs[1]  # small regions (costophrenic angles, hila) lose more than the lungs
    assert rows[1]["non_lung"]["boxes"] == 15 * 3 * len(lungs_only)
    with pytest.raises(ValueError, match="no sample has both lung boxes"):
        lung_error_sensitivity([{"boxes": {"right lung": (0.1, 0.1, 0.4, 0.9)}}], layout, [0.0])


def test_anatomy_sensitivity_refuses_a_bad_error_list_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gazecxr.cli import main

    result = CliRunner().invoke(
        main,
        ["anatomy", "sensitivity", "--coco", "x.json", "--regions-from-lungs", str(tmp_path), "--sd", "a,b"],
    )
    assert result.exit_code == 2 and "not a comma-separated list of numbers" in result.output


def test_a_reference_cohort_that_is_not_a_dataset_names_it_once(tmp_path: Path) -> None:
    from gazecxr.anatomy.evaluate import reference_layout

    with pytest.raises(ValueError, match="not a dataset root") as err:
        reference_layout(tmp_path)
    assert str(err.value).count(str(tmp_path)) == 1, str(err.value)


def load_tool():  # noqa: ANN201 - the shared tool's module
    if not TOOL.is_file():
        pytest.skip(f"{TOOL} is absent (only present in the project workspace)")
    spec = importlib.util.spec_from_file_location("anatomy_regions_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.realdata
def test_the_reference_is_the_shared_tools_own(cohort_boxes: list[dict]) -> None:
    tool = load_tool()
    layout = LungLayout.fit_boxes(cohort_boxes)
    lungs = {"right lung": (0.12, 0.15, 0.47, 0.86), "left lung": (0.55, 0.13, 0.9, 0.88)}
    truth = torch.zeros(1, len(REGIONS), 4, dtype=torch.float64)
    known = torch.zeros(1, len(REGIONS), dtype=torch.bool)
    for r, b in lungs.items():
        truth[0, REGIONS.index(r)], known[0, REGIONS.index(r)] = torch.tensor(b), True
    ours, filled = layout.reference(truth, known)
    assert filled.all()
    for k, name in enumerate(REGIONS):
        if name in lungs:
            continue
        rel = np.mean([tool.rel(b[name], tool.frame_of(name, b)) for b in cohort_boxes], axis=0)
        theirs = tool.place(rel, tool.frame_of(name, lungs))
        np.testing.assert_allclose(ours[0, k].numpy(), theirs, atol=1e-6, err_msg=name)


def real_films(shared_data: Path, n: int) -> list[np.ndarray]:
    from gazecxr.data.images import load_image

    paths = sorted((shared_data / "real_cxr" / "images").iterdir())[:n]
    return [load_image(p, draft_size=512) for p in paths]


@pytest.mark.realdata
def test_a_real_film_gets_regions_placed_from_its_lungs_and_the_report_says_so(shared_data: Path) -> None:
    from gazecxr.report import generate_report

    image = real_films(shared_data, 1)[0]
    anatomy = Localiser.load().locate(image)
    assert anatomy.source == "model" and anatomy.anchored, anatomy.note
    assert set(anatomy.sources.values()) <= {"model", "lung-anchored"}
    assert "placed from the lungs" in anatomy.note
    for r in anatomy.anchored:  # every anchored box is plausible for the lungs, and small
        b = anatomy.boxes[r]
        assert (b[2] - b[0]) * (b[3] - b[1]) < 0.6 and 0 < anatomy.confidence[r] <= 1
    cp = [r for r in anatomy.anchored if "costophrenic" in r]  # where a pleural finding is placed
    region = (cp or anatomy.anchored)[0]
    x0, y0, x1, y1 = anatomy.boxes[region]
    attention = np.full((32, 32), 1e-6)
    attention[
        int(y0 * 32) : max(int(y1 * 32), int(y0 * 32) + 1), int(x0 * 32) : max(int(x1 * 32), int(x0 * 32) + 1)
    ] = 1
    labels = ["Pleural abnormality"]
    pred = Prediction(
        labels, np.array([0.95]), np.array([0.5]), attention / attention.sum(), image.shape, anatomy
    )
    report = generate_report(pred).to_dict()
    (finding,) = report["findings"]
    assert region in finding["regions"] and finding["region_sources"][region] == "lung-anchored"
    assert any("placed from the lungs" in n and "Pleural abnormality" in n for n in report["anatomy_notes"])


SIDES = [(r, "left" + r[5:]) for r in REGIONS if r.startswith("right ")]


def mirror(box: tuple[float, ...]) -> tuple[float, ...]:
    return (1 - box[2], box[1], 1 - box[0], box[3])


def centre_x(box: tuple[float, ...]) -> float:
    return (box[0] + box[2]) / 2


@pytest.mark.realdata
def test_a_horizontal_flip_swaps_every_right_and_left_region(shared_data: Path) -> None:
    """On a flipped film the patient's right regions sit where the plain film's left ones were
    (mirrored), for every pair on every film: each box's centre is nearer its mirrored partner's
    than the mirrored centre of its own name. (Measured mean IoU with the partner, 8 films: lungs 0.88, zones
    0.74-0.79, clavicles 0.72, hila 0.57, costophrenic angles 0.47: the layout is not symmetric.)"""
    localiser = Localiser.load()
    swapped_ious = {pair: [] for pair in SIDES}
    for image in real_films(shared_data, 8):
        plain, flipped = localiser.locate(image), localiser.locate(np.ascontiguousarray(image[:, ::-1]))
        assert plain.source == flipped.source == "model"
        for right, left in SIDES:
            for a, b in ((right, left), (left, right)):
                got, partner, same = flipped.boxes[a], mirror(plain.boxes[b]), mirror(plain.boxes[a])
                assert abs(centre_x(got) - centre_x(partner)) < abs(centre_x(got) - centre_x(same)), a
                swapped_ious[(right, left)].append(float(iou(torch.tensor(got), torch.tensor(partner))))
    assert float(np.mean(swapped_ious[("right lung", "left lung")])) >= 0.8


@pytest.mark.realdata
def test_a_half_image_and_a_photograph_still_fall_back_to_the_atlas(shared_data: Path) -> None:
    import matplotlib.cbook
    from PIL import Image

    localiser = Localiser.load()
    image = real_films(shared_data, 1)[0]
    half = localiser.locate(image[:, : image.shape[1] // 2])
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = localiser.locate(np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255)
    for anatomy in (half, photo):
        assert anatomy.source == "atlas" and set(anatomy.sources.values()) == {"atlas"}, anatomy.note


@pytest.fixture(scope="module")
def real_cv(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """``gazecxr anatomy cv`` on the development radiographs, as a user runs it: patient-grouped
    5-fold CV, the other regions scored against the boxes placed from the true lungs with a
    synthetic cohort's geometry (the shared tool's reference). 4 views per image instead of the
    shipped 16, to keep it near a minute."""
    import json

    from click.testing import CliRunner

    from gazecxr.cli import main
    from gazecxr.synth import config as synth_config
    from gazecxr.synth import writer as synth_writer

    tmp = tmp_path_factory.mktemp("real_cv")
    cfg = synth_config.SynthConfig(studies=60, seed=21)
    cfg.readers.eyegaze_fraction = 0.9
    synth_writer.write_cohort(tmp / "geom", cfg, workers=1)
    coco = shared_data / "real_cxr_lungs" / "lung_boxes_coco.json"
    args = ["anatomy", "cv", "--coco", str(coco), "--extra-data", str(tmp / "geom")]
    args += ["--regions-from-lungs", str(tmp / "geom"), "--json", str(tmp / "cv.json"), "--set", "views=4"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads((tmp / "cv.json").read_text())["pooled"], result.output


@pytest.mark.realdata
@pytest.mark.slow
def test_regions_on_real_films_by_patient_grouped_cv_hold_what_was_measured(
    real_cv: tuple[dict, str],
) -> None:
    """Measured 2026-12-03 (docs/anatomy.md): lungs 0.776 / 97.6 %, other regions 0.573 (lowest the
    right costophrenic angle, 0.273), no box over 60 % of the image (955 of 1,245 before)."""
    pooled, output = real_cv
    others = pooled["non_lung"]
    assert others["large_boxes"] == 0, output
    assert others["mean_iou"] >= 0.54 and others["lowest_iou"] >= 0.24, output
    assert pooled["lungs"]["mean_iou"] >= 0.75 and pooled["lungs"]["hit_rate"] >= 0.96, output


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 24's target is not reached: the other regions inherit the predicted lungs' error "
    "(about 10 % of a lung per edge out of sample; docs/anatomy.md, 'Regions from the lungs')",
)
def test_regions_on_real_films_reach_the_issue_target(real_cv: tuple[dict, str]) -> None:
    pooled, output = real_cv
    others = pooled["non_lung"]
    assert others["mean_iou"] >= 0.70 and others["lowest_iou"] >= 0.40, output
    assert pooled["lungs"]["mean_iou"] >= 0.80 and pooled["lungs"]["hit_rate"] >= 0.98, output


def test_anchor_targets_fill_lung_only_images_and_remember_what_was_drawn(cohort_boxes: list[dict]) -> None:
    from gazecxr.anatomy.train import anchor_targets, annotated

    lungs = {"right lung": (0.12, 0.15, 0.47, 0.86), "left lung": (0.55, 0.13, 0.9, 0.88)}
    phantoms = [{"boxes": b, "image_path": "p"} for b in cohort_boxes]
    real = {"boxes": dict(lungs), "image_path": "r"}
    out = anchor_targets([*phantoms, real])
    assert out[: len(phantoms)] == phantoms  # images with the 17 boxes are left alone
    filled = out[-1]
    assert set(filled["boxes"]) == set(REGIONS) and annotated(filled) == lungs
    placed = LungLayout.fit_boxes(cohort_boxes).place(
        torch.tensor(
            [[filled["boxes"][r] if r in lungs else (0, 0, 0, 0) for r in REGIONS]], dtype=torch.float64
        )
    )[0]
    assert torch.allclose(torch.tensor([filled["boxes"][r] for r in REGIONS], dtype=torch.float64), placed)
    assert anchor_targets([real]) == [real]  # no 17-box source: nothing to place from
