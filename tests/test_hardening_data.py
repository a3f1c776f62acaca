"""Hostile and careless data, round 2 (issue 21): what `data check` says it handles, training
handles too."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gazecxr.data.index import build_index
from test_train import train_tiny, write_tiny_tree


def test_non_finite_fixation_times_are_dropped_counted_and_training_runs(tmp_path: Path) -> None:
    """Before: NaN / inf fixation times crashed training (`FloatingPointError: loss is nan`, with
    the advice to lower the learning rate) although `data check` said they "get no weight"."""
    tree = write_tiny_tree(tmp_path / "tree")
    poisoned = 0
    for path in sorted(tree.glob("patient_*/REFLACX/main_data/*/fixations.csv")):
        lines = path.read_text().splitlines()
        for row, value in ((1, "nan"), (2, "inf"), (3, "-inf")):
            parts = lines[row].split(",")
            parts[row % 2] = value  # start or end time
            lines[row] = ",".join(parts)
            poisoned += 1
        path.write_text("\r\n".join(lines) + "\r\n")
    idx = build_index(tree, use_cache=False)
    bad = [p for p in idx.problems if p.kind == "bad_time"]
    assert sum(p.count for p in bad) == poisoned
    assert np.isfinite(idx.fixations[:, :4]).all()
    run = train_tiny(tree, tmp_path / "run", "train.epochs=1")
    assert (run / "checkpoint_best.safetensors").is_file()
    import json

    record = json.loads((run / "run.json").read_text())
    assert record["data_problems"] >= len(bad) and not math.isnan(
        json.loads((run / "metrics.json").read_text())["train"]["best_val_macro_auroc"]
    )
