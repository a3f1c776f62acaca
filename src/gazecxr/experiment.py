"""The top-level experiment configuration: one section per package (see :mod:`gazecxr.config`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from gazecxr.data.config import DataConfig
from gazecxr.gaze.config import GazeConfig
from gazecxr.losses.config import LossConfig
from gazecxr.models.config import ModelConfig
from gazecxr.report.config import ReportConfig
from gazecxr.schema import CONFIG_VERSION, Section
from gazecxr.train.config import EvalConfig, TrainConfig


class ExperimentConfig(Section):
    version: int = Field(CONFIG_VERSION, description="config schema version")
    name: str = "experiment"
    seed: int = 0
    data: DataConfig = DataConfig()
    gaze: GazeConfig = GazeConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _dictation_target_needs_its_maps(self) -> ExperimentConfig:
        if self.loss.gaze.enabled and self.loss.gaze.target == "dictation":
            if not self.gaze.dictation_maps:
                raise ValueError("loss.gaze.target=dictation needs gaze.dictation_maps=true")
            if self.gaze.phase == "silent":
                raise ValueError(
                    "loss.gaze.target=dictation uses the fixations made while dictating, which "
                    "gaze.phase=silent removes; use gaze.phase=all or reporting"
                )
            if self.model.backbone == "vit" or self.model.attention != "per_class":
                raise ValueError(
                    "loss.gaze.target=dictation needs one attention map per label: "
                    "model.attention=per_class with a CNN backbone (efficientnet_lite0, densenet121)"
                )
        return self
