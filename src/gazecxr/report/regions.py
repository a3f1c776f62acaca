"""Region assignment: attention mass inside anatomy boxes x finding priors.

Boxes are normalised ``(xmin, ymin, xmax, ymax)`` in [0, 1] image coordinates; "right" / "left"
are the patient's (the patient's right lung is on the image's left on a PA/AP film).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from gazecxr.data.augment import other_side
from gazecxr.prediction import Box
from gazecxr.vocab.dictionary import Dictionary, FindingEntry

log = logging.getLogger("gazecxr.report")


def box_masses(attention: np.ndarray, boxes: dict[str, Box]) -> dict[str, float]:
    """Attention mass inside each box.

    Each attention cell contributes its mass times the fraction of the cell the box covers, so
    small boxes on a coarse grid get a fair share instead of all-or-nothing.

    Args:
        attention: ``(h, w)`` non-negative map (normalised here to sum 1; all zeros -> all masses 0).
        boxes: region -> normalised box.

    Returns:
        region -> mass in [0, 1].
    """
    a = np.asarray(attention, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"attention must be a 2-D (h, w) map, got shape {a.shape}")
    if not boxes:
        return {}
    total = a.sum()
    if not np.isfinite(total) or total <= 0:
        return {name: 0.0 for name in boxes}
    a = a / total
    h, w = a.shape
    b = np.clip(np.asarray(list(boxes.values()), dtype=np.float64), 0.0, 1.0)  # (R, 4)

    def cover(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
        edges = np.arange(n + 1) / n
        return (
            np.clip(
                np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1]), 0, None
            )
            * n
        )

    wx, wy = (
        cover(b[:, 0], b[:, 2], w),
        cover(b[:, 1], b[:, 3], h),
    )  # (R, w), (R, h) covered fraction per cell
    masses = np.einsum("rh,hw,rw->r", wy, a, wx)
    return {name: float(m) for name, m in zip(boxes, masses, strict=False)}


def contralateral(region: str) -> str | None:
    """The same region on the other side ("right lower lung zone" -> "left lower lung zone"), or None."""
    mirror = other_side(region)
    return mirror if mirror != region else None


def region_evidence(
    masses: dict[str, float], boxes: dict[str, Box], mode: str = "density"
) -> dict[str, float]:
    """Attention evidence for each box from its attention mass (:func:`box_masses`).

    ``"mass"``: the mass itself. ``"density"`` (default): mass
    divided by the box's share of the image, i.e. how many times more attention the box holds than a
    uniform map would give it (1 = uniform). Raw mass grows with box size, so with mass a whole-lung
    box outscores the zone or costophrenic angle the attention actually points at; density compares
    boxes of different sizes fairly and leaves the choice to the priors when the map is uniform.
    """
    if mode == "mass":
        return dict(masses)
    if mode != "density":
        raise ValueError(f"region evidence mode must be 'density' or 'mass', got {mode!r}")
    out = {}
    for name, (x0, y0, x1, y1) in boxes.items():
        area = max(min(x1, 1.0) - max(x0, 0.0), 0.0) * max(min(y1, 1.0) - max(y0, 0.0), 0.0)
        out[name] = masses[name] / area if area > 0 else 0.0
    return out


def assign_regions(
    finding: FindingEntry, evidence: dict[str, float], bilateral_ratio: float = 0.6
) -> tuple[tuple[str, ...], dict[str, float]]:
    """Regions of a finding: the best of ``evidence x prior``, plus its mirror region when comparable.

    Args:
        finding: dictionary entry (its ``priors`` restrict and weight the candidate regions).
        evidence: region -> attention evidence (:func:`region_evidence`: density or mass).
        bilateral_ratio: the contralateral region is added when its score is at least this share of
            the best score (both lower zones -> written "bibasilar").

    Returns:
        (assigned regions, sorted; empty when no candidate region has attention) and the score of
        every candidate region.
    """
    scores = {r: evidence[r] * p for r, p in finding.priors.items() if r in evidence}
    if not scores or max(scores.values()) <= 0:
        return (), scores
    best = max(scores, key=lambda r: (scores[r], r))
    chosen = {best}
    mirror = contralateral(best)
    if mirror in scores and scores[mirror] >= bilateral_ratio * scores[best]:
        chosen.add(mirror)
    return tuple(sorted(chosen)), scores


def describe_location(regions: tuple[str, ...] | list[str], dictionary: Dictionary) -> tuple[str, str]:
    """How a sentence names a region set: ("adjective", "") for a group, ("", "in the ...") otherwise."""
    regs = frozenset(regions)
    if not regs:
        return "", ""
    for group in dictionary.groups.values():
        if group.regions == regs:
            return group.adjective, ""
    phrases = [dictionary.regions[r].phrase for r in sorted(regs)]
    joined = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return "", f"in the {joined}"


def findings_by_region(report: dict[str, Any]) -> dict[str, list[str]]:
    """Region name -> names of the findings a report (``Report.to_dict()``) placed there."""
    placed: dict[str, list[str]] = {}
    for finding in report.get("findings", []) or []:
        for region in finding.get("regions", []) or []:
            placed.setdefault(str(region), []).append(str(finding["name"]))
    return placed
