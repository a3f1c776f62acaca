"""Configuration of the synthetic MIMIC-Eye cohort (``gazecxr synth``).

Every knob is documented in ``docs/synthetic-cohort.md``. Probabilities are in [0, 1];
sizes in pixels refer to the written JPG (the long side of a frontal image is ``image_size``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gazecxr.data.labels import LABEL_SETS
from gazecxr.schema import Section

SYNTH_FINDINGS: tuple[str, ...] = LABEL_SETS["synthetic8"]


class FindingsConfig(Section):
    """How often findings occur, how they co-occur and how visible they are."""

    # Base rate of each finding on its own (before the congestive-heart-failure cluster and the
    # co-occurrence rules below add to it). Keys: canonical names of LABEL_SETS["synthetic8"].
    base_rate: dict[str, float] = Field(
        default_factory=lambda: {
            "Atelectasis": 0.14,
            "Consolidation": 0.16,
            "Enlarged cardiac silhouette": 0.10,
            "Lung nodule or mass": 0.12,
            "Pleural abnormality": 0.08,
            "Pneumothorax": 0.05,
            "Pulmonary edema": 0.03,
            "Support devices": 0.18,
        }
    )
    chf_rate: float = 0.14  # share of studies with a heart-failure picture (latent cause)
    chf_cardiomegaly: float = 0.85  # P(enlarged heart | heart failure)
    chf_edema: float = 0.80  # P(pulmonary edema | heart failure)
    chf_effusion: float = 0.60  # P(pleural effusion, usually bilateral | heart failure)
    effusion_atelectasis: float = 0.35  # P(adjacent basal atelectasis | effusion)
    consolidation_effusion: float = 0.15  # P(parapneumonic effusion | consolidation)
    devices_pneumothorax: float = 0.10  # P(pneumothorax | support devices) (line placement)
    ap_devices: float = 0.35  # extra P(support devices | AP portable view)
    subtle_fraction: float = 0.3  # share of findings drawn subtle (low contrast, small)
    contrast: float = 1.0  # global multiplier of every finding's added density
    subtle_contrast: float = 0.35  # extra multiplier for subtle findings
    size: float = Field(1.0, gt=0.2, le=2.0)  # multiplier of lesion extents (and of heart enlargement)

    @model_validator(mode="after")
    def _known_findings(self) -> FindingsConfig:
        unknown = sorted(set(self.base_rate) - set(SYNTH_FINDINGS))
        if unknown:
            raise ValueError(f"base_rate has unknown findings {unknown}; valid: {list(SYNTH_FINDINGS)}")
        for name, p in self.base_rate.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"base_rate[{name!r}] = {p} is not a probability")
        return self


# Where each confounded finding's tag is burned (fractions of width, height of its top-left corner;
# a negative x counts from the right edge): outside the chest, one fixed place per finding, as a
# site- or scanner-specific marker would be.
TAG_SLOTS: tuple[tuple[float, float], ...] = (
    (0.03, 0.03),  # top left
    (-0.03, 0.03),  # top right
    (0.03, 0.90),  # bottom left
    (-0.03, 0.90),  # bottom right
    (0.40, 0.02),  # top centre
    (0.40, 0.92),  # bottom centre
)


class ConfounderConfig(Section):
    """Shortcuts: one marker per listed finding, co-occurring with it in train/validate, not in test."""

    enabled: bool = True
    # `tag`: burned-in text tag at a fixed place per finding (TAG_SLOTS); `electrode`: an ECG
    # electrode on the lateral chest wall, right side for the first finding, left for the second.
    kind: Literal["tag", "electrode"] = "tag"
    findings: list[str] = Field(
        default_factory=lambda: ["Consolidation", "Atelectasis", "Lung nodule or mass", "Pleural abnormality"]
    )
    p_positive: float = 0.9  # P(marker of finding f | f present), train and validate
    p_negative: float = 0.1  # P(marker of finding f | f absent), train and validate
    p_test: float = 0.5  # P(marker of finding f) in test, independent of every label
    size: float = 0.12  # width of the tag / diameter x 3 of the electrode, fraction of image width
    intensity: float = 0.95  # grey value in [0, 1] of the burned-in tag / electrode rim

    @model_validator(mode="after")
    def _known_findings(self) -> ConfounderConfig:
        unknown = [f for f in self.findings if f not in SYNTH_FINDINGS]
        if unknown:
            raise ValueError(f"confounder.findings {unknown} are not in {list(SYNTH_FINDINGS)}")
        if len(set(self.findings)) != len(self.findings):
            raise ValueError(f"confounder.findings lists a finding twice: {self.findings}")
        slots = len(TAG_SLOTS) if self.kind == "tag" else 2
        if len(self.findings) > slots:
            raise ValueError(
                f"confounder.kind={self.kind} has {slots} marker places; got {len(self.findings)} findings"
            )
        for name in ("p_positive", "p_negative", "p_test"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"confounder.{name} = {getattr(self, name)} is not a probability")
        return self


class ReadersConfig(Section):
    """Which images get REFLACX / EyeGaze readings and how the simulated readers behave."""

    n_reflacx_readers: int = Field(5, ge=1, le=5)  # REFLACX had five radiologists
    eyegaze_fraction: float = 0.29  # share of frontal images read in the EyeGaze session
    both_fraction: float = 0.01  # share of EyeGaze images also read in REFLACX
    phase1_fraction: float = 0.10  # REFLACX readings of phase 1 (phase-1 label columns)
    phase2_fraction: float = 0.15  # REFLACX readings of phase 2 (the rest are phase 3)
    multi_reader_fraction: float = 0.12  # phase-1/2 images read by 2-5 radiologists
    discarded_fraction: float = 0.03  # readings with eye_tracking_data_discarded=True
    zoom_fraction: float = 0.3  # readings that zoom/pan during the reporting phase
    margin_glance_rate: float = 0.012  # P(a fixation lands on the screen margin, off the image)
    miss_rate_subtle: float = 0.3  # P(a reader misses a subtle finding)
    # Mean number of extra silent-phase fixation targets on a noticed finding per visit of a search
    # region that overlaps it (Poisson): how much of the search gaze dwells on what is there.
    finding_dwell: float = Field(0.6, ge=0.0, le=20.0)
    hedge_rate_subtle: float = 0.6  # P(a detected subtle finding is hedged, certainty 3-4)
    false_mention_rate: float = 0.15  # P(a reading mentions an absent finding as unlikely, certainty 1-2)
    gaze_hz: float = Field(60.0, gt=0, le=1000)  # REFLACX gaze.csv sample rate (raw samples)
    eyegaze_hz: float = Field(60.0, gt=0, le=1000)  # EyeGaze eye_gaze.csv sample rate (GP3: 60 Hz)
    # Stand-alone EGD-CXR release (gazecxr synth --layout egd): a calibration screen (gaze on a dot at
    # the screen centre, saved as the next image's dicom_id[:-5]) before every n-th image of a session.
    calibration_every: int = Field(20, ge=1)


class SynthConfig(Section):
    """Top-level schema of ``configs/synth/*.yaml`` and of :func:`gazecxr.synth.write_cohort`."""

    studies: int = Field(200, ge=1)
    seed: int = 0
    image_size: int = Field(512, ge=96, le=4096)  # long side of frontal images, pixels
    render_size: int = Field(1024, ge=96, le=4096)  # anatomy is rendered at most this large, then resized
    jpeg_quality: int = Field(92, ge=50, le=100)
    studies_per_patient: float = Field(1.25, ge=1.0)  # mean studies per patient (1 + geometric)
    lateral_fraction: float = 0.2  # studies that also have a lateral image (not read)
    ap_fraction: float = 0.35  # frontal images taken AP (portable) rather than PA
    validate_fraction: float = 0.15  # patients in the validate split
    test_fraction: float = 0.2  # patients in the test split
    noise: float = 0.02  # std of the additive image noise, grey values in [0, 1]
    findings: FindingsConfig = FindingsConfig()
    confounder: ConfounderConfig = ConfounderConfig()
    readers: ReadersConfig = ReadersConfig()

    @model_validator(mode="after")
    def _fractions(self) -> SynthConfig:
        if self.validate_fraction + self.test_fraction >= 1.0:
            raise ValueError("validate_fraction + test_fraction must leave patients for train")
        return self
