"""Demo profiles: how big the cohort is, which experiment config trains the models, which variants.

The experiment configs live in ``configs/demo*.yaml`` (shipped in the package) (a normal :class:`ExperimentConfig` each).
Variants are named entries of ``configs/ablation.yaml`` (the same ``key=value`` overrides that
``gazecxr ablate`` uses), applied on top of the profile's experiment config, so the demo's
"baseline" and "full" are exactly the ablation's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gazecxr.schema import ConfigError


@dataclass(frozen=True)
class DemoProfile:
    name: str
    config: str  # experiment config, file name under configs/
    studies: int  # synthetic studies written
    synth_image_size: int  # long side of the written JPGs
    variants: tuple[str, ...]  # names in configs/ablation.yaml; must include baseline and full
    report_studies: int = 8  # test studies shown with panels in index.html


PROFILES: dict[str, DemoProfile] = {
    "default": DemoProfile(
        "default",
        "demo.yaml",
        studies=480,
        synth_image_size=256,
        variants=("baseline", "full", "full_shuffled"),
    ),
    "quick": DemoProfile(
        "quick",
        "demo-quick.yaml",
        studies=320,
        synth_image_size=192,
        variants=("baseline", "full"),
        report_studies=6,
    ),
    # For the test suite only (hidden --tiny): seconds, numbers meaningless.
    "tiny": DemoProfile(
        "tiny",
        "demo-tiny.yaml",
        studies=40,
        synth_image_size=96,
        variants=("baseline", "full"),
        report_studies=6,
    ),
}

ABLATION_FILE = "ablation.yaml"


def config_dir() -> Path:
    """The configs that ship with the package (``gazecxr/configs``; the checkout's ``configs/``
    links there), so the demo runs the same from a wheel install as from the checkout."""
    from gazecxr.config import SHIPPED_CONFIGS

    return SHIPPED_CONFIGS


def variant_overrides(profile: DemoProfile, ablation: Path | None = None) -> dict[str, list[str]]:
    """The profile's variants as ``name -> overrides`` read from the ablation file."""
    from gazecxr.train.ablate import load_spec

    spec, _ = load_spec(ablation or config_dir() / ABLATION_FILE)
    missing = [v for v in profile.variants if v not in spec.variants]
    if missing:
        raise ConfigError(
            f"variants {missing} of demo profile {profile.name!r} are not in the ablation file "
            f"(available: {', '.join(spec.variants)})"
        )
    return {name: list(spec.variants[name]) for name in profile.variants}
