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
    """One demo setting. Every variant is trained with ``seeds`` seeds (``0 .. seeds-1`` unless
    ``gazecxr demo --first-seed`` moves them).

    ``headline`` is the gaze-supervised variant the page's first sentence is about, ``control``
    its shuffled-gaze control (same objective, each image supervised with another image's gaze);
    both are among ``variants``, as is ``baseline``.
    """

    name: str
    config: str  # experiment config, file name under configs/
    studies: int  # synthetic studies written
    synth_image_size: int  # long side of the written JPGs
    variants: tuple[str, ...]  # names in configs/ablation.yaml
    seeds: int
    headline: str
    control: str | None = None
    baseline: str = "baseline"
    report_studies: int = 8  # test studies shown with panels in index.html
    caveat: str | None = None  # a sentence the verdict adds (what this profile cannot show)
    # Patients per split (SynthConfig's validate / test fractions; train gets the rest). A large
    # test split narrows the paired CI without making a run cost more.
    validate_fraction: float = 0.15
    test_fraction: float = 0.2


PROFILES: dict[str, DemoProfile] = {
    # The measured setting of docs/training.md ("The demo profile"): a training split the size of
    # the earlier 1,200-study cohort's (0.43 of 1,800 patients ~ 0.65 of 1,200), a test split 3.5x
    # larger (852 test readings instead of 246).
    "default": DemoProfile(
        "default",
        "demo.yaml",
        studies=1800,
        synth_image_size=192,
        variants=("baseline", "full", "full_dictation", "full_dictation_shuffled"),
        seeds=3,
        headline="full_dictation",
        control="full_dictation_shuffled",
        validate_fraction=0.12,
        test_fraction=0.45,
    ),
    # A couple of minutes: one seed of the baseline and the headline variant.
    "quick": DemoProfile(
        "quick",
        "demo-quick.yaml",
        studies=400,
        synth_image_size=160,
        variants=("baseline", "full_dictation"),
        seeds=1,
        headline="full_dictation",
        report_studies=4,
        caveat=(
            "The quick profile is too small for the classification gain (in the measurements of "
            "docs/training.md it needed 3 seeds and a test split of several hundred readings: the "
            "default `gazecxr demo`); what it shows is where the models look."
        ),
    ),
    # For the test suite only (hidden --tiny): seconds, numbers meaningless.
    "tiny": DemoProfile(
        "tiny",
        "demo-tiny.yaml",
        studies=40,
        synth_image_size=96,
        variants=("baseline", "full", "full_shuffled"),
        seeds=2,
        headline="full",
        control="full_shuffled",
        report_studies=6,
    ),
}

ABLATION_FILE = "ablation.yaml"


def config_dir() -> Path:
    """The configs that ship with the package (``gazecxr/configs``; the checkout's ``configs/``
    links there), so the demo runs the same from a wheel install as from the checkout."""
    from gazecxr.config import SHIPPED_CONFIGS

    return SHIPPED_CONFIGS


def check_profile(profile: DemoProfile, ablation: Path | None = None) -> Path:
    """The ablation file the profile's variants come from, after checking that they are all in it."""
    from gazecxr.train.ablate import load_spec

    path = ablation or config_dir() / ABLATION_FILE
    spec, _ = load_spec(path)
    named = {
        *profile.variants,
        profile.headline,
        profile.baseline,
        *([profile.control] if profile.control else []),
    }
    missing = sorted(v for v in named if v not in spec.variants)
    if missing:
        raise ConfigError(
            f"variants {missing} of demo profile {profile.name!r} are not in {path} "
            f"(available: {', '.join(spec.variants)})"
        )
    if not named <= set(profile.variants):
        raise ConfigError(f"demo profile {profile.name!r}: headline, control and baseline must be trained")
    if spec.baseline != profile.baseline:
        raise ConfigError(
            f"{path}: its baseline is {spec.baseline!r}, the demo profile's {profile.baseline!r}"
        )
    return path
