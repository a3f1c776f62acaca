"""Configuration of dataset reading, labels and splits."""

from __future__ import annotations

from typing import Literal

from gazecxr.config import Section


class SplitConfig(Section):
    mode: Literal["patient", "official"] = "patient"  # official = MIMIC-CXR cxr_split.csv
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    seed: int = 0


class DataConfig(Section):
    root: str | None = None  # dataset root; the CLI's --data overrides it
    layout: Literal["auto", "mimic-eye", "reflacx", "egd"] = "auto"
    sources: list[Literal["reflacx", "eyegaze"]] = ["reflacx", "eyegaze"]
    label_set: str = "synthetic8"  # a name from gazecxr.data.labels.LABEL_SETS
    certainty_threshold: int = 3  # REFLACX certainty >= this counts as present
    image_size: int = 224
    split: SplitConfig = SplitConfig()
    num_workers: int = 2
    augment: bool = True
    cache_dir: str | None = None  # default: <root>/.gazecxr-cache or ~/.cache/gazecxr
