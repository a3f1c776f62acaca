"""Synthetic MIMIC-Eye-format cohort: phantom radiographs, simulated readers, reports, confounders.

Entry points: :func:`write_cohort` (Python) and ``gazecxr synth`` (command line). The knobs are
documented in ``docs/synthetic-cohort.md``. Members are imported on first access.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "SynthConfig": "gazecxr.synth.config",
        "CohortSummary": "gazecxr.synth.plan",
        "write_cohort": "gazecxr.synth.writer",
    },
)
