"""Configuration of Stage-2 report generation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gazecxr.schema import Section


class LLMConfig(Section):
    base_url: str | None = None  # or env GAZECXR_LLM_BASE_URL
    model: str | None = None  # or env GAZECXR_LLM_MODEL
    api_key_env: str = "GAZECXR_LLM_API_KEY"
    timeout_s: float = 60.0
    retries: int = 2
    temperature: float = 0.0


class ReportConfig(Section):
    writer: Literal["template", "llm"] = "template"
    llm: LLMConfig = LLMConfig()
    negative_below: float = 0.1  # confident absence -> explicit negative statement
    dictionary: str | None = Field(None, description="path of a dictionary YAML (default: the shipped one)")
    cutpoints: dict[str, float] | None = Field(
        None,
        description="certainty level -> probability cut-point (from calibrate_cutpoints); default: dictionary",
    )
    mention_min_certainty: str = Field(
        "possibly", description="lowest certainty phrase of a stated (decision-positive) finding"
    )
    region_evidence: Literal["density", "mass"] = Field(
        "density", description="attention per box: mass / box area share (default) or raw mass"
    )
    bilateral_ratio: float = Field(
        0.6, ge=0.0, le=1.0, description="contralateral region added at this share of the best score"
    )
    seed: int = Field(0, description="varies the template wording reproducibly")
    anatomy_model: str | None = Field(
        None,
        description="anatomy localiser directory that places the 17 regions on images without their own "
        "boxes (gazecxr anatomy train --out; default: the shipped one); --anatomy-model overrides it",
    )
