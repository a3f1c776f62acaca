"""The atlas fallback on real radiographs is never worse than a constant box (issue 12, Otsu part).

Measured against the hand-drawn lung boxes of ``../shared/data/real_cxr_lungs`` (84 radiographs,
166 lungs; COCO category 1 "Right Lung" is the patient's right, the image's LEFT side). This is the
development set; the same check is meant for the unseen part of the collection.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gazecxr.anatomy.atlas import DEFAULT_LUNG_BOX, atlas_boxes, place_atlas
from gazecxr.data.images import load_image

REGION = {1: "right lung", 2: "left lung"}


def iou(a, b) -> float:  # noqa: ANN001 - xyxy boxes
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def lung_ious(root: Path) -> dict[str, np.ndarray]:
    coco = json.loads((root / "lung_boxes_coco.json").read_text(encoding="utf-8"))
    images = {i["id"]: i for i in coco["images"]}
    atlas: dict[int, dict] = {}
    out: dict[str, list[float]] = {"atlas": [], "constant": []}
    constant = place_atlas(DEFAULT_LUNG_BOX)
    for ann in coco["annotations"]:
        im = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        truth = (x / im["width"], y / im["height"], (x + w) / im["width"], (y + h) / im["height"])
        if im["id"] not in atlas:
            atlas[im["id"]] = atlas_boxes(load_image(root / "images" / im["file_name"], draft_size=256))
        name = REGION[ann["category_id"]]
        out["atlas"].append(iou(atlas[im["id"]][name], truth))
        out["constant"].append(iou(constant[name], truth))
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.realdata
def test_atlas_lungs_never_worse_than_the_constant_box(shared_data: Path) -> None:
    root = shared_data / "real_cxr_lungs"
    if not (root / "lung_boxes_coco.json").is_file():
        pytest.skip("../shared/data/real_cxr_lungs is absent")
    ious = lung_ious(root)
    assert len(ious["atlas"]) == 166
    mean = {k: float(v.mean()) for k, v in ious.items()}
    hit = {k: float((v >= 0.5).mean()) for k, v in ious.items()}
    print(
        f"lung IoU: atlas {mean['atlas']:.3f} ({hit['atlas']:.1%} >= 0.5), constant {mean['constant']:.3f} ({hit['constant']:.1%})"
    )
    assert mean["atlas"] >= mean["constant"] and hit["atlas"] >= hit["constant"]
