"""The torch ``Dataset`` of readings (sample dict of docs/architecture.md) and its ``collate``.

Per item the work is: one image from the shared in-memory cache (or one reduced JPEG decode),
a heatmap on the S x S grid from the cached fixation array (:func:`gazecxr.gaze.fixation_heatmap`,
no CSV parsing), and, for training, one random affine applied by a single ``grid_sample`` to the
image and the heatmap together, and by the same matrix to fixations, anatomy boxes, ellipses and
the chest box. No flips: laterality matters in chest radiographs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import Dataset, get_worker_info

from gazecxr.data import labels as label_table
from gazecxr.data.augment import apply_affine_points, jitter_intensity, move_box, random_affine, warp
from gazecxr.data.config import DataConfig
from gazecxr.data.images import ImageReadError, load_resized
from gazecxr.data.index import DatasetIndex, build_index
from gazecxr.data.reports import report_text
from gazecxr.data.splits import SPLITS, assign_splits
from gazecxr.gaze import fixations as fx
from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.dictation import dictated_spans, dictation_heatmaps
from gazecxr.gaze.maps import normalise_maps

if TYPE_CHECKING:
    from gazecxr.experiment import ExperimentConfig

log = logging.getLogger("gazecxr.data")

Box = tuple[float, float, float, float]
EMPTY, FILLED, FAILED = 0, 1, 2
_worker_threads_limited = False


def _limit_worker_threads() -> None:
    """In a DataLoader worker, pin BLAS to one thread (once per process).

    torch already runs one thread per worker; OpenBLAS does not, and its threads spinning for the
    tiny heatmap product made it ~10x slower on a loaded machine (bench_heatmap.py).
    """
    global _worker_threads_limited
    if not _worker_threads_limited and get_worker_info() is not None:
        threadpool_limits(1, user_api="blas")
        _worker_threads_limited = True


class SharedImageCache:
    """Decoded + resized images in shared memory, one slot per distinct image file.

    ``data``: float16 (n, S, S) in [0, 1]; ``state``: uint8 (n,) EMPTY / FILLED / FAILED. Both are
    ``share_memory_()`` tensors, so DataLoader workers (fork or spawn) fill one cache that lives
    across epochs; two workers filling the same slot write identical bytes.
    """

    def __init__(self, paths: list[str], size: int) -> None:
        self.slot = {p: i for i, p in enumerate(dict.fromkeys(paths))}
        n = len(self.slot)
        self.data = torch.zeros((n, size, size), dtype=torch.float16).share_memory_()
        self.state = torch.zeros(n, dtype=torch.uint8).share_memory_()

    @staticmethod
    def nbytes(n_images: int, size: int) -> int:
        return n_images * size * size * 2

    def read(self, path: str, load: Callable[[str], torch.Tensor]) -> torch.Tensor:
        """The image of ``path``: from its slot when filled, else ``load(path)`` kept in the slot.

        The first read returns the same float16-rounded values as every later cached read, so a
        sample does not depend on whether it was cached (needed for exact resume). A file that
        failed once fails again without another decode (``ImageReadError``)."""
        slot = self.slot[path]
        state = int(self.state[slot])
        if state == FILLED:
            return self.data[slot].float()
        if state == FAILED:
            raise ImageReadError(path, "previously failed to decode")
        try:
            image = load(path)
        except ImageReadError:
            self.state[slot] = FAILED
            raise
        self.data[slot] = image.to(torch.float16)
        self.state[slot] = FILLED
        return self.data[slot].float()


class GazeCXRDataset(Dataset):
    """Readings of one split.

    Attributes:
        label_names: label names of the configured label set (length C).
        index: the rows (DataFrame, reset index) incl. ``subject_id`` (patient-level bootstrap),
            ``split`` and ``row`` (position in ``DatasetIndex.readings``).
        unreadable: (N,) bool, shared by DataLoader workers: readings whose image could not be
            read. In the training split (``train=True``) such a reading is skipped and its
            place in the epoch taken by the next readable one (batch sizes, and so DDP ranks,
            stay in step); in every other split it is never replaced: its item is
            ``{"skipped": reading_id, "reason": ...}``, which :func:`collate` sets aside, so a
            reading is scored from its own image or not at all.
    """

    def __init__(
        self,
        source: DatasetIndex,
        rows: pd.DataFrame,
        cfg: DataConfig,
        gaze_cfg: GazeConfig,
        train: bool = False,
        cache: SharedImageCache | None = None,
    ) -> None:
        self.source = source
        self.index = rows.reset_index(drop=True)
        self.cfg, self.gaze_cfg = cfg, gaze_cfg
        self.size = cfg.image_size
        self.augment = train and cfg.augment
        self.is_train_split = train  # an unreadable reading is skipped here, never scored elsewhere
        self.cache = cache
        self.label_names: list[str] = list(label_table.get_label_set(cfg.label_set))
        values = self.index[label_table.label_columns(cfg.label_set)].to_numpy(dtype=np.float32)
        self.label_mask = np.isfinite(values).astype(np.float32)
        self.labels = np.nan_to_num(values, nan=0.0)
        self.unreadable = torch.zeros(len(self.index), dtype=torch.bool).share_memory_()
        self._rows: list[dict[str, Any]] = self.index.to_dict("records")  # fast per-item access
        # Each reading's recipe (its source's gaze.reference) and fixations, selected once (phase,
        # off-image policy); heatmaps are made per item.
        self.recipes: dict[str, GazeConfig] = {s: gaze_cfg.for_source(s) for s in set(self.index["source"])}
        self.fixations: list[np.ndarray] = [
            source.selected_fixations(int(r), gaze_cfg)[0] for r in self.index["row"]
        ]
        # Per-label dictation windows, labelled once (gaze.dictation_maps).
        self.dictation: list[dict[str, list[tuple[float, float]]]] | None = None
        if gaze_cfg.dictation_maps:
            self.dictation = [
                dictated_spans(source.extras[int(r)]["words"], self.label_names, gaze_cfg.dictation_lead_s)
                for r in self.index["row"]
            ]

    def __len__(self) -> int:
        return len(self.index)

    # ------------------------------------------------------------------ loading

    def _image(self, i: int) -> torch.Tensor:
        path = str(self._rows[i]["image_path"])
        return self.cache.read(path, self._load) if self.cache is not None else self._load(path)

    def _load(self, path: str) -> torch.Tensor:
        return torch.from_numpy(load_resized(path, self.size, self.cfg.max_image_pixels))

    def __getitem__(self, i: int) -> dict[str, Any]:
        _limit_worker_threads()
        if not self.is_train_split:  # not the training split: never another reading in its place
            try:
                return self._sample(i, self._image(i))
            except ImageReadError as exc:
                self._unreadable(i, exc, "not scored")
                return {"skipped": str(self._rows[i]["reading_id"]), "reason": exc.reason}
        n = len(self)
        for k in range(n):
            j = (i + k) % n
            try:
                image = self._image(j)
            except ImageReadError as exc:
                self._unreadable(j, exc, "skipped in training")
                continue
            return self._sample(j, image)
        raise RuntimeError(
            f"no image of the {n} readings of this split could be read; see the warnings above"
        )

    def _unreadable(self, i: int, exc: ImageReadError, what: str) -> None:
        if not bool(self.unreadable[i]):
            self.unreadable[i] = True
            log.warning("%s; reading %s %s", exc, self._rows[i]["reading_id"], what)

    def unreadable_readings(self) -> list[str]:
        """Reading ids whose image could not be read so far (in any worker)."""
        return [str(self._rows[i]["reading_id"]) for i in np.flatnonzero(self.unreadable.numpy())]

    def _sample(self, i: int, image: torch.Tensor) -> dict[str, Any]:
        """The sample dict of reading ``i``: its gaze maps, its boxes in [0, 1], both moved with the
        image by one random affine on the training split, and its fixation sequence."""
        r = self._rows[i]
        h, w = int(r["height"]), int(r["width"])
        extra = self.source.extras[int(r["row"])]
        fix = self.fixations[i]
        heat, label_maps, label_valid = self._gaze_maps(i, fix, (h, w))
        fix = fix[: self.gaze_cfg.max_fixations]
        geometry = _Geometry.of(fix, extra, (h, w))
        if self.augment:
            forward = random_affine(self.cfg.augmentation)
            extra_maps = [] if label_maps is None else list(label_maps)
            moved = warp(torch.stack([image, heat, *extra_maps]), forward)
            image, heat = moved[0], _renormalised(moved[1:2])[0]
            if label_maps is not None:
                label_maps = _renormalised(moved[2:])
                label_valid = label_valid & (label_maps.flatten(1).sum(1) > 0)
            geometry = geometry.moved(forward)
            image = jitter_intensity(image, self.cfg.augmentation)
        valid = bool(heat.sum() > 0)
        return {
            "image": image[None].contiguous(),
            "labels": torch.from_numpy(self.labels[i]),
            "label_mask": torch.from_numpy(self.label_mask[i]),
            "gaze_heatmap": heat.contiguous(),
            "gaze_valid": torch.tensor(valid),
            **(
                {}
                if label_maps is None
                else {"gaze_label_heatmaps": label_maps.contiguous(), "gaze_label_valid": label_valid}
            ),
            "fixations": torch.from_numpy(fixation_sequence(fix, geometry.xy)),
            "trust": torch.tensor(float(r["trust"]) if valid else 0.0, dtype=torch.float32),
            "text": extra["text"] or report_text(extra["report"]),
            "anatomy_boxes": geometry.anatomy,
            "ellipses": geometry.ellipses,
            "chest_box": geometry.chest,
            "meta": {k: str(r[k]) for k in META},
        }

    def _gaze_maps(
        self, i: int, fix: np.ndarray, image_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Reading ``i``'s heatmap ``(S, S)`` and, with dictation maps, its per-label maps ``(C, S,
        S)`` and their validity ``(C,)`` (None otherwise), by its source's recipe."""
        recipe = self.recipes[self._rows[i]["source"]]
        size = (self.size, self.size)
        heat = torch.from_numpy(fx.reading_heatmap(fix, image_size, size, recipe))
        if self.dictation is None:
            return heat, None, None
        maps, ok = dictation_heatmaps(fix, self.dictation[i], self.label_names, image_size, size, recipe)
        return heat, torch.from_numpy(maps), torch.from_numpy(ok)


