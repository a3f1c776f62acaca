"""Per-reading trust weight in [0, 1] for the gaze loss (method.md, "Trust calibration").

The paper names trust calibration but not its formula; this one is ours. It is the product of
four factors, each in [0, 1]:

- count: ``min(1, n / trust_full_fixations)`` with ``n`` the usable fixations;
- dwell: ``min(1, D / trust_full_dwell_s)`` with ``D`` the total fixation duration (s);
- chest: share of the dwell whose fixation centre is inside the chest box (REFLACX
  ``chest_bounding_box.csv``; for EyeGaze the union of the lung/heart anatomy boxes, else the
  whole image), so a reading spent looking at labels or off-image counts less;
- certainty: ``0.5 + 0.5 * (c - 1) / 4`` for the mean REFLACX ellipse certainty ``c`` in 1..5
  (1 where unknown), so a hesitant reading is down-weighted by at most half.

A reading without any usable fixation, or with zero dwell, gets 0: the loss then ignores it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.fixations import T_END, T_START, X, Y


def trust_weight(
    fix: np.ndarray,
    chest_box: Sequence[float] | None,
    certainties: Sequence[float],
    cfg: GazeConfig,
) -> float:
    """Trust of one reading.

    Args:
        fix: (N, 10) *selected* fixations (:data:`gazecxr.gaze.fixations.FIX_COLUMNS`), image pixels.
        chest_box: (xmin, ymin, xmax, ymax) in image pixels, or ``None`` (factor 1).
        certainties: REFLACX ellipse certainties (1..5) of the reading; empty when unknown.
        cfg: thresholds ``trust_full_fixations`` and ``trust_full_dwell_s``.
    Returns:
        Weight in [0, 1].
    """
    n = int(fix.shape[0])
    if n == 0:
        return 0.0
    dur = np.clip(fix[:, T_END].astype(np.float64) - fix[:, T_START], 0.0, None)
    total = float(dur.sum())
    if not np.isfinite(total) or total <= 0.0:
        return 0.0
    count = min(1.0, n / cfg.trust_full_fixations)
    dwell = min(1.0, total / cfg.trust_full_dwell_s)
    chest = 1.0
    if chest_box is not None:
        x0, y0, x1, y1 = chest_box
        inside = (fix[:, X] >= x0) & (fix[:, X] <= x1) & (fix[:, Y] >= y0) & (fix[:, Y] <= y1)
        chest = float(dur[inside].sum() / total)
    cert = [float(c) for c in certainties if np.isfinite(c)]
    certainty = 1.0 if not cert else 0.5 + 0.5 * (float(np.clip(np.mean(cert), 1, 5)) - 1.0) / 4.0
    return float(np.clip(count * dwell * chest * certainty, 0.0, 1.0))
