"""Demo profiles: how big the cohort is, which experiment config trains the models, which variants.

The experiment configs live in ``configs/demo*.yaml`` (a normal :class:`ExperimentConfig` each);
the cohort size and the variants are here because they are demo choices, not experiment settings.
Variants are ``key=value`` overrides on the experiment config, the same syntax as the command line
and ``configs/ablation.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Classification only: no gaze term, no contrastive term (the reference every variant is compared with).
BASELINE = ("loss.gaze.enabled=false", "loss.contrastive.image_text=0", "loss.contrastive.image_gaze=0")
FULL: tuple[str, ...] = ()  # the experiment config as written: every term on
SHUFFLED = ("loss.gaze.shuffle=true",)  # control: gaze of another image of the batch


@dataclass(frozen=True)
class DemoProfile:
    name: str
    config: str  # file name under configs/
    studies: int  # synthetic studies written (about 0.65 of the patients are train)
    synth_image_size: int  # long side of the written JPGs
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    report_studies: int = 8  # test studies shown with panels in index.html


PROFILES: dict[str, DemoProfile] = {
    "default": DemoProfile(
        "default",
        "demo.yaml",
        studies=480,
        synth_image_size=256,
        variants={"baseline": BASELINE, "full": FULL, "shuffled": SHUFFLED},
    ),
    "quick": DemoProfile(
        "quick",
        "demo-quick.yaml",
        studies=320,
        synth_image_size=192,
        variants={"baseline": BASELINE, "full": FULL},
        report_studies=6,
    ),
    # For the test suite only (hidden --tiny): seconds, numbers meaningless.
    "tiny": DemoProfile(
        "tiny",
        "demo-tiny.yaml",
        studies=36,
        synth_image_size=96,
        variants={"baseline": BASELINE, "full": FULL},
        report_studies=6,
    ),
}


def config_dir() -> Path:
    """``configs/`` of the source checkout this package runs from (editable installs, `make demo`)."""
    return Path(__file__).resolve().parents[3] / "configs"
