"""EyeGaze's gaze clock: each image's gaze times re-based to that image's onset.

EGD-CXR's ``Time (in secs)`` and ``FPOGS`` count from the last system initialisation or
calibration (the data descriptor, Sci Data 2021, Table 2): they run on across the images of a
calibration block. Each image's transcript (``begin_time`` / ``end_time``) counts from that
image's own audio segment, which starts when the image is shown. Comparing the two as they are
puts every fixation of every image after the first of a block in the "reporting" phase and aligns
dictation windows with the wrong fixations. So every image's fixation times are shifted by the
image's onset before any phase split, dictation alignment or trust computation:

- the onset is the image's first raw sample in ``eye_gaze.csv`` (the tracker records from the
  moment the image is shown), exact on either clock;
- without ``eye_gaze.csv`` it is the start of the image's first fixation (an upper bound: the
  first fixation starts a few hundred ms after the image appears), and it is applied only when
  the file runs on a session clock (:func:`detect_clock`), since on a clock that restarts with
  each image the times are already image times.

MIMIC-Eye's per-patient ``EyeGaze/`` tables get the same treatment (the same reader).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gazecxr.gaze.fixations import T_END, T_START

Clock = Literal["session", "per-image"]
# A file whose images' median onset is at least this many seconds runs on a session clock: on a
# clock that restarts with each image, onsets are 0 (raw samples) or the first fixation's latency.
SESSION_ONSET_S = 1.0


@dataclass(frozen=True)
class Onset:
    """When an image was shown, in seconds on its file's clock, and where that was read."""

    time: float
    source: Literal["eye_gaze.csv", "fixations.csv"]


def detect_clock(onsets: Iterable[float]) -> Clock:
    """``session`` when the median finite onset is at least :data:`SESSION_ONSET_S`, else
    ``per-image`` (also for no onset at all)."""
    arr = np.asarray([t for t in onsets if np.isfinite(t)], dtype=np.float64)
    return "session" if arr.size and float(np.median(arr)) >= SESSION_ONSET_S else "per-image"


def image_onset(first_raw_sample: float | None, fixation_starts: np.ndarray) -> Onset | None:
    """The image's onset: its first raw sample when known, else its first fixation's start;
    None when neither is finite."""
    if first_raw_sample is not None and np.isfinite(first_raw_sample):
        return Onset(float(first_raw_sample), "eye_gaze.csv")
    starts = np.asarray(fixation_starts, dtype=np.float64)
    starts = starts[np.isfinite(starts)]
    return Onset(float(starts.min()), "fixations.csv") if starts.size else None


def clock_shift(onset: Onset | None, clock: Clock) -> float:
    """Seconds to subtract from the image's gaze times: the onset when it is exact (raw
    samples) or the file runs on a session clock, else 0."""
    if onset is None or (onset.source == "fixations.csv" and clock == "per-image"):
        return 0.0
    return onset.time


def rebase(fix: np.ndarray, shift: float) -> np.ndarray:
    """Copy of (N, 10) fixations with start and end times moved ``shift`` seconds earlier."""
    out = fix.astype(np.float64)  # session times of ~1e3 s: subtract before any float32 rounding
    out[:, T_START] -= shift
    out[:, T_END] -= shift
    return out.astype(fix.dtype)
