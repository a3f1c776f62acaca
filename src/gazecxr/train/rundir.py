"""The run directory: the one place that names every file a training run holds.

A run directory (``gazecxr train --out RUN``) holds::

    config.yaml            the resolved experiment config        (gazecxr.runinfo.init_run_dir)
    run.json               seed, versions, git revision, command line, host, device
    splits.csv             the patient-grouped split of every reading
    checkpoint_{last,best}.safetensors (+ checkpoint_last.state.pt)
    thresholds.json        per-label decision thresholds chosen on validation
    log.csv, epochs.csv, tb/   per-step and per-epoch logs, TensorBoard events
    metrics.json           {"train": ..., "eval_<split>": ...}   (:meth:`RunDir.update_metrics`)
    eval_<split>.json, predictions_<split>.npz                  (gazecxr evaluate)

Light on purpose (no torch): the demo, the viewer and scripts use it to find files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazecxr.data.splits import SPLIT_FILE
from gazecxr.runinfo import write_json_atomic

LAST, BEST = "checkpoint_last", "checkpoint_best"
WEIGHTS_SUFFIX = ".safetensors"
STATE_SUFFIX = ".state.pt"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory (nothing is created until something is written)."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def splits(self) -> Path:
        return self.path / SPLIT_FILE

    @property
    def thresholds(self) -> Path:
        return self.path / "thresholds.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def steps_log(self) -> Path:
        return self.path / "log.csv"

    @property
    def epochs_log(self) -> Path:
        return self.path / "epochs.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tb"

    def weights(self, name: str = BEST) -> Path:
        """``<name>.safetensors``: the model (and objective) weights of a checkpoint."""
        return self.path / f"{name}{WEIGHTS_SUFFIX}"

    def state(self, name: str = LAST) -> Path:
        """``<name>.state.pt``: optimiser, schedule, RNG and progress of a checkpoint."""
        return self.path / f"{name}{STATE_SUFFIX}"

    def eval_result(self, split: str) -> Path:
        return self.path / f"eval_{split}.json"

    def predictions(self, split: str) -> Path:
        return self.path / f"predictions_{split}.npz"

    def read_metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics.read_text(encoding="utf-8")) if self.metrics.is_file() else {}

    def update_metrics(self, section: str, values: Any) -> None:
        """Set ``metrics.json[section]`` keeping the other sections (atomic write)."""
        write_json_atomic(self.metrics, {**self.read_metrics(), section: values})
