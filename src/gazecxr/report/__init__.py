"""gazecxr.report: Stage 2, region-aware report generation, the report labeler and report evaluation.

Public API: :func:`generate_report` (Prediction -> :class:`Report`), :func:`label_report`,
:func:`load_dictionary` / :func:`calibrate_cutpoints`, :func:`atlas_boxes` (in ``regions``),
:func:`report_eval` and :func:`evaluate_regions`.
"""

from gazecxr.report.dictionary import calibrate_cutpoints, load_dictionary
from gazecxr.report.generate import Report, generate_report, write_report
from gazecxr.report.labeler import LabeledFinding, label_report

__all__ = [
    "LabeledFinding",
    "Report",
    "calibrate_cutpoints",
    "generate_report",
    "label_report",
    "load_dictionary",
    "write_report",
]
