"""Multi-label classification metrics with label masks, thresholds and patient-level bootstrap CIs.

Arrays: ``y (N, C)`` in {0, 1}, ``p (N, C)`` scores (probabilities), ``mask (N, C)`` 1 where the
label is known (default all known). A class whose known labels are all positive or all negative
has every metric NaN; it is excluded from the macro averages and listed under ``undefined``.
Precision with no predicted positive is 0 (scikit-learn's ``zero_division=0``), F1 = 0 when
precision + recall = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from scipy.stats import rankdata

METRICS = ("auroc", "f1", "precision", "recall", "accuracy")


def _prepare(
    y: np.ndarray, p: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim == 1:
        y, p = y[:, None], p[:, None]
        mask = None if mask is None else np.asarray(mask)[:, None]
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and scores {p.shape} differ")
    m = np.ones_like(y, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    if m.shape != y.shape:
        raise ValueError(f"mask {m.shape} and labels {y.shape} differ")
    return y, p, m


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    """Binary AUROC (Mann-Whitney with average ranks for ties); NaN if only one class is present."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(s, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _threshold_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = float((pred & y).sum())
    fp = float((pred & ~y).sum())
    fn = float((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "accuracy": float((pred == y).mean())}


def _thresholds(thresholds: float | Sequence[float] | np.ndarray, c: int) -> np.ndarray:
    t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (c,))
    return t


def classification_metrics(
    y: np.ndarray,
    p: np.ndarray,
    mask: np.ndarray | None = None,
    thresholds: float | Sequence[float] | np.ndarray = 0.5,
    labels: Sequence[str] | None = None,
) -> dict:
    """Per-class and macro AUROC, F1, precision, recall, accuracy (positive when ``p >= threshold``).

    Returns:
        ``{"per_class": {label: {metric: value, "n_pos": int, "n_neg": int}}, "macro": {metric: value},
        "undefined": [labels with one class present]}``. Macro averages are NaN if every class is undefined.
    """
    y, p, m = _prepare(y, p, mask)
    c = y.shape[1]
    names = list(labels) if labels is not None else [str(i) for i in range(c)]
    if len(names) != c:
        raise ValueError(f"{len(names)} label names for {c} columns")
    t = _thresholds(thresholds, c)
    per_class: dict[str, dict[str, float]] = {}
    undefined: list[str] = []
    for j, name in enumerate(names):
        yj, pj = y[m[:, j], j].astype(bool), p[m[:, j], j]
        n_pos, n_neg = int(yj.sum()), int((~yj).sum())
        if n_pos == 0 or n_neg == 0:
            undefined.append(name)
            values = dict.fromkeys(METRICS, float("nan"))
        else:
            values = {"auroc": auroc(yj, pj), **_threshold_metrics(yj, pj >= t[j])}
        per_class[name] = {**values, "n_pos": n_pos, "n_neg": n_neg}
    defined = [per_class[n] for n in names if n not in undefined]
    macro = {k: float(np.mean([d[k] for d in defined])) if defined else float("nan") for k in METRICS}
    return {"per_class": per_class, "macro": macro, "undefined": undefined}


def flatten_metrics(result: dict) -> dict[str, float]:
    """``classification_metrics`` output -> ``{"macro/auroc": ..., "auroc/<label>": ...}``."""
    flat = {f"macro/{k}": v for k, v in result["macro"].items()}
    for name, values in result["per_class"].items():
        flat.update({f"{k}/{name}": values[k] for k in METRICS})
    return flat


def choose_thresholds(
    y: np.ndarray,
    p: np.ndarray,
    mask: np.ndarray | None = None,
    metric: Literal["f1", "youden"] = "f1",
    default: float = 0.5,
) -> np.ndarray:
    """Per-class decision thresholds maximising F1 or Youden's J (TPR - FPR) on ``(y, p)``.

    Candidates are the observed scores (positive when ``p >= t``); among equal optima the highest
    threshold is kept (fewest positives). Classes with one class present get ``default``.

    Returns:
        ``(C,)`` thresholds.
    """
    if metric not in ("f1", "youden"):
        raise ValueError(f"threshold metric must be 'f1' or 'youden', got {metric!r}")
    y, p, m = _prepare(y, p, mask)
    out = np.full(y.shape[1], default, dtype=np.float64)
    for j in range(y.shape[1]):
        yj, pj = y[m[:, j], j].astype(bool), p[m[:, j], j]
        n_pos = int(yj.sum())
        n_neg = yj.size - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        order = np.argsort(-pj, kind="stable")
        ps, ys = pj[order], yj[order]
        # Predicting positive for the first k (sorted by score) is "p >= ps[k-1]"; only the last
        # index of each run of tied scores is a realisable cut.
        last = np.r_[ps[1:] != ps[:-1], True]
        tp = np.cumsum(ys)[last]
        fp = np.cumsum(~ys)[last]
        if metric == "f1":
            score = 2 * tp / (tp + fp + n_pos)
        else:
            score = tp / n_pos - fp / n_neg
        out[j] = ps[last][int(np.argmax(score))]
    return out


