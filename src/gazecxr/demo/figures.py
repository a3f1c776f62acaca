"""Figures of the study report, drawn with Matplotlib's object API (no pyplot state) into PNG bytes.

Colours: the Okabe-Ito palette for lines and bars, viridis for model attention and cividis for
radiologist gaze (perceptually uniform and readable with the common colour-vision deficiencies).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from gazecxr.prediction import Box
from gazecxr.report.overlay import ATTENTION_CMAP, GAZE_CMAP, heatmap_rgba, radiograph_uint8

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
PANEL_SIDE = 256  # radiograph panels are drawn at this resolution


def _png(fig: Figure, dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def variant_colour(index: int) -> str:
    return OKABE_ITO[index % len(OKABE_ITO)]


def roc_figure(
    curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray, float]]], labels: Sequence[str]
) -> bytes:
    """Small multiples, one ROC panel per label, one curve per variant.

    Args:
        curves: variant -> label -> (fpr, tpr, auc); a label missing for a variant (no positive
            or no negative test case) is drawn as "not defined".
        labels: panel order.
    """
    ncols = min(4, max(1, len(labels)))
    nrows = int(np.ceil(len(labels) / ncols))
    fig = Figure(figsize=(3.1 * ncols, 3.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(labels) :]:
        ax.set_visible(False)
    for ax, label in zip(axes.flat, labels, strict=False):
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":")
        drawn = 0
        for i, (variant, per_label) in enumerate(curves.items()):
            if label not in per_label:
                continue
            fpr, tpr, auc = per_label[label]
            ax.plot(
                fpr,
                tpr,
                color=variant_colour(i),
                lw=1.8,
                ls=("-", "--", "-.", ":")[i % 4],
                label=f"{variant} {auc:.2f}",
            )
            drawn += 1
        if drawn == 0:
            ax.text(0.5, 0.5, "not defined\n(one class only in test)", ha="center", va="center", fontsize=9)
        ax.set_title(label, fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("false-positive rate", fontsize=8)
        ax.set_ylabel("true-positive rate", fontsize=8)
        ax.tick_params(labelsize=7)
        if drawn:
            ax.legend(title="AUROC", fontsize=7, title_fontsize=7, loc="lower right")
    return _png(fig)


@dataclass
class FindingMaps:
    """One positive finding of a study: the radiologist's gaze for it and each model's map for it."""

    finding: str
    gaze: np.ndarray  # fixation density on any grid
    gaze_kind: str  # "while dictating it" or "whole reading"
    maps: dict[str, np.ndarray]  # variant -> that label's attention map


def finding_maps_figure(image: np.ndarray, findings: Sequence[FindingMaps], variants: Sequence[str]) -> bytes:
    """One row per positive finding: radiologist gaze for it | each variant's map for that label.

    Args:
        image: grayscale radiograph (any range).
        findings: the study's positive findings with their gaze and per-variant maps.
        variants: column order (e.g. baseline, then the gaze-supervised variant).
    """
    base = radiograph_uint8(image, PANEL_SIDE)
    size = base.shape
    ncols = 1 + len(variants)
    fig = Figure(figsize=(2.4 * ncols, 2.5 * len(findings)), layout="constrained")
    axes = fig.subplots(len(findings), ncols, squeeze=False)
    for row, f in zip(axes, findings, strict=True):
        panels = [(f"gaze, {f.gaze_kind}", f.gaze, GAZE_CMAP)]
        panels += [(f"{v}", f.maps[v], ATTENTION_CMAP) for v in variants]
        for col, (ax, (title, heat, cmap)) in enumerate(zip(row, panels, strict=True)):
            ax.imshow(base, cmap="gray", vmin=0, vmax=255)
            if np.any(np.asarray(heat) > 0):
                ax.imshow(heatmap_rgba(np.asarray(heat), size, cmap))
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f.finding, fontsize=9)
    return _png(fig)


def numbered_regions(hits: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Region -> badge number (1, 2, ...) for the regions that carry a finding, in report order."""
    return {region: i + 1 for i, region in enumerate(r for r, found in hits.items() if found)}


def study_figure(
    image: np.ndarray,
    gaze: np.ndarray | None,
    attentions: Mapping[str, np.ndarray],
    boxes: Mapping[str, Box],
    hits: Mapping[str, Sequence[str]],
) -> bytes:
    """One row: radiograph | radiologist gaze | attention of each variant | anatomy boxes.

    Args:
        image: grayscale radiograph (any range).
        gaze: fixation density on any grid (resampled), or None when the reading has no gaze.
        attentions: variant name -> model attention grid.
        boxes: region name -> normalised (xmin, ymin, xmax, ymax).
        hits: region name -> findings placed there by the report: drawn highlighted with the
            badge number of :func:`numbered_regions` (the page lists the findings per number).
    """
    base = radiograph_uint8(image, PANEL_SIDE)
    size = base.shape
    panels: list[tuple[str, np.ndarray | None, str | None]] = [("radiograph", None, None)]
    panels.append(("radiologist gaze", gaze, GAZE_CMAP))
    panels += [(f"{name} attention", att, ATTENTION_CMAP) for name, att in attentions.items()]
    panels.append(("regions of the report", None, None))
    fig = Figure(figsize=(2.7 * len(panels), 3.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, heat, cmap) in zip(axes, panels, strict=True):
        ax.imshow(base, cmap="gray", vmin=0, vmax=255)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if cmap is None:
            continue
        if heat is None or not np.any(np.asarray(heat) > 0):  # only a reading without gaze
            ax.text(
                size[1] / 2,
                size[0] / 2,
                "no gaze\nfor this reading",
                ha="center",
                va="center",
                color="white",
                fontsize=9,
                bbox={"facecolor": "black", "alpha": 0.6},
            )
        else:
            ax.imshow(heatmap_rgba(np.asarray(heat), size, cmap))
    box_ax = axes[-1]
    numbers = numbered_regions(hits)
    badges: list[tuple[float, float]] = []
    badge = 0.075 * size[1]
    for region, (x0, y0, x1, y1) in boxes.items():
        hit = region in numbers
        box_ax.add_patch(
            Rectangle(
                (x0 * size[1], y0 * size[0]),
                (x1 - x0) * size[1],
                (y1 - y0) * size[0],
                fill=False,
                lw=2.0 if hit else 0.6,
                edgecolor="#E69F00" if hit else "#56B4E9",
                alpha=1.0 if hit else 0.7,
            )
        )
        if hit:
            x, y = x0 * size[1], y0 * size[0]
            while any(abs(bx - x) < badge and abs(by - y) < badge for bx, by in badges):
                x += 1.15 * badge  # nested boxes share a corner
            badges.append((x, y))
            box_ax.text(
                x + badge / 2,
                y + badge / 2,
                str(numbers[region]),
                ha="center",
                va="center",
                fontsize=7,
                fontweight="bold",
                color="black",
                bbox={"facecolor": "#E69F00", "pad": 1.2, "lw": 0},
            )
    return _png(fig, dpi=90)
