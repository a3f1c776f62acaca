"""gazecxr.report: Stage 2, region-aware report generation and report evaluation.

Public API: :func:`generate_report` (Prediction -> :class:`Report`), :func:`write_report`,
:func:`report_eval` (IU reports) and
:func:`evaluate_regions` (synthetic cohort). The finding dictionary and the labeler live in
:mod:`gazecxr.vocab`, which Stage 1 uses too. Members are imported on first access.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "Report": "gazecxr.report.generate",
        "generate_report": "gazecxr.report.generate",
        "write_report": "gazecxr.report.generate",
        "report_eval": "gazecxr.report.evaluate",
        "evaluate_regions": "gazecxr.report.synthetic_eval",
    },
)
