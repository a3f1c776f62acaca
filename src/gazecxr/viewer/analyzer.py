"""What the viewer runs on an image: the classifier of a run directory plus a report writer.

The web app only knows the :class:`Analyzer` protocol, so tests and other front-ends can inject
any object with the same method; :class:`RunAnalyzer` is the real one (Stage 1 ``Predictor`` of a
trained run -> Stage 2 ``generate_report``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gazecxr.anatomy.localiser import find_anatomy
from gazecxr.data.images import Radiograph, read_radiograph
from gazecxr.data.layout import is_synthetic
from gazecxr.errors import InputError
from gazecxr.prediction import Box, Prediction


@dataclass
class Analysis:
    """Result of analysing one image: the Stage-1 prediction and the Stage-2 report."""

    prediction: Prediction
    report_text: str
    report: dict[str, Any] = field(default_factory=dict)  # the report's structured form (to_dict())


class Analyzer(Protocol):
    """Anything that reads an image file and turns it into an :class:`Analysis`."""

    name: str  # shown in the page header and /api/health (e.g. the run directory name)
    writer: str  # report writer in use ("template" or "llm")

    def read(self, path: Path, name: str | None = None) -> Radiograph:
        """Read an image file for this analyzer's model (:func:`gazecxr.data.images.read_radiograph`);
        raises ``ImageReadError`` naming the file."""
        ...

    def analyze(self, radiograph: Radiograph, anatomy_boxes: dict[str, Box] | None = None) -> Analysis:
        """Analyse what :meth:`read` returned. Must be safe to call from several threads."""
        ...


class RunLoadError(InputError):
    """A run directory that cannot serve predictions; the message says why."""


class RunAnalyzer:
    """Classifier of a trained run directory + the configured report writer.

    Inference is serialised by a lock: on CPU one forward pass already uses every core, and the
    lock keeps the model's state private to one request at a time whatever the backbone does.
    """

    def __init__(
        self, run_dir: str | Path, writer: str | None = None, anatomy_model: str | Path | None = None
    ) -> None:
        """Load the run's best checkpoint and thresholds, and the anatomy localiser
        (``anatomy_model``, else the run's ``report.anatomy_model``, else the shipped one).

        Raises:
            RunLoadError: ``run_dir`` has no config.yaml, or its checkpoint or thresholds are
                missing or do not fit the config.
            LocaliserError: the anatomy localiser cannot be loaded.
        """
        from gazecxr.config import load_config

        self.run_dir = Path(run_dir)
        if not (self.run_dir / "config.yaml").is_file():
            raise RunLoadError(
                f"{self.run_dir} is not a run directory (no config.yaml); "
                "train one with `gazecxr train` or `gazecxr demo`"
            )
        from gazecxr.train.checkpoint import CheckpointError  # torch is imported only for a real run
        from gazecxr.train.predict import Predictor

        cfg = load_config(self.run_dir / "config.yaml")
        if writer is not None:
            cfg.report.writer = writer
        from gazecxr.report.calibrate import run_report_config

        # The run's calibrated certainty cut-points (report_cutpoints.json) when it has them.
        self.report_cfg = run_report_config(self.run_dir, cfg.report)
        self.writer = cfg.report.writer
        self.name = self.run_dir.name
        self.trained_on_synthetic = trained_on_synthetic(self.run_dir)
        try:
            self.predictor = Predictor.from_run(self.run_dir)
        except CheckpointError as exc:
            raise RunLoadError(str(exc)) from None
        from gazecxr.anatomy.localiser import Localiser

        self.localiser = Localiser.load(
            anatomy_model if anatomy_model is not None else cfg.report.anatomy_model
        )
        self._lock = threading.Lock()

    def read(self, path: Path, name: str | None = None) -> Radiograph:
        """The same read as ``gazecxr predict`` / ``report`` (one model input per file)."""
        return self.predictor.read(path, name=name)

    def analyze(self, radiograph: Radiograph, anatomy_boxes: dict[str, Box] | None = None) -> Analysis:
        from gazecxr.report import generate_report

        with self._lock:
            prediction = self.predictor.predict_radiograph(radiograph)
            prediction.anatomy = find_anatomy(
                radiograph.display, self.localiser, anatomy_boxes, radiograph.model_input
            )
        report = generate_report(prediction, self.report_cfg)
        return Analysis(prediction=prediction, report_text=report.text, report=report.to_dict())


def read_for(model_size: int, max_pixels: int | None):  # noqa: ANN201 - returns Analyzer.read
    """An :meth:`Analyzer.read` for a model of input ``model_size`` (for analyzers without a run)."""

    def read(path: Path, name: str | None = None) -> Radiograph:
        return read_radiograph(path, model_size, max_pixels=max_pixels, name=name)

    return read


def trained_on_synthetic(run_dir: Path) -> bool:
    """Whether the run's training data (``data_root`` of run.json) is a ``gazecxr synth`` cohort."""
    try:
        record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    root = record.get("data_root")
    return bool(root) and is_synthetic(root)
