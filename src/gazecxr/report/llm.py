"""LLM writer: finding sentences from any OpenAI-compatible chat-completions server, verified.

The request holds only finding names, certainty levels and region names from the dictionary's
vocabulary (checked by :func:`guard_items` before anything is sent): never an image, report text,
identifier or date. The answer must follow a JSON schema (one sentence per finding id). Each
sentence is read back with the labeler and rejected when it asserts a finding that was not given,
names a region that was not given, contradicts the finding, or states a higher certainty than
given; a rejected or missing sentence is replaced by the template sentence
(``source="template-fallback"`` with the reason). Normal statements, negatives and the impression
always come from the template writer.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from gazecxr.metrics.report import region_supported
from gazecxr.report.config import LLMConfig
from gazecxr.report.writers import ReportPlan, Sentence, StatedFinding, TemplateWriter
from gazecxr.vocab.dictionary import Dictionary
from gazecxr.vocab.labeler import label_report

log = logging.getLogger("gazecxr.report")

SYSTEM_PROMPT = (
    "You write the FINDINGS sentences of a chest radiograph report. You receive a JSON list of findings, "
    "each with an id, a finding name, a certainty level (unlikely < less likely < possibly < suspicious for "
    "< consistent with) and the anatomical regions where it is located. Write exactly one concise sentence "
    "per id in the style of a radiologist. Use only the given finding and regions, never any other finding, "
    "region, measurement or comparison; express the given certainty and never a stronger one. Answer with "
    "JSON that follows the schema."
)
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentences": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "text": {"type": "string"}},
                "required": ["id", "text"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["sentences"],
    "additionalProperties": False,
}


class PrivacyError(RuntimeError):
    """A request would carry something other than dictionary findings, certainties and regions."""


def request_items(plan: ReportPlan, dictionary: Dictionary) -> list[dict[str, Any]]:
    """The findings part of the request: id, finding noun, certainty, regions (nothing else)."""
    items = []
    for i, f in enumerate(plan.findings):
        entry = dictionary.findings[f.name]
        items.append(
            {
                "id": i,
                "finding": entry.noun,
                "certainty": f.certainty,
                "regions": list(f.regions) if entry.locate else [],
            }
        )
    return items


def guard_items(items: list[dict[str, Any]], dictionary: Dictionary) -> None:
    """Raise :class:`PrivacyError` unless every value is from the dictionary's closed vocabulary."""
    nouns = {f.noun for f in dictionary.findings.values()}
    levels = {lv.name for lv in dictionary.certainty}
    for item in items:
        if set(item) != {"id", "finding", "certainty", "regions"}:
            raise PrivacyError(
                f"request item has fields {sorted(item)}; only id, finding, certainty, regions are allowed"
            )
        if not isinstance(item["id"], int) or item["finding"] not in nouns or item["certainty"] not in levels:
            raise PrivacyError(f"request item {item!r} holds a value outside the dictionary vocabulary")
        if not all(r in dictionary.regions for r in item["regions"]):
            raise PrivacyError(f"request item {item!r} names a region outside the 17 regions")


def build_request(plan: ReportPlan, dictionary: Dictionary, model: str, temperature: float) -> dict[str, Any]:
    """The complete chat-completions request body (after the privacy guard)."""
    items = request_items(plan, dictionary)
    guard_items(items, dictionary)
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps({"findings": items})},
        ],
        "temperature": temperature,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "report_sentences", "strict": True, "schema": ANSWER_SCHEMA},
        },
    }


def verify_sentence(text: str, item: StatedFinding, dictionary: Dictionary) -> str | None:
    """Why an LLM sentence for ``item`` must be rejected, or None when it is faithful to the input."""
    if not isinstance(text, str) or not text.strip():
        return "empty sentence"
    labeled = {f.name: f for f in label_report(text, dictionary)}
    extra = [n for n, f in labeled.items() if n != item.name and f.asserted]
    if extra:
        return f"asserts findings that were not given: {', '.join(extra)}"
    own = labeled.get(item.name)
    if own is None:
        return f"does not state {dictionary.findings[item.name].noun}"
    given = dictionary.level(item.certainty)
    if own.status == "negated" and given.status != "negated":
        return f"negates a finding given as {item.certainty!r}"
    if own.certainty is not None and dictionary.level(own.certainty).rank > given.rank:
        return f"upgrades certainty from {item.certainty!r} to {own.certainty!r}"
    if dictionary.findings[item.name].locate:
        wrong = [r for r in own.regions if not region_supported(r, item.regions)]
        if wrong:
            return f"names regions that were not given: {', '.join(wrong)}"
    return None


def _settings(cfg: LLMConfig) -> tuple[str, str, str]:
    base_url = cfg.base_url or os.environ.get("GAZECXR_LLM_BASE_URL")
    model = cfg.model or os.environ.get("GAZECXR_LLM_MODEL")
    if not base_url or not model:
        raise ValueError(
            "the llm writer needs a server and a model: set report.llm.base_url and report.llm.model "
            "(or GAZECXR_LLM_BASE_URL and GAZECXR_LLM_MODEL)"
        )
    # Local servers (Ollama, vLLM, llama.cpp) accept any key; hosted APIs read it from the environment.
    return base_url, model, os.environ.get(cfg.api_key_env) or "not-needed"


class LLMWriter:
    """Writer that asks an OpenAI-compatible server for the finding sentences (see module docstring)."""

    name = "llm"

    def __init__(self, cfg: LLMConfig, seed: int = 0) -> None:
        from openai import OpenAI

        self.cfg = cfg
        base_url, self.model, key = _settings(cfg)
        self.client = OpenAI(base_url=base_url, api_key=key, timeout=cfg.timeout_s, max_retries=cfg.retries)
        self.template = TemplateWriter(seed=seed)

    def _ask(self, request: dict[str, Any]) -> tuple[dict[int, str], str | None]:
        """id -> sentence from the server, or ({}, reason) when no usable answer came back."""
        from openai import OpenAIError

        try:
            response = self.client.chat.completions.create(**request)
            answer = json.loads(response.choices[0].message.content or "")
            return {int(s["id"]): s["text"] for s in answer["sentences"]}, None
        except OpenAIError as exc:
            log.warning(
                "LLM writer: server unavailable after %d retries (%s); using template sentences",
                self.cfg.retries,
                type(exc).__name__,
            )
            return {}, f"server error: {type(exc).__name__}"
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("LLM writer: answer does not follow the schema (%s); using template sentences", exc)
            return {}, "answer does not follow the JSON schema"

    def write(self, plan: ReportPlan, dictionary: Dictionary) -> list[Sentence]:
        sentences = self.template.write(plan, dictionary)
        if not plan.findings:
            return sentences
        answers, failure = self._ask(build_request(plan, dictionary, self.model, self.cfg.temperature))
        index_of = {f.name: i for i, f in enumerate(plan.findings)}  # request id = position in the plan
        out = []
        for s in sentences:
            index = index_of.get(s.findings[0]) if s.section == "findings" and s.findings else None
            if index is None:
                out.append(s)
                continue
            item = plan.findings[index]
            text = answers.get(index)
            reason = failure or (
                verify_sentence(text, item, dictionary)
                if text is not None
                else "no sentence for this finding"
            )
            if reason is None:
                out.append(Sentence(text.strip(), "findings", "llm", [item.name]))
            else:
                out.append(Sentence(s.text, "findings", "template-fallback", [item.name], reason))
        return out
