"""gazecxr.report: Stage 2, region-aware report generation, the report labeler and report evaluation.

Public API: :func:`generate_report` (Prediction -> :class:`Report`), :func:`label_report`,
:func:`load_dictionary` / :func:`calibrate_cutpoints`, ``gazecxr.report.regions.atlas_boxes``,
:func:`report_eval` (IU reports) and :func:`evaluate_regions` (synthetic cohort).
"""

from typing import Any

from gazecxr.report.dictionary import calibrate_cutpoints, load_dictionary
from gazecxr.report.generate import Report, generate_report, write_report
from gazecxr.report.labeler import LabeledFinding, label_report

# The evaluation entry points use gazecxr.metrics.report, which itself uses the labeler: loaded on
# first access so that importing either package first works.
_LAZY = {"report_eval": "gazecxr.report.evaluate", "evaluate_regions": "gazecxr.report.synthetic_eval"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gazecxr.report' has no attribute {name!r}")


__all__ = [
    "LabeledFinding",
    "Report",
    "calibrate_cutpoints",
    "evaluate_regions",
    "generate_report",
    "label_report",
    "load_dictionary",
    "report_eval",
    "write_report",
]
