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
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazecxr.data.config import DataConfig
from gazecxr.data.splits import SPLIT_FILE
from gazecxr.errors import InputError
from gazecxr.runinfo import write_json_atomic

log = logging.getLogger("gazecxr.train")

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

    def data_root(self, given: str | Path | None, recorded: str | None) -> Path:
        """The dataset root to use with this run: ``given`` (``--data``), else the one the run
        recorded (``data.root`` of its config.yaml, absolute since 2026-12-03; older runs: the
        ``data_root`` of run.json). Raises InputError naming the recorded root and ``--data``
        when there is none or it no longer exists (the data moved)."""
        if given is not None:
            return Path(given)
        if not recorded and self.run_json.is_file():
            recorded = json.loads(self.run_json.read_text(encoding="utf-8")).get("data_root")
        if not recorded:
            raise InputError(f"{self.path}: the run records no dataset root; pass --data ROOT")
        root = Path(recorded).expanduser()
        if not root.is_dir():
            where = "relative to the directory it was trained from, " if not root.is_absolute() else ""
            raise InputError(
                f"{self.path}: the run's dataset root {recorded} ({where}recorded in config.yaml / run.json) "
                "is not a directory here; pass --data ROOT to point the run at its data"
            )
        return root

    def located(self, data: DataConfig, given: str | Path | None) -> DataConfig:
        """The run's data settings pointed at its data: ``root`` from :meth:`data_root`, and a
        recorded ``cxr_root`` that is no longer a folder (the data moved with it) dropped, so
        MIMIC-CXR-JPG is searched beside the root as for a new run (said in the log)."""
        root = self.data_root(given, data.root)
        cxr = data.cxr_root
        if cxr and not Path(cxr).expanduser().is_dir():
            log.warning(
                "%s: the recorded data.cxr_root %s is gone; searching beside %s", self.path, cxr, root
            )
            cxr = None
        return data.model_copy(update={"root": str(root), "cxr_root": cxr})

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