META = ("reading_id", "dicom_id", "subject_id", "study_id", "source", "image_path", "split", "view")


@dataclass
class _Geometry:
    """What moves with the image: fixation points ``(N, 2)`` and boxes, all in [0, 1] of the image."""

    xy: np.ndarray
    anatomy: dict[str, Box]
    ellipses: list[dict[str, Any]]
    chest: Box | None

    @classmethod
    def of(cls, fix: np.ndarray, extra: dict[str, Any], image_size: tuple[int, int]) -> _Geometry:
        h, w = image_size
        scale = np.array([w, h, w, h], dtype=np.float64)

        def box(b: Any) -> Box:
            return tuple(float(v) for v in np.asarray(b) / scale)  # type: ignore[return-value]

        return cls(
            np.stack([fix[:, fx.X] / w, fix[:, fx.Y] / h], axis=1).astype(np.float64),
            {k: box(b) for k, b in extra["anatomy_boxes"].items()},
            [
                {"box": box(e["box"]), "labels": list(e["labels"]), "certainty": e["certainty"]}
                for e in extra["ellipses"]
            ],
            box(extra["chest_box"]) if extra["chest_box"] else None,
        )

    def moved(self, forward: np.ndarray) -> _Geometry:
        """The same geometry under the affine ``forward`` (the one that moved the image)."""
        return _Geometry(
            apply_affine_points(forward, self.xy),
            {k: move_box(forward, b) for k, b in self.anatomy.items()},
            [{**e, "box": move_box(forward, e["box"])} for e in self.ellipses],
            move_box(forward, self.chest) if self.chest else None,
        )


