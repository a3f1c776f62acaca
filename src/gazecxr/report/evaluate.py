"""Report evaluation on Indiana University reports (ORACLE input from MeSH) against real FINDINGS text.

Systems compared on the same evaluation reports:

- ``template`` (and ``llm`` when asked): writers fed the MeSH-derived findings and locations.
- ``keyword_list``: the paper's baseline, the input keywords as a comma-separated list.
- ``retrieval``: the real FINDINGS text of the retrieval-corpus report with the closest finding set
  (Jaccard of finding sets, ties broken by Jaccard of finding-region pairs, then the lowest uid).

When the evaluation and retrieval files are the same file, reports are split deterministically by
uid (``uid % 3 == 0`` evaluation, the rest retrieval corpus), so a report is never retrieved for
itself; with separate files, reports sharing a uid with the evaluated one are excluded anyway.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from gazecxr.metrics.report import (
    BERTSCORE_NOTE,
    bertscore_f1,
    f1_from_sets,
    hallucination_rate,
    keyword_recall_precision,
    label_f1,
    rouge_scores,
)
from gazecxr.report.config import ReportConfig
from gazecxr.report.generate import dictionary_for, make_writer, plan_from_findings, write_report
from gazecxr.report.iu import IUReport, covered_findings, read_iu_reports
from gazecxr.report.writers import StatedFinding, finding_phrase
from gazecxr.vocab.dictionary import Dictionary
from gazecxr.vocab.labeler import label_report

log = logging.getLogger("gazecxr.report")

ORACLE_NOTE = (
    "ORACLE input: the findings and locations given to every system come from the human MeSH "
    "indexing of each report, not from a classifier; these numbers measure the writing stage only."
)
SPLIT_NOTE = "same file for reports and corpus: evaluation = uid % 3 == 0, retrieval corpus = the other uids"
METRIC_KEYS = (
    "rouge_1",
    "rouge_2",
    "rouge_l",
    "bertscore_f1",
    "keyword_recall",
    "keyword_precision",
    "label_f1_micro",
    "hallucination_rate",
    "n_reports",
)


def keyword_list(findings: dict[str, tuple[str, ...]], d: Dictionary) -> str:
    """The keyword-list baseline: "Cardiomegaly, bibasilar atelectasis." ("No finding." when empty)."""
    if not findings:
        return "No finding."
    phrases = [finding_phrase(StatedFinding(n, d.certainty[-1].name, r), d)[0] for n, r in findings.items()]
    text = ", ".join(phrases)
    return text[:1].upper() + text[1:] + "."


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


class Retriever:
    """Nearest report by finding set (see module docstring); never returns a report of the same uid."""

    def __init__(self, corpus: list[IUReport]) -> None:
        self.by_set: dict[frozenset[str], list[IUReport]] = defaultdict(list)
        for r in sorted(corpus, key=lambda r: r.uid):
            if r.findings:
                self.by_set[frozenset(r.oracle)].append(r)
        if not self.by_set:
            raise ValueError("the retrieval corpus has no report with FINDINGS text")

    def retrieve(self, query: IUReport) -> IUReport:
        q = set(query.oracle)
        pairs = {(n, reg) for n, regs in query.oracle.items() for reg in regs}
        best: tuple[float, float, int] | None = None
        found: IUReport | None = None
        for key, reports in self.by_set.items():
            s = _jaccard(q, set(key))
            if best is not None and s < best[0]:
                continue
            for r in reports:
                if r.uid == query.uid:
                    continue
                score = (
                    s,
                    _jaccard(pairs, {(n, reg) for n, regs in r.oracle.items() for reg in regs}),
                    -r.uid,
                )
                if best is None or score > best:
                    best, found = score, r
        assert found is not None  # the corpus holds at least one report with another uid
        return found


def score_system(
    generated: list[str], reports: list[IUReport], d: Dictionary, bertscore_model: str | None
) -> dict[str, float]:
    refs = [r.findings for r in reports]
    recall, precision = keyword_recall_precision(generated, [list(r.oracle) for r in reports], d)
    labels = label_f1(generated, refs, covered_findings(d), d)
    out = {
        **rouge_scores(generated, refs),
        "bertscore_f1": bertscore_f1(generated, refs, bertscore_model)
        if bertscore_model != "none"
        else float("nan"),
        "keyword_recall": recall,
        "keyword_precision": precision,
        "label_f1_micro": labels["micro_f1"],
        "hallucination_rate": hallucination_rate(generated, [r.oracle for r in reports], d),
        "n_reports": len(reports),
    }
    return {k: out[k] for k in METRIC_KEYS}


def labeler_vs_mesh(reports: list[IUReport], d: Dictionary) -> dict[str, Any]:
    """Labeler (present mentions in FINDINGS + IMPRESSION) against MeSH on the covered findings."""
    covered = covered_findings(d)
    pred = [{f.name for f in label_report(r.text, d) if f.status == "present"} for r in reports]
    res = f1_from_sets(pred, [set(r.oracle) for r in reports], covered)
    return {
        "micro_f1": res["micro_f1"],
        "macro_f1": res["macro_f1"],
        "per_finding": res["per_finding"],
        "n_reports": len(reports),
        "findings": covered,
    }


def split_reports(
    reports: list[IUReport], corpus: list[IUReport], same_file: bool
) -> tuple[list[IUReport], list[IUReport]]:
    if same_file:
        return [r for r in reports if r.uid % 3 == 0], [r for r in reports if r.uid % 3 != 0]
    return reports, corpus


def report_eval(
    reports_csv: str | Path,
    corpus_csv: str | Path,
    writers: tuple[str, ...] = ("template",),
    cfg: ReportConfig | None = None,
    bertscore_model: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Evaluate the systems (module docstring) and the labeler; returns the JSON-ready result.

    Args:
        reports_csv / corpus_csv: ``indiana_reports.csv``-format files (may be the same file).
        writers: writers to evaluate ("template", "llm").
        bertscore_model: local model folder; None = offline MiniLM; "none" skips BERTScore.
        limit: evaluate only the first ``limit`` evaluation reports (by uid), for quick runs.
    """
    cfg = cfg or ReportConfig()
    d = dictionary_for(cfg)
    same = Path(reports_csv).resolve() == Path(corpus_csv).resolve()
    all_reports = read_iu_reports(reports_csv, d)
    corpus_reports = all_reports if same else read_iu_reports(corpus_csv, d)
    evaluated, corpus = split_reports(all_reports, corpus_reports, same)
    evaluated = sorted((r for r in evaluated if r.findings), key=lambda r: r.uid)[:limit]
    if not evaluated:
        raise ValueError(f"{reports_csv}: no evaluation report with FINDINGS text")
    universe = covered_findings(d)
    outputs: dict[str, list[str]] = {}
    for name in writers:
        wcfg = cfg.model_copy(update={"writer": name})
        writer = make_writer(wcfg)
        outputs[name] = [
            write_report(plan_from_findings(r.oracle, universe, d), wcfg, d, writer).findings_text
            for r in evaluated
        ]
    outputs["keyword_list"] = [keyword_list(r.oracle, d) for r in evaluated]
    retriever = Retriever(corpus)
    outputs["retrieval"] = [retriever.retrieve(r).findings for r in evaluated]
    examples = _example_indices(evaluated)
    systems = {name: score_system(texts, evaluated, d, bertscore_model) for name, texts in outputs.items()}
    return {
        "note": ORACLE_NOTE,
        "bertscore_note": (
            BERTSCORE_NOTE if bertscore_model is None else f"BERTScore model: {bertscore_model}"
        ),
        "reference": "FINDINGS section of each evaluation report",
        "split": SPLIT_NOTE if same else "separate files; same-uid reports excluded from retrieval",
        "reports_csv": str(reports_csv),
        "corpus_csv": str(corpus_csv),
        "n_evaluation": len(evaluated),
        "n_corpus": len(corpus),
        "dictionary_version": d.version,
        "systems": systems,
        "labeler": labeler_vs_mesh(all_reports, d),
        # Fixed, not chosen by score: the first evaluation report without findings and the first four with two or more.
        "examples": [
            {
                "uid": r.uid,
                "mesh": r.mesh,
                "reference": r.findings,
                **{name: texts[i] for name, texts in outputs.items()},
            }
            for i, r in enumerate(evaluated)
            if i in examples
        ],
    }


