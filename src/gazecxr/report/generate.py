"""Stage 2 end to end: Prediction -> keywords with certainty -> regions -> sentences -> Report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gazecxr.prediction import Prediction
from gazecxr.report.config import ReportConfig
from gazecxr.report.regions import assign_regions, box_masses, region_evidence
from gazecxr.report.writers import ReportPlan, Sentence, StatedFinding, TemplateWriter, Writer
from gazecxr.schema import ConfigError
from gazecxr.vocab.dictionary import Dictionary, load_dictionary

log = logging.getLogger("gazecxr.report")


@dataclass
class Report:
    """A written report.

    Attributes:
        findings: stated findings (certainty, regions, probabilities, region scores).
        negatives: findings stated as confidently absent.
        sentences: every sentence with its section and source.
        writer: "template" or "llm".
        anatomy_source: where the region boxes came from ("dataset", "model", "atlas", "none", "oracle").
        region_sources: region -> where its box came from (``Anatomy.sources``: "dataset", "model",
            "lung-anchored", "atlas"); a finding placed in a ``lung-anchored`` region says so.
        region_mass: attention mass in each anatomy box (empty without attention or boxes).
        skipped_labels: labels of the prediction the dictionary does not know (not reported).
        cutpoints: the certainty cut-points used (level -> lowest probability).
    """

    findings: list[StatedFinding]
    negatives: list[str]
    sentences: list[Sentence]
    writer: str
    anatomy_source: str
    region_mass: dict[str, float] = field(default_factory=dict)
    region_sources: dict[str, str] = field(default_factory=dict)
    skipped_labels: list[str] = field(default_factory=list)
    dictionary_version: int = 1
    cutpoints: dict[str, float] = field(default_factory=dict)

    def _section(self, section: str) -> str:
        return " ".join(s.text for s in self.sentences if s.section == section)

    @property
    def findings_text(self) -> str:
        return self._section("findings")

    @property
    def impression_text(self) -> str:
        return self._section("impression")

    @property
    def text(self) -> str:
        return f"FINDINGS: {self.findings_text}\n\nIMPRESSION: {self.impression_text}"

    def anchored_regions(self, finding: StatedFinding) -> list[str]:
        """The regions of ``finding`` whose box was placed from the lungs, not found by the model."""
        return [r for r in finding.regions if self.region_sources.get(r) == "lung-anchored"]

    @property
    def anatomy_notes(self) -> list[str]:
        """One line per stated finding placed in a region the localiser did not find itself."""
        return [
            f"{f.name}: {', '.join(rs)} placed from the lungs (the localiser's own box was implausible)"
            for f in self.findings
            if (rs := self.anchored_regions(f))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings_text": self.findings_text,
            "impression_text": self.impression_text,
            "writer": self.writer,
            "anatomy_source": self.anatomy_source,
            "findings": [
                {
                    "name": f.name,
                    "certainty": f.certainty,
                    "probability": f.probability,
                    "threshold": f.threshold,
                    "regions": list(f.regions),
                    "region_sources": {
                        r: self.region_sources[r] for r in f.regions if r in self.region_sources
                    },
                    "region_mass": {r: self.region_mass[r] for r in f.region_scores if r in self.region_mass},
                    "region_scores": f.region_scores,
                }
                for f in self.findings
            ],
            "negatives": self.negatives,
            "sentences": [s.to_dict() for s in self.sentences],
            "region_mass": self.region_mass,
            "anatomy_notes": self.anatomy_notes,
            "skipped_labels": self.skipped_labels,
            "dictionary_version": self.dictionary_version,
            "cutpoints": self.cutpoints,
        }


def dictionary_for(cfg: ReportConfig) -> Dictionary:
    """The configured dictionary with the configured cut-points applied.

    Raises:
        ConfigError: ``report.mention_min_certainty`` or a ``report.cutpoints`` key is not a level of
            the scale, or the cut-points decrease along it.
    """
    d = load_dictionary(cfg.dictionary)
    levels = [lv.name for lv in d.certainty]
    if cfg.mention_min_certainty not in levels:
        raise ConfigError(
            f"report.mention_min_certainty: {cfg.mention_min_certainty!r} is not one of {levels}"
        )
    try:
        return d.with_cutpoints(cfg.cutpoints) if cfg.cutpoints else d
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"report.cutpoints: {exc}") from None


def _lungs_clear(stated: list[str], negatives: list[str], universe: list[str], d: Dictionary) -> bool:
    """Lungs are called clear only when every parenchymal finding of the input is confidently absent."""
    parenchymal = [n for n in universe if d.findings[n].parenchymal]
    return (
        bool(parenchymal)
        and not any(d.findings[n].parenchymal for n in stated)
        and set(parenchymal) <= set(negatives)
    )


def plan_from_prediction(
    prediction: Prediction,
    cfg: ReportConfig,
    dictionary: Dictionary,
    evidence: dict[str, dict[str, float]],
) -> tuple[ReportPlan, list[str]]:
    """Keywords of a prediction: stated findings with certainty and regions, confident negatives.

    The report follows the classifier's decision: a finding is stated exactly when its
    probability reaches its decision threshold (chosen on validation), so the report, the
    ``positive`` list and the viewer's calls agree. Its certainty phrase is the level of its
    probability on the (calibrated) scale, raised to at least ``cfg.mention_min_certainty``
    ("possibly" by default, the lowest level REFLACX counts as present) so that a positive call is
    never phrased as an absence; the probability itself is kept unchanged in the plan. A finding
    is a confident negative when its probability is below ``cfg.negative_below``.

    ``evidence`` maps each label to its region -> attention evidence (:func:`generate_report`
    builds it from the label's own attention map, or from the shared map for every label); a label
    without an entry gets its regions from the priors alone.

    Returns:
        the plan and the labels the dictionary does not know (skipped).
    """
    probs = np.asarray(prediction.probabilities, dtype=float)
    thresholds = np.asarray(prediction.thresholds, dtype=float)
    if probs.shape != (len(prediction.labels),) or thresholds.shape != probs.shape:
        raise ValueError(
            f"prediction has {len(prediction.labels)} labels but probabilities {probs.shape} "
            f"and thresholds {thresholds.shape}"
        )
    floor = dictionary.level(cfg.mention_min_certainty)
    stated: list[StatedFinding] = []
    negatives: list[str] = []
    skipped: list[str] = []
    known: list[str] = []
    for name, p, t in zip(prediction.labels, probs, thresholds, strict=False):
        entry = dictionary.findings.get(name)
        if entry is None:
            skipped.append(name)
            continue
        known.append(name)
        if p >= t:
            level = dictionary.certainty_for(float(p))
            if level is None or level.rank < floor.rank:
                level = floor  # positive decision: never phrased as an absence
            regions, scores = (
                assign_regions(entry, evidence.get(name, {}), cfg.bilateral_ratio)
                if entry.locate
                else ((), {})
            )
            stated.append(StatedFinding(name, level.name, regions, float(p), float(t), scores))
        elif p < cfg.negative_below:
            negatives.append(name)
    stated.sort(key=lambda f: -(f.probability or 0.0))
    clear = _lungs_clear([f.name for f in stated], negatives, known, dictionary)
    return ReportPlan(stated, negatives, clear), skipped


def plan_from_findings(
    findings: dict[str, tuple[str, ...]],
    universe: list[str],
    dictionary: Dictionary,
    certainty: str | None = None,
) -> ReportPlan:
    """Plan from a known finding set (oracle input, e.g. IU MeSH): every finding of ``findings`` stated
    at ``certainty`` (default: the top level) with its given regions, every other finding of
    ``universe`` a confident negative."""
    level = certainty or dictionary.certainty[-1].name
    stated = [
        StatedFinding(n, level, tuple(sorted(r)) if dictionary.findings[n].locate else ())
        for n, r in findings.items()
    ]
    negatives = [n for n in universe if n not in findings]
    return ReportPlan(stated, negatives, _lungs_clear(list(findings), negatives, universe, dictionary))


def make_writer(cfg: ReportConfig) -> Writer:
    if cfg.writer == "llm":
        from gazecxr.report.llm import LLMWriter  # imports openai only when asked for

        return LLMWriter(cfg.llm, seed=cfg.seed)
    return TemplateWriter(seed=cfg.seed)


def write_report(
    plan: ReportPlan,
    cfg: ReportConfig,
    dictionary: Dictionary | None = None,
    writer: Writer | None = None,
    anatomy_source: str = "oracle",
) -> Report:
    """Write a plan with the configured writer (no classifier involved)."""
    d = dictionary or dictionary_for(cfg)
    w = writer or make_writer(cfg)
    return Report(
        plan.findings,
        plan.negatives,
        w.write(plan, d),
        w.name,
        anatomy_source,
        dictionary_version=d.version,
        cutpoints=d.cutpoints,
    )


def generate_report(
    prediction: Prediction, cfg: ReportConfig | None = None, writer: Writer | None = None
) -> Report:
    """Region-aware report for one prediction.

    Args:
        prediction: Stage-1 output (probabilities, thresholds, attention ``(h, w)``, and its
            ``anatomy``, located beforehand: ``gazecxr.anatomy.localiser.find_anatomy``).
        cfg: report configuration (default: :class:`ReportConfig` defaults).
        writer: a writer instance (default: from ``cfg.writer``).
    """
    cfg = cfg or ReportConfig()
    d = dictionary_for(cfg)
    boxes, source = prediction.anatomy.boxes, prediction.anatomy.source
    if not boxes:
        log.warning(
            "no anatomy boxes and no image for %s: findings are reported without regions",
            prediction.image_path or "the prediction",
        )
        source = "none"
    masses = box_masses(prediction.attention, boxes) if boxes else {}
    shared = region_evidence(masses, boxes, cfg.region_evidence)
    # With per-label maps each finding is placed by its own map: where the model looked for *it*.
    evidence = {
        name: shared
        if prediction.class_attention is None or not boxes
        else region_evidence(box_masses(prediction.attention_for(name), boxes), boxes, cfg.region_evidence)
        for name in prediction.labels
    }
    plan, skipped = plan_from_prediction(prediction, cfg, d, evidence)
    if skipped:
        log.info("labels not in the report dictionary (not reported): %s", ", ".join(skipped))
    return replace(
        write_report(plan, cfg, d, writer, source),
        region_mass=masses,
        region_sources=dict(prediction.anatomy.sources),
        skipped_labels=skipped,
    )
