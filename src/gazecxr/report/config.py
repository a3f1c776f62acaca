"""Configuration of Stage-2 report generation."""

from __future__ import annotations

from typing import Literal

from gazecxr.config import Section


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
