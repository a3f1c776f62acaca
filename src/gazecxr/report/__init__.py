"""gazecxr.report: Stage 2, region-aware report generation, the report labeler and report evaluation.

Public API: :func:`generate_report` (Prediction -> :class:`Report`), :func:`label_report`,
:func:`load_dictionary` / :func:`calibrate_cutpoints`, ``gazecxr.report.regions.atlas_boxes``,
:func:`report_eval` (IU reports) and :func:`evaluate_regions` (synthetic cohort).
"""

from gazecxr.report.dictionary import calibrate_cutpoints, load_dictionary
from gazecxr.report.evaluate import report_eval
from gazecxr.report.generate import Report, generate_report, write_report
from gazecxr.report.labeler import LabeledFinding, label_report
from gazecxr.report.synthetic_eval import evaluate_regions

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
