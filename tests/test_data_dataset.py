"""GazeCXRDataset / collate / build_datasets: the sample contract, augmentation consistency,
splits, unreadable images, shared image cache across DataLoader workers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

import gazecxr.data.dataset as D
from data_fixtures import Tree, write_mimic_eye
from gazecxr.config import load_config
from gazecxr.data import build_datasets, collate
from gazecxr.data.augment import corners
from gazecxr.data.config import AugmentConfig
from gazecxr.data.splits import write_splits

SAMPLE_KEYS = {
    "image",
    "labels",
    "label_mask",
    "gaze_heatmap",
    "gaze_valid",
    "fixations",
    "trust",
    "text",
    "anatomy_boxes",
    "ellipses",
    "chest_box",
    "meta",
}
META_KEYS = {"reading_id", "dicom_id", "subject_id", "study_id", "source", "image_path", "split", "view"}


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return write_mimic_eye(tmp_path / "tree", n_patients=12)


def datasets(root: Path, *overrides: str) -> dict[str, D.GazeCXRDataset]:
    cfg = load_config(
        None,
        [
            f"data.root={root}",
            "data.image_size=32",
            "data.split.val_fraction=0.25",
            "data.split.test_fraction=0.25",
            *overrides,
        ],
    )
    return build_datasets(cfg)


def all_items(ds: dict[str, D.GazeCXRDataset]) -> list[dict]:
    return [d[i] for d in ds.values() for i in range(len(d))]


def test_sample_contract(tree: Tree) -> None:
    ds = datasets(tree.root, "data.augment=false")
    items = all_items(ds)
    assert len(items) == len(tree.reflacx) + 1 + len(tree.eyegaze)  # + the discarded reading
    assert all(set(s) == SAMPLE_KEYS for s in items)
    for s in items:
        assert s["image"].shape == (1, 32, 32) and s["image"].dtype == torch.float32
        assert 0 <= float(s["image"].min()) and float(s["image"].max()) <= 1
        assert s["labels"].shape == s["label_mask"].shape == (8,)
        assert s["gaze_heatmap"].shape == (32, 32) and s["gaze_valid"].dtype == torch.bool
        total = float(s["gaze_heatmap"].sum())
        assert (abs(total - 1) < 1e-4) if s["gaze_valid"] else total == 0
        f = s["fixations"]
        assert f.ndim == 2 and f.shape[1] == 4 and f.dtype == torch.float32
        if len(f):
            assert float(f[:, :2].min()) >= 0 and float(f[:, :2].max()) <= 1
            assert float(f[:, 3].min()) == 0 and float(f[:, 3].max()) <= 1 and float(f[:, 2].min()) > 0
        assert 0 <= float(s["trust"]) <= 1 and (float(s["trust"]) > 0) == bool(s["gaze_valid"])
        assert set(s["meta"]) == META_KEYS and isinstance(s["text"], str) and s["text"]
        for box in [*s["anatomy_boxes"].values(), *[e["box"] for e in s["ellipses"]]]:
            assert len(box) == 4 and 0 <= box[0] <= box[2] <= 1 and 0 <= box[1] <= box[3] <= 1
    discarded = [s for s in items if s["meta"]["reading_id"].endswith("R100021")]
    assert (
        len(discarded) == 1 and not discarded[0]["gaze_valid"] and discarded[0]["fixations"].shape == (0, 4)
    )
    assert discarded[0]["trust"] == 0 and discarded[0]["labels"].sum() > 0
    eyegaze = next(s for s in items if s["meta"]["source"] == "eyegaze")
    assert len(eyegaze["anatomy_boxes"]) == 17 and eyegaze["chest_box"] is None
    reflacx = next(s for s in items if s["meta"]["source"] == "reflacx" and s["ellipses"])
    assert reflacx["ellipses"][0]["labels"] == ["Lung nodule or mass"] and reflacx[
        "chest_box"
    ] == pytest.approx((0.1, 0.1, 0.9, 0.9))


def test_label_mask_marks_unknown(tree: Tree) -> None:
    ds = datasets(tree.root, "data.label_set=reflacx-all", "data.augment=false")
    names = ds["train"].label_names
    for d in ds.values():
        for i in range(len(d)):
            s = d[i]
            if s["meta"]["reading_id"].startswith("P1"):  # phase 1 has no Hiatal hernia column
                assert s["label_mask"][names.index("Hiatal hernia")] == 0
                assert s["label_mask"][names.index("Lung nodule or mass")] == 1
    egd = datasets(tree.root, "data.label_set=egd3")
    assert {r for d in egd.values() for r in d.index["source"]} == {"eyegaze"}  # REFLACX has no EGD labels


def test_collate_pads_fixations(tree: Tree) -> None:
    ds = datasets(tree.root, "data.augment=false")
    items = all_items(ds)
    batch = collate(items)
    lens = [len(s["fixations"]) for s in items]
    assert batch["fixations"].shape == (len(items), max(lens), 4)
    assert batch["fixations_len"].tolist() == lens and batch["fixations_len"].dtype == torch.int64
    k = lens.index(0)
    assert not batch["fixations"][k].any() and batch["image"].shape == (len(items), 1, 32, 32)
    assert batch["gaze_valid"].shape == (len(items),) and isinstance(batch["meta"], list)


def test_warp_moves_pixels_like_points() -> None:
    img = torch.zeros(1, 64, 64)
    img[0, 19:22, 39:42] = 1.0  # blob centred on pixel (x=40, y=20)
    forward = D.random_affine(
        AugmentConfig(rotate_deg=20, scale=0.1, translate=0.1), torch.Generator().manual_seed(3)
    )
    moved = D.warp(img, forward)[0]
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    com = np.array([(moved * xx).sum() / moved.sum(), (moved * yy).sum() / moved.sum()])
    want = D.apply_affine_points(forward, np.array([[40.5 / 64, 20.5 / 64]]))[0] * 64 - 0.5
    np.testing.assert_allclose(com, want, atol=0.3)


def test_augmentation_moves_image_heatmap_fixations_boxes_identically(tree: Tree, monkeypatch) -> None:
    plain = datasets(tree.root, "data.augment=false")["train"]
    aug = datasets(
        tree.root,
        "data.augmentation.brightness=0",
        "data.augmentation.contrast=0",
        "data.augmentation.rotate_deg=15",
        "data.augmentation.translate=0.08",
    )["train"]
    assert not plain.augment and aug.augment
    drawn: list[np.ndarray] = []

    original = D.random_affine

    def record(cfg: AugmentConfig, generator: torch.Generator | None = None) -> np.ndarray:
        drawn.append(original(cfg, generator))
        return drawn[-1]

    monkeypatch.setattr(D, "random_affine", record)
    torch.manual_seed(0)
    for i in range(len(aug)):
        a, p = aug[i], plain[i]
        fwd = drawn[-1]
        torch.testing.assert_close(a["image"], D.warp(p["image"], fwd).clamp(0, 1))
        heat = D.warp(p["gaze_heatmap"][None], fwd)[0].clamp_min(0)
        if p["gaze_valid"]:
            torch.testing.assert_close(a["gaze_heatmap"], heat / heat.sum())
        # Off-image fixations (kept by default, one per fixture reading) are clipped to the image
        # after moving, so only those inside it can be compared through the plain sample.
        xy = p["fixations"][:, :2].double().numpy()
        inside = ((xy > 0) & (xy < 1)).all(axis=1)
        assert inside.sum() >= len(xy) - 1
        moved = np.clip(D.apply_affine_points(fwd, xy[inside]), 0, 1)
        np.testing.assert_allclose(a["fixations"][inside, :2].numpy(), moved, atol=1e-6)
        torch.testing.assert_close(a["fixations"][:, 2:], p["fixations"][:, 2:])
        pairs = [(a["anatomy_boxes"][k], b) for k, b in p["anatomy_boxes"].items()]
        pairs += [(x["box"], y["box"]) for x, y in zip(a["ellipses"], p["ellipses"], strict=True)]
        pairs += [(a["chest_box"], p["chest_box"])] if p["chest_box"] else []
        for got, box in pairs:  # each box becomes the bounding box of its moved corners
            q = np.clip(D.apply_affine_points(fwd, corners(box)), 0, 1)
            assert got == pytest.approx((q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()))
    assert len({m.tobytes() for m in drawn}) == len(drawn)  # a new draw per item


def test_splits_grouped_by_patient_deterministic_and_written(tree: Tree, tmp_path: Path) -> None:
    a = datasets(tree.root)
    b = datasets(tree.root)
    c = datasets(tree.root, "data.split.seed=5")
    ids = {k: sorted(v.index["reading_id"]) for k, v in a.items()}
    assert ids == {k: sorted(v.index["reading_id"]) for k, v in b.items()}
    assert ids != {k: sorted(v.index["reading_id"]) for k, v in c.items()}
    patients = [set(d.index["subject_id"]) for d in a.values()]
    assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
    assert all(len(d) for d in a.values())
    df = pd.concat([d.index for d in a.values()])
    path = write_splits(df, tmp_path / "run")
    written = pd.read_csv(path, dtype=str)
    assert len(written) == len(df) and set(written["split"]) == {"train", "validate", "test"}
    official = datasets(tree.root, "data.split.mode=official")
    for name, d in official.items():
        assert set(d.index["official_split"]) == {name}


def test_unreadable_image_is_skipped_and_reported(tree: Tree, caplog) -> None:
    """Training split: the reading is skipped (the next readable one takes its place in the
    epoch), logged and counted; any other split: never replaced, set aside by collate, and the
    flag is shared with DataLoader workers."""
    ds = datasets(tree.root, "data.augment=false", "data.cache_images=true")
    train, test = ds["train"], ds["test"]
    bad = Path(train.index.at[0, "image_path"])
    bad_test = Path(test.index.at[1, "image_path"])
    for path in (bad, bad_test):
        path.write_bytes(path.read_bytes()[:200])  # truncated JPEG
    with caplog.at_level(logging.WARNING, logger="gazecxr.data"):
        s = train[0]
    assert s["meta"]["image_path"] != str(bad)
    assert str(bad) in caplog.text and "skipped" in caplog.text
    assert int(train.cache.state[train.cache.slot[str(bad)]]) == D.FAILED
    same_image = train.index.loc[train.index["image_path"] == str(bad), "reading_id"]  # every reading of it
    assert train.unreadable_readings() == list(same_image.astype(str))
    loader = DataLoader(test, batch_size=3, num_workers=2, collate_fn=collate)
    batches = list(loader)
    served = [m["reading_id"] for b in batches if "image" in b for m in b["meta"]]
    skipped = [r for b in batches for r in b["skipped"]]
    expected = list(test.index.loc[test.index["image_path"] == str(bad_test), "reading_id"].astype(str))
    assert skipped == test.unreadable_readings() == expected  # flagged in a worker, seen here
    assert len(served) == len(test) - len(expected) and len(set(served)) == len(served)  # none twice


def test_dataloader_workers_fill_one_shared_cache(tree: Tree) -> None:
    ds = datasets(tree.root, "data.cache_images=true")
    train = ds["train"]
    loader = DataLoader(train, batch_size=3, num_workers=2, collate_fn=collate)
    n = sum(int(b["image"].shape[0]) for b in loader)
    assert n == len(train)
    slots = [train.cache.slot[p] for p in train.index["image_path"]]
    assert all(int(train.cache.state[s]) == D.FILLED for s in slots)  # filled by the worker processes
    assert ds["test"].cache is train.cache


def test_no_usable_reading_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "root" / "patient_10000001").mkdir(parents=True)
    with pytest.raises(ValueError, match="no reading with a known label"):
        datasets(tmp_path / "root")
    with pytest.raises(ValueError, match="no dataset root"):
        build_datasets(load_config(None, []))