def _group_members(groups: np.ndarray | Sequence | None, n: int) -> list[np.ndarray]:
    if groups is None:
        return [np.array([i]) for i in range(n)]
    groups = np.asarray(groups)
    if groups.shape[0] != n:
        raise ValueError(f"{groups.shape[0]} group ids for {n} samples")
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def _resample_indices(members: list[np.ndarray], n_boot: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        for _ in range(n_boot)
    ]


def _interval(samples: np.ndarray, ci: float) -> tuple[float, float, int]:
    ok = samples[~np.isnan(samples)]
    if ok.size == 0:
        return float("nan"), float("nan"), 0
    lo, hi = np.percentile(ok, [100 * (1 - ci) / 2, 100 * (1 + ci) / 2])
    return float(lo), float(hi), int(ok.size)


MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], dict[str, float]]


def _default_metric_fn(labels: Sequence[str] | None) -> MetricFn:
    def fn(y: np.ndarray, p: np.ndarray, m: np.ndarray, t: np.ndarray) -> dict[str, float]:
        return flatten_metrics(classification_metrics(y, p, m, t, labels))

    return fn


def bootstrap_ci(
    y: np.ndarray,
    p: np.ndarray,
    mask: np.ndarray | None = None,
    groups: np.ndarray | Sequence | None = None,
    thresholds: float | Sequence[float] | np.ndarray = 0.5,
    labels: Sequence[str] | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    metric_fn: MetricFn | None = None,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap CIs, resampling whole groups (patients) with replacement.

    Args:
        groups: ``(N,)`` group id per sample (e.g. subject_id); None resamples samples.
        metric_fn: ``(y, p, mask, thresholds) -> {name: value}``; default: :func:`flatten_metrics` of
            :func:`classification_metrics`.

    Returns:
        ``{name: {"value", "lo", "hi", "n"}}``: point estimate on the full set, interval over the
        resamples where the metric is defined (``n`` of them; a class absent from a resample is NaN
        there).
    """
    y, p, m = _prepare(y, p, mask)
    t = _thresholds(thresholds, y.shape[1])
    fn = metric_fn or _default_metric_fn(labels)
    point = fn(y, p, m, t)
    draws = [fn(y[i], p[i], m[i], t) for i in _resample_indices(_group_members(groups, len(y)), n_boot, seed)]
    out = {}
    for name, value in point.items():
        lo, hi, n = _interval(np.array([d[name] for d in draws], dtype=np.float64), ci)
        out[name] = {"value": float(value), "lo": lo, "hi": hi, "n": n}
    return out


def paired_bootstrap_diff(
    y: np.ndarray,
    p_variant: np.ndarray,
    p_base: np.ndarray,
    mask: np.ndarray | None = None,
    groups: np.ndarray | Sequence | None = None,
    thresholds_variant: float | Sequence[float] | np.ndarray = 0.5,
    thresholds_base: float | Sequence[float] | np.ndarray = 0.5,
    labels: Sequence[str] | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    metric_fn: MetricFn | None = None,
) -> dict[str, dict[str, float]]:
    """Paired bootstrap of ``metric(variant) - metric(base)`` on the same test set.

    Both models are scored on the same group resample each time, so the interval reflects the
    difference, not two independent uncertainties. Each model keeps its own thresholds.

    Returns:
        ``{name: {"diff", "lo", "hi", "n", "p_le_0"}}``; ``p_le_0`` is the share of resamples with a
        difference <= 0 (a one-sided bootstrap p-value for "variant better").
    """
    y, pv, m = _prepare(y, p_variant, mask)
    _, pb, _ = _prepare(y, p_base, mask)
    c = y.shape[1]
    tv, tb = _thresholds(thresholds_variant, c), _thresholds(thresholds_base, c)
    fn = metric_fn or _default_metric_fn(labels)

    def diff(i: np.ndarray | slice) -> dict[str, float]:
        a, b = fn(y[i], pv[i], m[i], tv), fn(y[i], pb[i], m[i], tb)
        return {k: a[k] - b[k] for k in a}

    point = diff(slice(None))
    draws = [diff(i) for i in _resample_indices(_group_members(groups, len(y)), n_boot, seed)]
    out = {}
    for name, value in point.items():
        samples = np.array([d[name] for d in draws], dtype=np.float64)
        lo, hi, n = _interval(samples, ci)
        ok = samples[~np.isnan(samples)]
        out[name] = {
            "diff": float(value),
            "lo": lo,
            "hi": hi,
            "n": n,
            "p_le_0": float((ok <= 0).mean()) if n else float("nan"),
        }
    return out
