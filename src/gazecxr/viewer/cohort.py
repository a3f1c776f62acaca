"""Cohort studies the viewer can offer next to uploads (with radiologist gaze and reference report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gazecxr.prediction import Box


@dataclass
class CohortStudy:
    """One reading of a cohort, ready to display."""

    study_id: str  # the reading id (a dicom can have several readings, each with its own gaze)
    image: np.ndarray  # float (H, W) in [0, 1]
    image_path: str
    gaze: np.ndarray | None  # fixation density on the image grid, or None without usable gaze
    anatomy_boxes: dict[str, Box] = field(default_factory=dict)
    reference_report: str = ""
    labels: list[str] = field(default_factory=list)  # ground-truth positive labels
    split: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.study_id,
            "split": self.split,
            "labels": self.labels,
            "has_gaze": self.gaze is not None,
            "image_path": self.image_path,
        }


class StudySource(Protocol):
    def __len__(self) -> int: ...

    def studies(self) -> Sequence[CohortStudy]: ...

    def get(self, study_id: str) -> CohortStudy | None: ...


class StudyList:
    """A fixed list of studies (what :func:`load_cohort` returns)."""

    def __init__(self, studies: Sequence[CohortStudy]) -> None:
        self._studies = list(studies)
        self._by_id = {s.study_id: s for s in self._studies}

    def __len__(self) -> int:
        return len(self._studies)

    def studies(self) -> Sequence[CohortStudy]:
        return self._studies

    def get(self, study_id: str) -> CohortStudy | None:
        return self._by_id.get(study_id)


def load_cohort(
    run_dir: str | Path, data_root: str | Path, split: str = "test", limit: int = 50
) -> StudyList:
    """Read up to ``limit`` readings of ``split`` from ``data_root`` with the run's data settings."""
    raise NotImplementedError  # filled in once gazecxr.data lands
