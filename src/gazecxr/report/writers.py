"""Report plans and the deterministic template writer.

A :class:`ReportPlan` is everything a writer may use: the findings to state (name, certainty level,
regions), the confident absences, and whether the lungs may be called clear. Writers turn it into
:class:`Sentence` objects; the template writer is offline and deterministic: the wording of each
sentence is drawn from the dictionary's frames by a random generator seeded with a hash of that
sentence's content (and ``seed``), so reports vary between findings but are reproducible.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from gazecxr.report.regions import describe_location
from gazecxr.vocab.dictionary import Dictionary


@dataclass
class StatedFinding:
    """A finding the report states.

    Attributes:
        name: dictionary finding name.
        certainty: certainty level name (e.g. "possibly", "consistent with").
        regions: assigned regions (sorted; empty = no location stated).
        probability: classifier probability in [0, 1]; None for oracle input.
        threshold: the run's decision threshold; None for oracle input.
        region_scores: candidate region -> attention mass x prior (empty for oracle input).
    """

    name: str
    certainty: str
    regions: tuple[str, ...] = ()
    probability: float | None = None
    threshold: float | None = None
    region_scores: dict[str, float] = field(default_factory=dict)


@dataclass
class ReportPlan:
    findings: list[StatedFinding]
    negatives: list[str]
    lungs_clear: bool


@dataclass
class Sentence:
    """One written sentence: ``section`` "findings" or "impression"; ``source`` "template", "llm" or
    "template-fallback" (an LLM sentence was rejected or unavailable; ``reason`` says why)."""

    text: str
    section: str
    source: str
    findings: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "section": self.section,
            "source": self.source,
            "findings": self.findings,
            "reason": self.reason,
        }


class Writer(Protocol):
    name: str

    def write(self, plan: ReportPlan, dictionary: Dictionary) -> list[Sentence]:
        """Sentences of the FINDINGS and IMPRESSION sections for ``plan``."""
        ...


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def finding_phrase(item: StatedFinding, dictionary: Dictionary) -> tuple[str, str]:
    """(phrase, phrase with article) naming the finding with its location ("bibasilar atelectasis")."""
    entry = dictionary.findings[item.name]
    adjective, prep = describe_location(item.regions, dictionary) if entry.locate else ("", "")
    phrase = " ".join(p for p in (adjective, entry.noun, prep) if p)
    if entry.article:
        return phrase, ("an " if phrase[0] in "aeiou" else "a ") + phrase
    return phrase, phrase


def render(frame: str, item: StatedFinding, dictionary: Dictionary) -> str:
    phrase, with_article = finding_phrase(item, dictionary)
    verb = "are" if dictionary.findings[item.name].plural else "is"
    return frame.format(
        finding=phrase,
        Finding=_cap(phrase),
        a_finding=with_article,
        A_finding=_cap(with_article),
        **{"is": verb},
    )


def _rng(seed: int, *key: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, (seed, *key))).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _join(nouns: list[str]) -> str:
    return nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " or " + nouns[-1]


class TemplateWriter:
    """Deterministic sentences from the dictionary's frames (the default writer)."""

    name = "template"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def finding_sentence(self, item: StatedFinding, dictionary: Dictionary) -> Sentence:
        level = dictionary.level(item.certainty)
        frame = _rng(self.seed, item.name, item.certainty, item.regions).choice(level.frames)
        return Sentence(render(frame, item, dictionary), "findings", "template", [item.name])

    def write(self, plan: ReportPlan, dictionary: Dictionary) -> list[Sentence]:
        stated = sorted(f.name for f in plan.findings)
        out: list[Sentence] = []
        # Order of a radiologist's read: heart and mediastinum, lungs, pleura.
        for name in plan.negatives:
            options = dictionary.findings[name].negative_sentences
            if options:
                out.append(
                    Sentence(_rng(self.seed, name, "normal", stated).choice(options), "findings", "template")
                )
        out += [self.finding_sentence(item, dictionary) for item in plan.findings]
        if plan.lungs_clear:
            out.append(
                Sentence(
                    _rng(self.seed, "lungs", stated).choice(dictionary.normal["lungs_clear"]),
                    "findings",
                    "template",
                )
            )
        nouns = [
            dictionary.findings[n].negative_noun
            for n in plan.negatives
            if dictionary.findings[n].negative_noun
        ]
        if nouns:
            frame = _rng(self.seed, "negatives", stated).choice(dictionary.normal["negatives"])
            out.append(Sentence(_cap(frame.format(list=_join(nouns))), "findings", "template"))
        out += self.impression(plan, dictionary)
        return out

    def impression(self, plan: ReportPlan, dictionary: Dictionary) -> list[Sentence]:
        present_rank = min(lv.rank for lv in dictionary.certainty if lv.status != "negated")
        ranked = sorted(plan.findings, key=lambda f: -dictionary.level(f.certainty).rank)
        if not any(dictionary.level(f.certainty).rank >= present_rank for f in ranked):
            stated = sorted(f.name for f in plan.findings)
            text = _rng(self.seed, "impression", stated).choice(dictionary.normal["impression_normal"])
            return [Sentence(text, "impression", "template")]
        return [
            Sentence(
                render(dictionary.level(f.certainty).impression, f, dictionary),
                "impression",
                "template",
                [f.name],
            )
            for f in ranked
        ]
