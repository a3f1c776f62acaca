"""Attention-versus-gaze saliency metrics (MIT/Tuebingen benchmark definitions; checked against
pysaliency, an independent implementation, in tests/test_saliency_peer.py).

``P`` is the predicted map (model attention), ``G`` the gaze density map, ``F`` the fixated pixels,
all ``(h, w)`` numpy arrays on the same grid. Edge cases (ours, docs/method-choices.md): a constant
map carries no spatial information, so CC, Spearman and NSS are 0 for it (not NaN, so a collapsed
attention scores as "no agreement" instead of dropping out of averages); a map summing to 0 or an
empty fixation set makes the metrics that need it NaN (the caller skips and counts that reading).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

KLD_EPS = 2.2204e-16


def _arr(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"saliency maps must be 2-D (h, w), got shape {a.shape}")
    return a


def _pair(p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = _arr(p), _arr(g)
    if p.shape != g.shape:
        raise ValueError(f"maps differ in shape: {p.shape} vs {g.shape}; resample to one grid first")
    return p, g


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def cc(p: np.ndarray, g: np.ndarray) -> float:
    """Pearson correlation of ``P`` and ``G`` over pixels, in [-1, 1]; 0 if either is constant."""
    return _pearson(*_pair(p, g))


def spearman(p: np.ndarray, g: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties), in [-1, 1]; 0 if either is constant."""
    p, g = _pair(p, g)
    return _pearson(rankdata(p.ravel()), rankdata(g.ravel()))


def _normalize(x: np.ndarray) -> np.ndarray | None:
    s = x.sum()
    return x / s if s > 0 else None


def kld(p: np.ndarray, g: np.ndarray, eps: float = KLD_EPS) -> float:
    """``sum G' log(eps + G' / (P' + eps))`` with sum-1 maps; >= 0, lower is better; NaN if a map sums to 0."""
    p, g = _pair(p, g)
    pn, gn = _normalize(p), _normalize(g)
    if pn is None or gn is None:
        return float("nan")
    return float((gn * np.log(eps + gn / (pn + eps))).sum())


def sim(p: np.ndarray, g: np.ndarray) -> float:
    """Histogram intersection ``sum min(P', G')`` of sum-1 maps, in [0, 1]; NaN if a map sums to 0."""
    p, g = _pair(p, g)
    pn, gn = _normalize(p), _normalize(g)
    if pn is None or gn is None:
        return float("nan")
    return float(np.minimum(pn, gn).sum())


def fixation_map(xy: np.ndarray | Sequence[Sequence[float]], shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``(h, w)`` set of fixated pixels from ``(N, 2)`` normalised ``(x, y)`` in [0, 1].

    Each fixation falls in the pixel containing it (points on the far edge go to the last pixel;
    points outside [0, 1] are dropped).
    """
    h, w = shape
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    inside = (pts >= 0).all(1) & (pts <= 1).all(1)
    pts = pts[inside]
    out = np.zeros(shape, dtype=bool)
    cols = np.minimum((pts[:, 0] * w).astype(int), w - 1)
    rows = np.minimum((pts[:, 1] * h).astype(int), h - 1)
    out[rows, cols] = True
    return out


def _fix(p: np.ndarray, fixations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = _arr(p)
    f = np.asarray(fixations).astype(bool)
    if f.shape != p.shape:
        raise ValueError(
            f"fixation map {f.shape} and saliency map {p.shape} differ; build it with fixation_map(xy, P.shape)"
        )
    return p, f


def nss(p: np.ndarray, fixations: np.ndarray) -> float:
    """Mean of the z-scored ``P`` (population std) at fixated pixels; 0 for constant ``P``, NaN with no fixation."""
    p, f = _fix(p, fixations)
    if not f.any():
        return float("nan")
    sd = p.std()
    if sd == 0:
        return 0.0
    return float(((p - p.mean()) / sd)[f].mean())


def auc_judd(p: np.ndarray, fixations: np.ndarray) -> float:
    """AUC-Judd in [0, 1] (0.5 = chance); NaN with no fixation or no non-fixated pixel.

    Thresholds are the ``P`` values at the fixated pixels; at each threshold TPR is the share of
    fixated pixels with ``P >= t`` and FPR the share of non-fixated pixels with ``P >= t``; the curve
    runs from (0, 0) to (1, 1) and the area is the trapezoid rule. Ties are counted exactly (no
    random jitter), so a constant map scores exactly 0.5.
    """
    p, f = _fix(p, fixations)
    pos, neg = p[f], p[~f]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    thresholds = np.unique(pos)[::-1]  # descending
    pos_sorted, neg_sorted = np.sort(pos), np.sort(neg)
    tpr = (pos.size - np.searchsorted(pos_sorted, thresholds, side="left")) / pos.size
    fpr = (neg.size - np.searchsorted(neg_sorted, thresholds, side="left")) / neg.size
    tpr = np.concatenate([[0.0], tpr, [1.0]])
    fpr = np.concatenate([[0.0], fpr, [1.0]])
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def saliency_metrics(p: np.ndarray, g: np.ndarray, fixations: np.ndarray | None = None) -> dict[str, float]:
    """All metrics for one reading: cc, kld, sim, spearman, and with a fixation map nss, auc_judd."""
    out = {"cc": cc(p, g), "kld": kld(p, g), "sim": sim(p, g), "spearman": spearman(p, g)}
    if fixations is not None:
        out.update(nss=nss(p, fixations), auc_judd=auc_judd(p, fixations))
    return out
