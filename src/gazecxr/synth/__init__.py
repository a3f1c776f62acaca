"""Synthetic MIMIC-Eye-format cohort: phantom radiographs, simulated readers, reports, confounders.

Entry points: :func:`write_cohort` (Python) and ``gazecxr synth`` (command line). The knobs
are documented in ``docs/synthetic-cohort.md``.
"""

from gazecxr.synth.config import SynthConfig
from gazecxr.synth.writer import CohortSummary, write_cohort

__all__ = ["CohortSummary", "SynthConfig", "write_cohort"]
