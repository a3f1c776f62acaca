"""Cohort studies the viewer can offer next to uploads (with radiologist gaze and reference report)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gazecxr.data.images import Radiograph
from gazecxr.data.reports import reference_report
from gazecxr.prediction import Box


@dataclass
class CohortStudy:
    """One reading of a cohort, ready to display."""

    study_id: str  # the reading id (a dicom can have several readings, each with its own gaze)
    image_path: str
    gaze: np.ndarray | None  # fixation density on the image grid, or None without usable gaze
    anatomy_boxes: dict[str, Box] = field(default_factory=dict)
    reference_report: str = ""
    labels: list[str] = field(default_factory=list)  # ground-truth positive labels
    split: str = ""
    _radiograph: Radiograph | None = field(default=None, repr=False)  # read on first use, then kept

    def radiograph(self, read: Callable[[Path, str | None], Radiograph]) -> Radiograph:
        """The study's image read by ``read`` (an ``Analyzer.read``); named by its file name only,
        so no server path reaches a client."""
        if self._radiograph is None:
            self._radiograph = read(Path(self.image_path), Path(self.image_path).name)
        return self._radiograph

    def summary(self) -> dict[str, Any]:
        """What a client may see of the study (no server paths)."""
        return {
            "id": self.study_id,
            "split": self.split,
            "labels": self.labels,
            "has_gaze": self.gaze is not None,
            "image": Path(self.image_path).name,
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
    """Up to ``limit`` readings of ``split`` in ``data_root``, read with the run's data settings
    (label set, gaze heatmap parameters, image size of the gaze grid)."""
    from gazecxr.config import load_config
    from gazecxr.data import build_datasets
    from gazecxr.data.labels import positive_labels

    cfg = load_config(Path(run_dir) / "config.yaml")
    datasets = build_datasets(cfg, root=data_root)
    if split not in datasets:
        raise ValueError(f"{data_root}: no split {split!r} (available: {', '.join(datasets)})")
    dataset = datasets[split]
    studies = []
    for i in range(min(limit, len(dataset))):
        sample = dataset[i]
        if "skipped" in sample:  # unreadable image (logged by the dataset): not offered
            continue
        meta = sample["meta"]
        studies.append(
            CohortStudy(
                study_id=str(meta["reading_id"]),
                image_path=str(meta["image_path"]),
                gaze=sample["gaze_heatmap"].numpy() if bool(sample["gaze_valid"]) else None,
                anatomy_boxes=dict(sample["anatomy_boxes"]),
                reference_report=reference_report(str(meta["image_path"]), str(meta["study_id"])),
                labels=positive_labels(sample, dataset.label_names),
                split=split,
            )
        )
    return StudyList(studies)
