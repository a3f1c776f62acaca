"""The anatomy localiser (issue 12): boxes move with the image, masked sources teach nothing, box
files read by their names, bad files reported, the atlas when the model is not confident, the
shipped weights read as safetensors only.

What is checked against material we did not write: the COCO reader and the shipped model on the
real lung boxes of ``../shared/data/real_cxr_lungs`` (skipped when absent), the in-domain score on
real radiographs (``real_cxr``) and on a real photograph (matplotlib's sample image). The rest
checks our code against our own geometry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gazecxr.anatomy.boxes import iou
from gazecxr.anatomy.config import AnatomyConfig
from gazecxr.anatomy.domain import DomainModel
from gazecxr.anatomy.localiser import Localiser, LocaliserError, default_model_dir
from gazecxr.anatomy.network import UPSAMPLE, box_cover, decode_boxes
from gazecxr.anatomy.sources import BoxFileError, read_coco, read_dataset
from gazecxr.anatomy.train import mask_loss
from gazecxr.anatomy.views import crop_affine, make_view, move_targets
from gazecxr.cli import main
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.augment import HFLIP, apply_affine_points, move_box, swap_sides, warp

RIGHT, LEFT = REGIONS.index("right lung"), REGIONS.index("left lung")


@pytest.fixture(scope="module")
def synth_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gazecxr.synth import config as synth_config
    from gazecxr.synth import writer as synth_writer

    out = tmp_path_factory.mktemp("anatomy") / "cohort"
    synth_writer.write_cohort(out, synth_config.SynthConfig(studies=24, image_size=128, seed=5), workers=1)
    return out


def iou_np(a, b) -> float:  # noqa: ANN001 - two boxes as sequences of floats
    return float(iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)))


def blob_image(box: tuple[float, float, float, float], n: int = 64) -> torch.Tensor:
    img = torch.zeros(n, n)
    x0, y0, x1, y1 = (int(round(v * n)) for v in box)
    img[y0:y1, x0:x1] = 1.0
    return img


def bright_extent(img: torch.Tensor) -> tuple[float, float, float, float]:
    ys, xs = torch.nonzero(img > 0.5, as_tuple=True)
    n = img.shape[-1]
    return (xs.min().item() / n, ys.min().item() / n, (xs.max().item() + 1) / n, (ys.max().item() + 1) / n)


def test_boxes_move_with_the_image_under_random_affines_and_crops() -> None:
    box = (0.25, 0.3, 0.45, 0.7)
    sample = {"boxes": {"right lung": box}, "chest_box": None}
    cfg = AnatomyConfig().augment.model_copy(
        update={"rotate_deg": 0.0, "crop": 1.0, "brightness": 0.0, "contrast": 0.0}
    )
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(20):
        view, t = make_view(blob_image(box), sample, cfg, rng, REGIONS)
        if not t["box_mask"][RIGHT]:
            assert t["known_mask"][RIGHT]  # cropped away: known, so taught "not in this image"
            continue
        got = tuple(t["boxes"][RIGHT].tolist())
        assert iou_np(got, bright_extent(view)) > 0.85  # the pixels went where the box went
        checked += 1
    assert checked >= 5


def test_horizontal_flip_mirrors_the_boxes_and_swaps_every_right_left_name() -> None:
    boxes = {
        "right lung": (0.1, 0.2, 0.45, 0.8),
        "left costophrenic angle": (0.8, 0.7, 0.95, 0.85),
        "trachea": (0.45, 0.0, 0.55, 0.3),
    }
    t = move_targets({"boxes": boxes, "chest_box": None}, HFLIP, True, REGIONS)
    mirrored = {
        "left lung": (0.55, 0.2, 0.9, 0.8),
        "right costophrenic angle": (0.05, 0.7, 0.2, 0.85),
        "trachea": (0.45, 0.0, 0.55, 0.3),
    }
    for name, box in mirrored.items():
        k = REGIONS.index(name)
        assert t["box_mask"][k]
        np.testing.assert_allclose(t["boxes"][k].numpy(), box, atol=1e-6)
    assert not t["known_mask"][RIGHT]  # no right lung after the flip: its box became the left one
    assert swap_sides({"right hilar structures": 1, "cardiac silhouette": 2}) == {
        "left hilar structures": 1,
        "cardiac silhouette": 2,
    }
    img = blob_image(boxes["right lung"])
    assert iou_np(bright_extent(warp(img[None], HFLIP)[0]), mirrored["left lung"]) > 0.9


def test_crop_affine_maps_the_window_onto_the_image() -> None:
    window = (0.2, 0.1, 0.7, 0.6)
    corners = np.array([[0.2, 0.1], [0.7, 0.6]])
    np.testing.assert_allclose(
        apply_affine_points(crop_affine(window), corners), [[0, 0], [1, 1]], atol=1e-12
    )
    assert move_box(crop_affine(window), (0.0, 0.0, 0.45, 0.35)) == pytest.approx((0.0, 0.0, 0.5, 0.5))


def test_a_region_a_source_lacks_contributes_nothing() -> None:
    logits = torch.randn(2, len(REGIONS), 8, 8, requires_grad=True)
    t = {
        "boxes": torch.rand(2, len(REGIONS), 4).sort(-1).values[..., [0, 1, 2, 3]],
        "box_mask": torch.zeros(2, len(REGIONS), dtype=torch.bool),
        "known_mask": torch.zeros(2, len(REGIONS), dtype=torch.bool),
        "chest": torch.zeros(2, 4),
        "chest_mask": torch.zeros(2, dtype=torch.bool),
    }
    t["boxes"] = torch.cat([t["boxes"][..., :2] * 0.5, 0.5 + t["boxes"][..., 2:] * 0.5], -1)
    t["box_mask"][0, RIGHT] = t["known_mask"][0, RIGHT] = True
    mask_loss(logits, t, chest_weight=0.5).backward()
    grad = logits.grad.abs().sum((-2, -1))
    assert grad[0, RIGHT] > 0
    grad[0, RIGHT] = 0
    assert grad.sum() == 0  # every other region and the second image: no gradient at all
    other = dict(t, boxes=t["boxes"].clone())
    other["boxes"][:, LEFT] = torch.tensor([0.0, 0.0, 1.0, 1.0])  # a different box under a False mask
    assert mask_loss(logits, other, 0.5).item() == pytest.approx(mask_loss(logits, t, 0.5).item())


def test_balanced_epochs_give_every_source_the_same_weight() -> None:
    from gazecxr.anatomy.train import epoch_views

    views = np.arange(1000)
    sources = np.array(["synthetic"] * 900 + ["coco:real.json"] * 100)
    rng = np.random.default_rng(0)
    plain = epoch_views(views, sources, False, rng)
    assert sorted(plain.tolist()) == views.tolist()  # every view once
    drawn = np.concatenate([epoch_views(views, sources, True, rng) for _ in range(20)])
    assert len(drawn) == 20 * 1000 and set(drawn) <= set(views)
    real_share = float(np.mean(drawn >= 900))
    assert 0.47 < real_share < 0.53  # 10 % of the views, half of the draws


def test_decoded_box_of_a_perfect_map_is_the_box_within_a_sub_cell() -> None:
    box = torch.tensor([[[0.13, 0.21, 0.58, 0.93]]])
    cover = box_cover(box, 14)
    logits = torch.logit(cover.clamp(1e-4, 1 - 1e-4))
    decoded, peak = decode_boxes(logits)
    assert float(peak) > 0.99
    np.testing.assert_allclose(decoded[0, 0].numpy(), box[0, 0].numpy(), atol=1.0 / (14 * UPSAMPLE) + 0.02)
    small = torch.tensor([[[0.80, 0.84, 0.86, 0.90]]])  # narrower than a cell: its map peaks below 0.5
    decoded, peak = decode_boxes(torch.logit(box_cover(small, 14).clamp(1e-4, 1 - 1e-4)))
    assert float(peak) < 0.5 and iou_np(decoded[0, 0].tolist(), small[0, 0].tolist()) > 0.3
    _, peak = decode_boxes(torch.full((1, 1, 14, 14), -6.0))
    assert float(peak) < 0.01


def test_domain_score_is_one_inside_the_training_cloud_and_falls_far_from_it() -> None:
    g = torch.Generator().manual_seed(0)
    model = DomainModel.fit(torch.randn(400, 50, generator=g), 8)
    fresh = torch.randn(400, 50, generator=g)  # new draws of the same distribution
    assert float((model.score(fresh) == 1).float().mean()) >= 0.9
    assert float(model.score(torch.randn(1, 50, generator=g) * 0 + 25)) < 0.01


def test_coco_reader_names_regions_and_reports_a_bad_file(tmp_path: Path) -> None:
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 200, "height": 100, "metadata": {"patientid": "7"}}
        ],
        "categories": [
            {"id": 1, "name": "Right Lung"},
            {"id": 2, "name": "Left Lung"},
            {"id": 3, "name": "Pacemaker"},
        ],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [20, 10, 60, 80]},
            {"image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5]},
            {"image_id": 1, "category_id": 2, "bbox": [0, 0, 0, 10]},
        ],
    }
    (tmp_path / "boxes.json").write_text(json.dumps(coco))
    (sample,) = read_coco(tmp_path / "boxes.json")
    assert sample["boxes"] == {
        "right lung": pytest.approx((0.1, 0.1, 0.4, 0.9))
    }  # pacemaker, empty box: skipped
    assert sample["group"].endswith(":7") and sample["image_path"].endswith("a.png")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BoxFileError, match="bad.json: not a readable COCO box file"):
        read_coco(tmp_path / "bad.json")
    (tmp_path / "none.json").write_text(json.dumps({**coco, "categories": [{"id": 1, "name": "dog"}]}))
    with pytest.raises(BoxFileError, match="no category names an anatomy region"):
        read_coco(tmp_path / "none.json")


@pytest.mark.realdata
def test_real_lung_boxes_read_with_the_patients_right_on_the_image_left(shared_data: Path) -> None:
    samples = read_coco(shared_data / "real_cxr_lungs" / "lung_boxes_coco.json")
    assert len(samples) == 83 and all(Path(s["image_path"]).is_file() for s in samples)
    centre = lambda b: (b[0] + b[2]) / 2  # noqa: E731
    assert all(centre(s["boxes"]["right lung"]) < centre(s["boxes"]["left lung"]) for s in samples)


def test_synthetic_cohort_gives_the_17_regions_and_the_chest_box(synth_cohort: Path) -> None:
    samples = read_dataset(synth_cohort)
    full = [s for s in samples if len(s["boxes"]) == 17]
    chest = [s for s in samples if s["chest_box"] is not None]
    assert full and chest and {s["split"] for s in samples} <= {"train", "validate", "test"}
    for s in full:
        rl, ll = s["boxes"]["right lung"], s["boxes"]["left lung"]
        assert rl[2] <= ll[0] + 0.05  # the patient's right lung is on the image's left


def test_synthetic_cohorts_are_one_source_and_each_real_root_its_own(
    synth_cohort: Path, tmp_path: Path
) -> None:
    from data_fixtures import write_mimic_eye

    real = write_mimic_eye(tmp_path / "real").root  # a tree without synthetic/cohort.json
    assert {s["source"] for s in read_dataset(synth_cohort)} == {"synthetic"}
    assert {s["source"] for s in read_dataset(real)} == {f"mimic-eye:{real.resolve()}"}


def test_shipped_weights_load_as_safetensors_without_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(p.name for p in default_model_dir().iterdir())
    assert "localiser.safetensors" in files and not [
        f for f in files if f.endswith((".pt", ".pth", ".pkl", ".ckpt"))
    ]
    assert (default_model_dir() / "localiser.safetensors").stat().st_size <= 5 * 2**20

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load must not be used for the localiser")

    monkeypatch.setattr(torch, "load", refuse)
    localiser = Localiser.load()
    assert localiser.head.regions == REGIONS


def test_a_broken_model_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocaliserError, match="no localiser weights there"):
        Localiser.load(tmp_path)
    for name in ("config.yaml",):
        (tmp_path / name).write_bytes((default_model_dir() / name).read_bytes())
    (tmp_path / "localiser.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(LocaliserError, match="not a readable safetensors file"):
        Localiser.load(tmp_path)


def radiograph_png(path: Path, size: int = 256) -> Path:
    """A phantom-like frontal film: bright body, two dark lungs."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.full((size, size), 0.15)
    img[(np.abs(xx - 0.5) < 0.42) & (yy > 0.05)] = 0.75
    for cx in (0.3, 0.7):
        img[((xx - cx) / 0.16) ** 2 + ((yy - 0.48) / 0.32) ** 2 < 1] = 0.3
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return path


