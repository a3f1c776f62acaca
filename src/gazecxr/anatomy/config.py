"""Configuration of the anatomy localiser (``configs/anatomy.yaml``)."""

from __future__ import annotations

from pydantic import Field

from gazecxr.data.config import AugmentConfig
from gazecxr.schema import Section


class AnatomyAugmentConfig(AugmentConfig):
    """The classifier's affine + jitter, a random crop (teaches "this region is not in the image"),
    and an optional horizontal flip that renames every right / left box."""

    crop: float = Field(0.15, ge=0, le=1)  # probability of a random crop of 45-80 % of each side
    flip: float = Field(0.0, ge=0, le=1)  # probability of a horizontal flip (boxes renamed)


class AnatomyConfig(Section):
    """Localiser training and use.

    The trunk (ImageNet EfficientNet-Lite0 from its PyPI package) is frozen: features of ``views``
    augmented views per image are computed once, and the box-mask head trains over them for
    ``epochs``.
    """

    image_size: int = Field(224, ge=64)
    head_dim: int = Field(64, ge=8)
    # the head also fuses the trunk's stride-8 map and predicts on its grid (network.BoxMaskHead).
    # Measured 2026-12-07 (docs/anatomy.md, "How accurate the lungs must be"): real-film CV lungs
    # 0.802 vs 0.776, synthetic 17 regions 0.847 vs 0.783, but half images fall back to the atlas
    # less often and one flipped film's hilum was not mirrored, so it is off by default for now.
    # A localiser directory loads with the head its weights have, whatever this says.
    fine_map: bool = False
    views: int = Field(16, ge=1)  # augmented views per image (the first is the image itself)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-3, ge=0)
    chest_weight: float = Field(0.5, ge=0)  # cells outside a REFLACX chest box are outside both lungs
    # every source (the synthetic cohorts together, each real dataset root, each COCO file) the same
    # weight per epoch, by drawing its views more often (anatomy.train.epoch_views); off: every view
    # once per epoch. On: real-lung CV 0.803 instead of 0.791 with 200 phantoms (512 px only), and
    # better on synthetic cohorts (docs/anatomy.md)
    balance_sources: bool = True
    # Real images with only the two lungs annotated (COCO lung boxes) get the other regions' boxes
    # placed from their true lungs by the layout of the 17-box sources, as training targets
    # (anatomy.train.anchor_targets). On: real-film CV better (other regions +0.02, lungs +0.02),
    # the synthetic cohorts worse (17 regions 0.783 -> 0.760 on the demo's); off by default, so
    # that the phantoms' 0.78 holds (docs/anatomy.md, "Regions from the lungs").
    anchor_targets: bool = False
    domain_dims: int = Field(32, ge=2)  # PCA dimensions of the in-domain (Mahalanobis) score
    min_confidence: float = Field(0.5, ge=0, le=1)  # below this the atlas is used
    # A region's box is implausible for the lungs found (and the lung-anchored layout places it,
    # anatomy.layout) when its centre is more than max_offset of its lung frame from where the
    # layout puts it, or its width or height more than max_scale times off. Chosen on the synthetic
    # cohorts and the real development films together (docs/anatomy.md, "Regions from the lungs").
    max_offset: float = Field(0.25, gt=0)
    max_scale: float = Field(2.0, gt=1)
    folds: int = Field(5, ge=2)  # patient-grouped cross-validation (``anatomy cv``)
    seed: int = 0
    augment: AnatomyAugmentConfig = AnatomyAugmentConfig()