def _example_indices(reports: list[IUReport]) -> set[int]:
    normal = [i for i, r in enumerate(reports) if not r.oracle][:1]
    abnormal = [i for i, r in enumerate(reports) if len(r.oracle) >= 2][:4]
    return set(normal + abnormal)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def markdown_table(result: dict[str, Any]) -> str:
    """Markdown rendering of :func:`report_eval` output (systems table, labeler table)."""
    lines = [
        f"> {result['note']}",
        f"> {result['bertscore_note']}",
        "",
        f"Evaluation reports: {result['n_evaluation']}; retrieval corpus: {result['n_corpus']} ({result['split']}).",
        "",
        "| system | " + " | ".join(METRIC_KEYS) + " |",
        "|---" * (len(METRIC_KEYS) + 1) + "|",
    ]
    for name, row in result["systems"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row[k]) for k in METRIC_KEYS) + " |")
    lab = result["labeler"]
    lines += [
        "",
        f"Labeler vs MeSH ({lab['n_reports']} reports, present mentions in FINDINGS + IMPRESSION): "
        f"micro F1 {_fmt(lab['micro_f1'])}, macro F1 {_fmt(lab['macro_f1'])}",
        "",
        "| finding | F1 | TP | FP | FN |",
        "|---|---|---|---|---|",
    ]
    for name, row in lab["per_finding"].items():
        lines.append(f"| {name} | {_fmt(row['f1'])} | {row['tp']} | {row['fp']} | {row['fn']} |")
    return "\n".join(lines) + "\n"


def _finite(obj: Any) -> Any:
    """NaN (undefined metric) -> None, so the file is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def write_results(result: dict[str, Any], json_path: str | Path) -> Path:
    """Write the JSON and the markdown table beside it (same name, ``.md``); returns the table path."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(_finite(result), indent=2), encoding="utf-8")
    md = json_path.with_suffix(".md")
    md.write_text(markdown_table(result), encoding="utf-8")
    return md