def test_locate_reports_a_bad_file_and_still_writes_the_others(tmp_path: Path) -> None:
    good = radiograph_png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    result = CliRunner().invoke(
        main, ["anatomy", "locate", str(good), str(bad), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    failed = json.loads((tmp_path / "out" / "failed.json").read_text())
    assert [f["path"] for f in failed] == [str(bad)]
    record = json.loads((tmp_path / "out" / "good.json").read_text())
    assert set(record["boxes"]) == set(REGIONS) and set(record["confidence"]) == set(REGIONS)
    assert record["source"] in {"model", "atlas"}
    assert all(0 <= v <= 1 for b in record["boxes"].values() for v in b)


def test_a_photograph_falls_back_to_the_atlas_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255
    location = Localiser.load().locate(photo)
    assert location.source == "atlas" and location.note.startswith(
        ("low confidence for the", "the image does not")
    )
    assert set(location.sources.values()) == {"atlas"}  # every region says so
    assert location.confidence and location.domain is not None  # the model's view is kept for the record
    assert "atlas used instead of the localiser" in caplog.text


@pytest.mark.realdata
def test_real_radiographs_are_located_and_a_half_image_is_not_trusted(shared_data: Path) -> None:
    import matplotlib.cbook

    from gazecxr.data.images import load_image

    localiser = Localiser.load()
    paths = sorted((shared_data / "real_cxr" / "images").iterdir())
    located = [localiser.locate(load_image(p, draft_size=512)) for p in paths]
    sources = [x.source for x in located]
    assert sources.count("model") >= 0.9 * len(paths), sources
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255
    assert localiser.locate(photo).domain < min(x.domain for x in located)  # a photo: less in-domain than any
    # The image's left half holds only the patient's right lung: the left lung is not found, the atlas is
    # used and the reason names it. (A crop of the top half, stretched to a square, still looks like
    # a whole chest to the model: docs/anatomy.md, limitations.)
    halves = [
        localiser.locate((img := load_image(p, draft_size=512))[:, : img.shape[1] // 2]) for p in paths[:10]
    ]
    # Measured 7 of these 10 (2026-12-01), 8 with the weights retrained on 2026-12-02; at least 6 required.
    assert sum(h.source == "atlas" and "left lung" in h.note for h in halves) >= 6, [h.note for h in halves]


@pytest.mark.slow
def test_train_cv_and_eval_commands_on_the_synthetic_cohort(synth_cohort: Path, tmp_path: Path) -> None:
    tiny = ["--set", "views=2", "--set", "epochs=2", "--set", "image_size=64", "--set", "folds=2"]
    runner = CliRunner()
    result = runner.invoke(
        main, ["anatomy", "train", "--data", str(synth_cohort), "--out", str(tmp_path / "m"), *tiny]
    )
    assert result.exit_code == 0, result.output
    assert {"localiser.safetensors", "config.yaml", "run.json", "metrics.json"} <= {
        p.name for p in (tmp_path / "m").iterdir()
    }
    result = runner.invoke(
        main,
        [
            "anatomy",
            "eval",
            "--model",
            str(tmp_path / "m"),
            "--data",
            str(synth_cohort),
            "--split",
            "all",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["regions"]) == set(REGIONS) and report["images"] > 0
    result = runner.invoke(
        main, ["anatomy", "cv", "--data", str(synth_cohort), "--json", str(tmp_path / "cv.json"), *tiny]
    )
    assert result.exit_code == 0, result.output
    assert "fold 0" in result.output and "fold 1" in result.output and "pooled" in result.output
    assert len(json.loads((tmp_path / "cv.json").read_text())["folds"]) == 2


@pytest.mark.parametrize("fine", [True, False])
def test_a_localiser_loads_with_the_head_it_was_trained_with(
    synth_cohort: Path, tmp_path: Path, fine: bool
) -> None:
    """The stride-8 head (``fine_map``) and the stride-16 one: each loads as it was saved (a
    config.yaml that predates ``fine_map`` says nothing about it) and predicts on its own grid."""
    from gazecxr.anatomy.localiser import Localiser
    from gazecxr.anatomy.network import trunk_features

    tiny = ["--set", "views=1", "--set", "epochs=1", "--set", "image_size=64", "--set", f"fine_map={fine}"]
    out = tmp_path / "m"
    result = CliRunner().invoke(
        main, ["anatomy", "train", "--data", str(synth_cohort), "--out", str(out), *tiny]
    )
    assert result.exit_code == 0, result.output
    config = out / "config.yaml"
    config.write_text(
        "\n".join(line for line in config.read_text().splitlines() if "fine_map" not in line) + "\n"
    )
    loc = Localiser.load(out)
    assert loc.head.fine is fine and loc.cfg.fine_map is fine
    image = torch.rand(2, 1, 64, 64)
    features = trunk_features(loc.trunk, image)
    assert [f.shape[-1] for f in features] == [8, 4, 2]
    assert loc.head(*features).shape == (2, len(REGIONS), 8 if fine else 4, 8 if fine else 4)
    boxes, confidence, _ = loc.predict(image)
    assert boxes.shape == (2, len(REGIONS), 4) and confidence.shape == (2, len(REGIONS))
