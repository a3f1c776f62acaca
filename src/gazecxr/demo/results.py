"""The demo's numbers: the ablation table reduced to what ``summary.json`` and the page show, ROC
curves, and the verdict sentences.

The table is :func:`gazecxr.train.ablate.run_ablation`'s: per variant, each test metric's mean, sd
and per-seed values, and for every variant but the baseline the paired patient-bootstrap CI of
the seed-averaged difference to the baseline (macro AUROC and F1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# summary.json key -> key of the evaluation headline (metrics.json "eval_test")
SUMMARY_METRICS: dict[str, str] = {
    "macro_auroc": "macro_auroc",
    "macro_f1": "macro_f1",
    "attention_cc": "attention_cc",
    "pointing_game": "attention_pointing_game",
}
PAIRED = {"macro_auroc": "auroc", "macro_f1": "f1"}  # summary key -> paired-difference key


def _round(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


def variant_summary(row: dict[str, Any]) -> dict[str, Any]:
    """One variant of the ablation table as the ``summary.json`` contract has it.

    ``{macro_auroc, macro_f1, attention_cc, pointing_game}``: means over seeds; ``per_seed``: the
    same metrics per seed (seed order); ``sd``: their spread; ``paired_vs_baseline``: per paired
    metric ``{diff, lo, hi}`` (absent for the baseline); ``runs``: the run directories.
    """
    metrics = row["metrics"]
    out: dict[str, Any] = {
        key: _round(metrics.get(src, {}).get("mean")) for key, src in SUMMARY_METRICS.items()
    }
    out["per_seed"] = {
        key: [_round(v) for v in metrics.get(src, {}).get("values", [])]
        for key, src in SUMMARY_METRICS.items()
    }
    out["sd"] = {key: _round(metrics.get(src, {}).get("sd")) for key, src in SUMMARY_METRICS.items()}
    paired = row.get("paired_vs_baseline")
    if paired:
        out["paired_vs_baseline"] = {
            key: {k: _round(paired[src][k]) for k in ("diff", "lo", "hi")} for key, src in PAIRED.items()
        }
    out["per_class_auroc"] = {c: _round(v.get("mean")) for c, v in row["per_class_auroc"].items()}
    out["runs"] = row["runs"]
    return out


def roc_curves(run: Path, split: str = "test") -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per-label ROC curves from the run's saved per-reading predictions (labels with both classes)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from gazecxr.train.evaluate import load_predictions

    pred = load_predictions(run / f"predictions_{split}.npz")
    out = {}
    for j, label in enumerate(pred["labels"].tolist()):
        keep = pred["mask"][:, j] > 0
        y, s = pred["targets"][keep, j], pred["probs"][keep, j]
        if len(np.unique(y)) == 2:
            fpr, tpr, _ = roc_curve(y, s)
            out[label] = (fpr, tpr, float(roc_auc_score(y, s)))
    return out


def _ci(d: dict[str, float | None]) -> str:
    return f"{d['diff']:+.3f} [95% CI {d['lo']:+.3f}, {d['hi']:+.3f}]"


def _standing(d: dict[str, float | None]) -> str:
    """'ahead of' when the whole CI is above 0, 'behind' when below, else 'not clearly ahead of'."""
    if d["lo"] is not None and d["lo"] > 0:
        return "ahead of"
    if d["hi"] is not None and d["hi"] < 0:
        return "behind"
    return "not clearly ahead of"


def verdict(
    variants: dict[str, dict[str, Any]],
    headline: str,
    baseline: str,
    control: str | None,
    seeds: int,
    test_readings: int,
) -> list[str]:
    """Plain sentences, the answer first: is ``headline`` ahead of ``baseline`` (paired CI), is its
    shuffled-gaze control, and what the attention measures say.

    Args:
        variants: ``summary.json``'s ``variants`` (:func:`variant_summary` per name).
    """
    head, base = variants.get(headline), variants.get(baseline)
    if head is None or base is None or "paired_vs_baseline" not in head:
        return [f"{headline} or {baseline} was not trained; no comparison."]
    auroc, f1 = head["paired_vs_baseline"]["macro_auroc"], head["paired_vs_baseline"]["macro_f1"]
    standing = _standing(auroc)
    over = f"over {seeds} seeds" if seeds > 1 else "with one seed"
    lines = [
        f"The gaze-supervised model ({headline}) is {standing} the baseline {over}: macro AUROC "
        f"{head['macro_auroc']:.3f} vs {base['macro_auroc']:.3f}, a difference of {_ci(auroc)}; macro F1 "
        f"{head['macro_f1']:.3f} vs {base['macro_f1']:.3f}, {_ci(f1)} (paired bootstrap over the patients "
        f"of {test_readings} test readings)."
    ]
    if standing != "ahead of":
        lines.append(
            "This run does not show the effect the project measures: the AUROC interval includes 0 "
            "or lies below it."
            if standing == "not clearly ahead of"
            else "This run shows the gaze-supervised model worse than the baseline."
        )
    ctrl = variants.get(control) if control else None
    if ctrl is not None and "paired_vs_baseline" in ctrl:
        c = ctrl["paired_vs_baseline"]["macro_auroc"]
        ctrl_standing = _standing(c)
        if ctrl_standing == "not clearly ahead of":
            meaning = (
                "no gain, so the gain comes from each image's own gaze, not from a generic prior of "
                "where radiologists look."
                if standing == "ahead of"
                else "no clear gain."
            )
        elif ctrl_standing == "behind":
            # Another image's gaze is a wrong target: it costs, so no generic prior explains a gain.
            meaning = (
                "it falls below the baseline: another image's gaze misleads the model, so a gain "
                "cannot come from a generic prior of where radiologists look."
            )
        else:
            meaning = "the control gains too, so part of the difference is not specific to each image's gaze."
        lines.append(
            f"Its control, trained the same way but with each image's gaze swapped for another image's "
            f"({control}), differs from the baseline by {_ci(c)} in macro AUROC: " + meaning
        )
    if head.get("pointing_game") is not None and base.get("pointing_game") is not None:
        lines.append(
            f"Where the models look: the attention peak falls inside an abnormality the radiologist "
            f"outlined in {head['pointing_game']:.0%} of the test readings that have outlines for "
            f"{headline} and {base['pointing_game']:.0%} for the baseline (pointing game); the correlation "
            f"of attention with the radiologists' gaze is {head['attention_cc']:.2f} vs {base['attention_cc']:.2f}."
        )
    return lines
