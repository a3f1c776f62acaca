"""The data-layer split (one module per source) leaves what a MIMIC-Eye tree gives unchanged.

``tests/golden/index_digest_mimic_eye.json`` was recorded by ``tests/index_digest.py`` on the
code before the split (commit "tests: content digest of a synthetic MIMIC-Eye index"): readings,
labels, fixations and extras of a 24-study synthetic cohort. The cohort writer has changed since
(index columns, REFLACX column order) but what a reader gets from it must not.
"""

from __future__ import annotations

import json
from pathlib import Path

from gazecxr.data.index import build_index
from gazecxr.gaze.config import CUSTOM, GazeConfig
from index_digest import GOLDEN_OUTSIDE, golden_cohort, index_digest

GOLDEN = Path(__file__).parent / "golden" / "index_digest_mimic_eye.json"


def test_mimic_eye_index_matches_the_digest_recorded_before_the_split(tmp_path: Path) -> None:
    cohort = golden_cohort(tmp_path / "cohort")
    idx = build_index(cohort, gaze_cfg=GazeConfig(reference=CUSTOM, outside=GOLDEN_OUTSIDE), use_cache=False)
    assert idx.layout == "mimic-eye" and idx.problems == []
    assert index_digest(idx) == json.loads(GOLDEN.read_text())
