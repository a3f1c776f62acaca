"""Configuration of dataset reading, labels, splits, image caching and augmentation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from gazecxr.schema import Section


class SplitConfig(Section):
    mode: Literal["patient", "official"] = "patient"  # official = MIMIC-CXR cxr_split.csv
    val_fraction: float = Field(0.15, ge=0, lt=1)
    test_fraction: float = Field(0.2, ge=0, lt=1)
    seed: int = 0


class AugmentConfig(Section):
    """Small random affine (no flips: laterality matters) + intensity jitter, training split only."""

    rotate_deg: float = Field(5.0, ge=0)  # uniform in [-rotate_deg, rotate_deg]
    scale: float = Field(0.05, ge=0, lt=1)  # zoom factor uniform in [1 - scale, 1 + scale]
    translate: float = Field(0.04, ge=0, lt=1)  # shift uniform in [-translate, translate] of the side
    brightness: float = Field(0.05, ge=0)  # additive, uniform in [-b, b]
    contrast: float = Field(0.1, ge=0, lt=1)  # multiplicative about the mean, uniform in [1 - c, 1 + c]


class DataConfig(Section):
    root: str | None = None  # dataset root; the CLI's --data overrides it
    layout: Literal["auto", "mimic-eye", "reflacx", "egd"] = "auto"
    cxr_root: str | None = None  # MIMIC-CXR-JPG folder for the reflacx / egd layouts (default: searched)
    sources: list[Literal["reflacx", "eyegaze"]] = ["reflacx", "eyegaze"]
    label_set: str = "synthetic8"  # a name from gazecxr.data.labels.LABEL_SETS
    certainty_threshold: int = Field(3, ge=1, le=5)  # REFLACX certainty >= this counts as present
    image_size: int = Field(224, ge=8)
    # Images declaring more pixels are refused from their header, before decoding (bomb guard).
    max_image_pixels: int = Field(50_000_000, ge=1)
    split: SplitConfig = SplitConfig()
    # DataLoader worker processes; auto = one per CPU core the process may use, less one, at most 8.
    num_workers: int | Literal["auto"] = 2
    augment: bool = True
    augmentation: AugmentConfig = AugmentConfig()
    # Decoded + resized images kept in shared memory (float16, S*S*2 bytes each), filled on first
    # use by any worker; "auto" = on while the cache needs <= cache_images_max_gb.
    cache_images: bool | Literal["auto"] = "auto"
    cache_images_max_gb: float = 2.0
    cache_dir: str | None = None  # index cache; default: <root>/.gazecxr-cache or ~/.cache/gazecxr

    def loader_workers(self) -> int:
        """``num_workers`` as a number (``auto``: usable cores - 1, between 0 and 8)."""
        if self.num_workers != "auto":
            return int(self.num_workers)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(0, min(8, cores - 1))

    def with_absolute_roots(self, root: str | Path) -> DataConfig:
        """This config with ``root`` as ``data.root`` and both roots absolute, so that a run's
        config.yaml names its data wherever the run is later used from. A relative ``cxr_root``
        is taken as :func:`gazecxr.data.layout.find_cxr_root` takes it (the working directory,
        then ROOT); ``cache_dir`` relative to the working directory."""
        base = Path(root).expanduser().resolve()
        update: dict[str, str] = {"root": str(base)}
        if self.cxr_root and not Path(self.cxr_root).expanduser().is_absolute():
            given = Path(self.cxr_root).expanduser()
            found = next((c for c in (Path.cwd() / given, base / given) if c.is_dir()), Path.cwd() / given)
            update["cxr_root"] = str(found.resolve())
        if self.cache_dir and not Path(self.cache_dir).expanduser().is_absolute():
            update["cache_dir"] = str(Path(self.cache_dir).expanduser().resolve())
        return self.model_copy(update=update)
