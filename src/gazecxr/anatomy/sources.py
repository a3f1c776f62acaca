"""Training and evaluation sources of anatomy boxes: one reader per source, one plain dict per image.

A sample is ``{"image_path", "boxes", "chest_box", "source", "group", "split"}``:

- ``boxes``: region name (:data:`gazecxr.data.anatomy.REGIONS`) -> normalised ``(x0, y0, x1, y1)``
  in [0, 1] of the image; only the regions the source has (the rest are masked in training, never
  invented).
- ``chest_box``: REFLACX's ``chest_bounding_box.csv`` box (normalised) or None. It is drawn around
  the lungs, so no lung lies outside it (:func:`gazecxr.anatomy.train.mask_loss`).
- ``source``: what training balances (``AnatomyConfig.balance_sources``): ``"synthetic"`` for
  every ``gazecxr synth`` cohort (phantoms of any size are one source), ``"<layout>:<root>"`` for a
  real dataset root, ``"coco:<file name>"`` for a box file.
- ``group``: the patient (cross-validation folds never split one); ``split``: the patient-grouped
  split of the dataset root ("train" / "validate" / "test"), or "" for a box file.

Sources: a dataset root of any layout :func:`gazecxr.data.index.build_index` reads (EyeGaze
``bounding_boxes.csv`` and REFLACX ``chest_bounding_box.csv``; MIMIC-Eye, REFLACX, EGD-CXR or the
synthetic cohort), and COCO box files (:func:`read_coco`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.data import labels as label_table
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.config import DataConfig
from gazecxr.data.index import build_index
from gazecxr.data.layout import is_synthetic
from gazecxr.data.splits import assign_splits
from gazecxr.errors import InputError, require_regular_file

log = logging.getLogger("gazecxr.anatomy")
Box = tuple[float, float, float, float]
Sample = dict[str, Any]


class BoxFileError(InputError):
    """A box file cannot be used; the message names the file and the problem."""


def _normalised(box: list[float] | tuple[float, ...], width: float, height: float) -> Box | None:
    """Pixel ``xyxy`` -> normalised and clipped; None for a box with no area or a bad value."""
    x0, y0, x1, y1 = (float(v) for v in box)
    b = np.clip([x0 / width, y0 / height, x1 / width, y1 / height], 0.0, 1.0)
    if not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
        return None
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def read_dataset(root: str | Path, data_cfg: DataConfig | None = None) -> list[Sample]:
    """Every image of a dataset root with anatomy boxes (EyeGaze) or a chest box (REFLACX).

    Several readings of one image give one sample: the EyeGaze boxes of the image, and the
    element-wise median of its REFLACX readings' chest boxes. The split is the patient-grouped split
    of the classifier's default configuration, so "test" here is the classifier's test split.
    """
    cfg = data_cfg or DataConfig()
    index = build_index(root, cfg)
    source = "synthetic" if is_synthetic(root) else f"{index.layout}:{Path(root).resolve()}"
    df = index.readings
    label_cols = label_table.label_columns(cfg.label_set)
    split = assign_splits(df, label_cols, cfg.split)
    by_image: dict[str, Sample] = {}
    chests: dict[str, list[Box]] = {}
    skipped = 0
    for pos, row in enumerate(df.itertuples(index=False)):
        extra = index.extras[pos]
        w, h = float(row.width), float(row.height)
        sample = by_image.setdefault(
            row.image_path,
            {
                "image_path": row.image_path,
                "boxes": {},
                "chest_box": None,
                "source": source,
                "group": str(row.subject_id),
                "split": str(split.iloc[pos]),
            },
        )
        for name, px in extra.get("anatomy_boxes", {}).items():
            box = _normalised(px, w, h)
            if name in REGIONS and box is not None:
                sample["boxes"].setdefault(name, box)
            else:
                skipped += 1
        if extra.get("chest_box"):
            box = _normalised(extra["chest_box"], w, h)
            if box is not None:
                chests.setdefault(row.image_path, []).append(box)
            else:
                skipped += 1
    for path, boxes in chests.items():
        by_image[path]["chest_box"] = tuple(float(v) for v in np.median(np.asarray(boxes), axis=0))
    if skipped:
        log.warning("%s: %d anatomy box(es) with no area or an unknown region name skipped", root, skipped)
    return [s for s in by_image.values() if s["boxes"] or s["chest_box"]]


def _region_of(category: str) -> str | None:
    name = category.strip().lower()
    return name if name in REGIONS else None


def read_coco(path: str | Path, images_dir: str | Path | None = None) -> list[Sample]:
    """Boxes of a COCO file (``images``, ``annotations`` with ``bbox`` = ``[x, y, w, h]`` px, ``categories``).

    Category names are matched to the region names case-insensitively ("Right Lung" -> "right
    lung", the patient's right: the image's left side). Annotations of other categories, or boxes
    with no area, are skipped and counted. Images are looked for in ``images_dir`` (default: the
    ``images/`` folder beside the file, else the file's folder). The patient of an image is its
    ``metadata.patientid`` (or ``patient_id``) when present, else the image itself.

    Raises:
        BoxFileError: unreadable JSON, missing keys, or no category naming a region.
    """
    path = Path(path)
    require_regular_file(path, "COCO box file")
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        images = {int(i["id"]): i for i in coco["images"]}
        categories = {int(c["id"]): str(c["name"]) for c in coco["categories"]}
        annotations = list(coco["annotations"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BoxFileError(f"{path}: not a readable COCO box file ({type(exc).__name__}: {exc})") from None
    regions = {cid: _region_of(name) for cid, name in categories.items()}
    if not any(regions.values()):
        raise BoxFileError(
            f"{path}: no category names an anatomy region (got {sorted(categories.values())}); "
            f"expected names such as 'Right Lung' or 'cardiac silhouette'"
        )
    folder = (
        Path(images_dir)
        if images_dir
        else (path.parent / "images" if (path.parent / "images").is_dir() else path.parent)
    )
    samples: dict[int, Sample] = {}
    skipped = 0
    for ann in annotations:
        try:
            im = images[int(ann["image_id"])]
            region = regions.get(int(ann["category_id"]))
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            box = _normalised((x, y, x + bw, y + bh), float(im["width"]), float(im["height"]))
        except (KeyError, TypeError, ValueError):
            region, box = None, None
        if region is None or box is None:
            skipped += 1
            continue
        meta = im.get("metadata") or {}
        group = meta.get("patientid") or meta.get("patient_id") or f"image {im['id']}"
        sample = samples.setdefault(
            int(im["id"]),
            {
                "image_path": str(folder / im["file_name"]),
                "boxes": {},
                "chest_box": None,
                "source": f"coco:{path.name}",
                "group": f"{path.name}:{group}",
                "split": "",
            },
        )
        sample["boxes"][region] = box
    if skipped:
        log.warning(
            "%s: %d annotation(s) of no region, with a bad bbox or unknown image skipped", path, skipped
        )
    return list(samples.values())