def fixation_sequence(fix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The fixation encoder's input ``(N, 4)`` float32: x, y in [0, 1] (``xy``, clipped), duration
    (s) and start time as a share of the reading's span."""
    seq = np.zeros((len(fix), 4), dtype=np.float32)
    if len(fix):
        t0 = float(fix[:, fx.T_START].min())
        span = float(fix[:, fx.T_END].max()) - t0
        seq[:, :2] = np.clip(xy, 0.0, 1.0)
        seq[:, 2] = np.clip(fix[:, fx.T_END] - fix[:, fx.T_START], 0.0, None)
        seq[:, 3] = (fix[:, fx.T_START] - t0) / span if span > 0 else 0.0
    return seq


STACKED = ("image", "labels", "label_mask", "gaze_heatmap", "gaze_valid", "trust")
# Present only with gaze.dictation_maps: (C, S, S) per-label maps and their (C,) validity.
STACKED_OPTIONAL = ("gaze_label_heatmaps", "gaze_label_valid")


def _renormalised(maps: torch.Tensor) -> torch.Tensor:
    """``(K, S, S)`` warped maps -> non-negative, each summing to 1 (or all zeros)."""
    return normalise_maps(maps.clamp_min(0))


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; pad ``fixations`` to (B, Tmax, 4) with zeros (Tmax >= 1) and add
    ``fixations_len`` (B,) int64; keep ``text``, boxes, ellipses and ``meta`` as lists.

    Items of unreadable readings (``{"skipped": reading_id, ...}``) are set aside: their ids are
    ``skipped`` (a list, always present); a batch of only such items is ``{"skipped": [...]}``
    without ``image``.
    """
    skipped = [b["skipped"] for b in items if "skipped" in b]
    batch = [b for b in items if "skipped" not in b]
    if not batch:
        return {"skipped": skipped}
    out: dict[str, Any] = {k: torch.stack([b[k] for b in batch]) for k in STACKED}
    out["skipped"] = skipped
    out.update({k: torch.stack([b[k] for b in batch]) for k in STACKED_OPTIONAL if batch and k in batch[0]})
    lens = torch.tensor([b["fixations"].shape[0] for b in batch], dtype=torch.int64)
    padded = torch.zeros((len(batch), max(1, int(lens.max()) if len(batch) else 1), 4), dtype=torch.float32)
    for k, b in enumerate(batch):
        padded[k, : lens[k]] = b["fixations"]
    out["fixations"], out["fixations_len"] = padded, lens
    for k in ("text", "anatomy_boxes", "ellipses", "chest_box", "meta"):
        out[k] = [b[k] for b in batch]
    return out


def _shm_free_bytes() -> int | None:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:  # no /dev/shm (not Linux): torch uses other shared-memory mechanisms
        return None
    return st.f_bavail * st.f_frsize


def _want_cache(cfg: DataConfig, n_images: int) -> bool:
    """Whether to keep decoded images in shared memory (``data.cache_images``).

    "auto" turns it on while it needs <= ``cache_images_max_gb`` and fits twice into the free
    space of ``/dev/shm`` (a container's small /dev/shm would otherwise fail mid-epoch).
    """
    need = SharedImageCache.nbytes(n_images, cfg.image_size)
    if cfg.cache_images != "auto":
        return bool(cfg.cache_images)
    free = _shm_free_bytes()
    if free is not None and 2 * need > free:
        log.info("image cache off: needs %.0f MiB, /dev/shm has %.0f MiB free", need / 2**20, free / 2**20)
        return False
    return need <= cfg.cache_images_max_gb * 2**30


def split_readings(
    cfg: ExperimentConfig, root: str | Path | None = None
) -> tuple[DatasetIndex, pd.DataFrame]:
    """The index of ``root`` (default ``cfg.data.root``; read or reused from its cache) and its
    readings of the configured sources with at least one known label of the label set (the others
    counted and left out), with their patient-grouped ``split`` column (``cfg.data.split``; ""
    for none). What :func:`build_datasets` builds on, and enough to count readings per split."""
    data_cfg: DataConfig = cfg.data
    root = root or data_cfg.root
    if not root:
        raise ValueError("no dataset root: set data.root in the config or pass --data ROOT")
    index = build_index(root, data_cfg, cfg.gaze)
    df = index.readings[index.readings["source"].isin(data_cfg.sources)].copy()
    label_cols = label_table.label_columns(data_cfg.label_set)
    known = df[label_cols].notna().any(axis=1)
    if (~known).any():
        log.info(
            "%d reading(s) have no known label of set %r and are left out",
            int((~known).sum()),
            data_cfg.label_set,
        )
    df = df[known]
    if df.empty:
        raise ValueError(
            f"{index.root}: no reading with a known label of set {data_cfg.label_set!r} "
            f"(sources {data_cfg.sources}); run `gazecxr data check {index.root}`"
        )
    df["split"] = assign_splits(df, label_cols, data_cfg.split)
    return index, df


def build_datasets(cfg: ExperimentConfig, root: str | Path | None = None) -> dict[str, GazeCXRDataset]:
    """Datasets "train" / "validate" / "test" of an experiment config (:func:`split_readings`),
    sharing one image cache when ``cfg.data.cache_images`` allows. Only "train" is augmented."""
    data_cfg: DataConfig = cfg.data
    index, df = split_readings(cfg, root)
    paths = df.loc[df["split"] != "", "image_path"].tolist()
    n_images = len(set(paths))
    cache = (
        SharedImageCache(paths, data_cfg.image_size) if paths and _want_cache(data_cfg, n_images) else None
    )
    out = {
        name: GazeCXRDataset(
            index, df[df["split"] == name], data_cfg, cfg.gaze, train=name == "train", cache=cache
        )
        for name in SPLITS
    }
    log.info(
        "dataset %s: %s readings (train/validate/test), %d patients, image cache %s",
        index.root,
        "/".join(str(len(out[s])) for s in SPLITS),
        df["subject_id"].nunique(),
        "on" if cache else "off",
    )
    return out
