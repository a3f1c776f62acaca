"""A content digest of a dataset index: readings, labels, fixations and extras, but no paths.

Used to prove that a refactor of the data layer leaves what the readers produce unchanged: the
golden digest in ``tests/golden/`` was recorded by this function on the code before the change
(``python tests/index_digest.py``), and ``tests/test_data_index_golden.py`` recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

# Path-valued columns change with where a tree lies; everything else is content.
PATH_COLUMNS = {
    "image_path",
    "fixations_path",
    "gaze_path",
    "ellipses_path",
    "chest_box_path",
    "transcript_path",
    "report_path",
    "anatomy_path",
}
GOLDEN_COHORT = {"studies": 24, "image_size": 128, "seed": 5}
# The golden digest was recorded when gaze.outside defaulted to "drop"; fix_used and trust
# depend on it, so the digest is always taken under that policy (a custom recipe). Re-recorded
# when EyeGaze times were re-based to each image's onset (gazecxr.gaze.clock, new clock columns).
GOLDEN_OUTSIDE = "drop"


def index_digest(index) -> dict[str, str]:
    """sha1 per part of ``index`` (a ``DatasetIndex``): rows, fixations, extras."""
    df = index.readings
    cols = sorted(c for c in df.columns if c not in PATH_COLUMNS)
    rows = df[cols].astype(str).to_numpy().tolist()
    fix = np.ascontiguousarray(index.fixations, dtype=np.float32)
    return {
        "columns": hashlib.sha1(json.dumps(cols).encode()).hexdigest(),
        "rows": hashlib.sha1(json.dumps(rows).encode()).hexdigest(),
        "fixations": hashlib.sha1(fix.tobytes()).hexdigest(),
        "fixations_shape": str(fix.shape),
        "extras": hashlib.sha1(json.dumps(index.extras, sort_keys=True).encode()).hexdigest(),
        "readings": str(len(df)),
    }


def golden_cohort(out: Path) -> Path:
    from gazecxr.synth.config import SynthConfig
    from gazecxr.synth.writer import write_cohort

    write_cohort(out, SynthConfig(**GOLDEN_COHORT), workers=1)
    return out


if __name__ == "__main__":
    import tempfile

    from gazecxr.data.index import build_index
    from gazecxr.gaze.config import CUSTOM, GazeConfig

    with tempfile.TemporaryDirectory() as tmp:
        cohort = golden_cohort(Path(tmp) / "cohort")
        idx = build_index(
            cohort, gaze_cfg=GazeConfig(reference=CUSTOM, outside=GOLDEN_OUTSIDE), use_cache=False
        )
        digest = index_digest(idx)
    json.dump(digest, sys.stdout, indent=2)
