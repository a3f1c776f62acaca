"""The study report: one self-contained HTML file (figures embedded as base64 PNG, no scripts,
no external resources), so it opens offline and can be mailed or archived with a run.

Sections (each an element with a stable id, checked by the browser test): ``#summary``,
``#metrics`` (per-class and macro metrics with 95% CIs), ``#roc`` (per-class ROC curves),
``#ablation`` (variant comparison chart), ``#studies`` (one row of panels per test study with the
generated report beside the reference report, matching terms highlighted), ``#provenance``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gazecxr.demo.figures import ablation_figure, numbered_regions, roc_figure, study_figure
from gazecxr.prediction import Box
from gazecxr.report.overlay import data_url

Estimate = tuple[float, float | None, float | None]  # value, CI low, CI high


@dataclass
class VariantResult:
    """Test-set results of one trained variant."""

    name: str
    run: str
    macro: dict[str, Estimate | None]  # e.g. auroc, f1, attention_cc
    per_class: dict[str, dict[str, Estimate | None]]  # label -> metric -> estimate
    roc: dict[str, tuple[np.ndarray, np.ndarray, float]] = field(
        default_factory=dict
    )  # label -> fpr, tpr, auc
    notes: list[str] = field(default_factory=list)


@dataclass
class StudyRow:
    """One test study as shown in the report."""

    study_id: str
    image: np.ndarray
    gaze: np.ndarray | None
    attentions: dict[str, np.ndarray]  # variant -> attention grid
    boxes: dict[str, Box]
    truth: list[str]  # ground-truth positive labels
    predicted: list[str]  # positive labels of the gaze model at its thresholds
    hits: dict[str, list[str]]  # region -> findings placed there by the report
    generated_report: str
    reference_report: str
    writer: str = "template"  # report writer that wrote generated_report


@dataclass
class StudyReport:
    title: str
    labels: list[str]
    variants: list[VariantResult]
    studies: list[StudyRow]
    facts: dict[str, object]  # cohort facts, timings, commands (shown as a table)
    verdict: list[str]  # plain sentences: is the gaze model ahead, and if not, why that may be
    synthetic: bool = True


MACRO_METRICS: tuple[tuple[str, str], ...] = (
    ("auroc", "macro AUROC"),
    ("f1", "macro F1"),
    ("attention_cc", "attention-gaze CC"),
)
CLASS_METRICS: tuple[tuple[str, str], ...] = (("auroc", "AUROC"), ("f1", "F1"))

_STOP = frozenset(
    """a an and are as at be been by for from has have in into is it its of on or that the
there this to was were with without no not any seen noted there is are findings impression
examination indication technique comparison report final""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z-]+")


def _term(word: str) -> str | None:
    """Comparison key of a word (lower-cased, plural s removed), or None for stop words."""
    word = word.lower()
    if len(word) <= 2 or word in _STOP:
        return None
    plural = (
        len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "is", "us"))
    )  # not "atelectasis"
    return word[:-1] if plural else word


def content_terms(text: str) -> set[str]:
    """Comparison keys of the content words of a report (stop words and section names removed)."""
    return {t for w in _WORD.findall(text) if (t := _term(w)) is not None}


def highlight(text: str, terms: set[str]) -> str:
    """HTML-escape ``text`` and wrap every word whose key is in ``terms`` in ``<mark>``."""
    out, last = [], 0
    for m in _WORD.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        word = html.escape(m.group(0))
        out.append(f"<mark>{word}</mark>" if _term(m.group(0)) in terms else word)
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def fmt(est: Estimate | None, digits: int = 3) -> str:
    if est is None or est[0] is None or not np.isfinite(est[0]):
        return "<td class='na'>n/a</td>"
    value, lo, hi = est
    ci = "" if lo is None or hi is None else f" <span class='ci'>[{lo:.{digits}f}, {hi:.{digits}f}]</span>"
    return f"<td class='num'>{value:.{digits}f}{ci}</td>"


def _img(png: bytes, alt: str, cls: str = "fig") -> str:
    return f"<img class='{cls}' alt='{html.escape(alt, quote=True)}' src='{data_url(png)}'>"


def _metrics_section(report: StudyReport) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in MACRO_METRICS)
    rows = "".join(
        f"<tr><th>{html.escape(v.name)}</th>{''.join(fmt(v.macro.get(k)) for k, _ in MACRO_METRICS)}"
        f"<td><code>{html.escape(v.run)}</code></td></tr>"
        for v in report.variants
    )
    per_head = "".join(
        f"<th colspan='{len(CLASS_METRICS)}'>{html.escape(v.name)}</th>" for v in report.variants
    )
    per_sub = "".join(f"<th>{label}</th>" for _ in report.variants for _, label in CLASS_METRICS)
    per_rows = "".join(
        f"<tr><th>{html.escape(lbl)}</th>"
        + "".join(fmt(v.per_class.get(lbl, {}).get(k)) for v in report.variants for k, _ in CLASS_METRICS)
        + "</tr>"
        for lbl in report.labels
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for v in report.variants for n in v.notes)
    return f"""<section id="metrics"><h2>Test-set metrics</h2>
<p>Point estimates with 95% bootstrap confidence intervals in brackets (resampled over patients).
F1 at the decision thresholds chosen on the validation split. Attention-gaze CC: Pearson correlation
between the model's attention map and the radiologists' fixation density, on test readings with gaze.</p>
<table class="metrics"><thead><tr><th>variant</th>{head}<th>run directory</th></tr></thead><tbody>{rows}</tbody></table>
<h3>Per class</h3>
<table class="metrics per-class"><thead><tr><th rowspan="2">label</th>{per_head}</tr><tr>{per_sub}</tr></thead>
<tbody>{per_rows}</tbody></table>{f"<ul class='notes'>{notes}</ul>" if notes else ""}</section>"""


def _studies_section(report: StudyReport) -> str:
    rows = []
    for s in report.studies:
        fig = study_figure(s.image, s.gaze, s.attentions, s.boxes, s.hits)
        numbers = numbered_regions(s.hits)
        regions = "".join(
            f"<li value='{n}'>{html.escape(r)}: {html.escape(', '.join(s.hits[r]))}</li>"
            for r, n in numbers.items()
        )
        shared = content_terms(s.generated_report) & content_terms(s.reference_report)
        sid = html.escape(s.study_id, quote=True)
        rows.append(f"""<article class="study" id="study-{sid}">
<h3>{html.escape(s.study_id)}</h3>
<p class="labels">Ground truth: <b>{html.escape(", ".join(s.truth) or "no finding")}</b>.
Gaze model at its thresholds: <b>{html.escape(", ".join(s.predicted) or "no finding")}</b>.</p>
{_img(fig, f"panels of study {s.study_id}", "panels")}
<ol class="regions">{regions or "<li class='none'>no finding placed in a region</li>"}</ol>
<div class="reports"><div><h4>Generated report (gaze model, {html.escape(s.writer)} writer)</h4>
<pre class="generated">{highlight(s.generated_report, shared)}</pre></div>
<div><h4>Reference report (cohort)</h4>
<pre class="reference">{highlight(s.reference_report or "(no reference report)", shared)}</pre></div></div>
</article>""")
    return f"""<section id="studies"><h2>Test studies</h2>
<p>Per study: the radiograph; where the simulated radiologist looked (fixation density, cividis);
where each model looked (attention map, viridis; brighter = more attention); the anatomy boxes with
the regions to which the report assigned a finding highlighted in orange and numbered as in the list
below the panels. Below, the generated
report beside the reference report; <mark>highlighted</mark> words occur in both.</p>
{"".join(rows)}</section>"""


def render(report: StudyReport) -> str:
    """The complete HTML document."""
    roc = roc_figure({v.name: v.roc for v in report.variants}, report.labels)
    ablation_rows = [{"name": v.name, **v.macro} for v in report.variants]
    ablation = ablation_figure(ablation_rows, MACRO_METRICS)
    facts = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in report.facts.items()
    )
    verdict = "".join(f"<p>{html.escape(line)}</p>" for line in report.verdict)
    banner = (
        (
            "<p class='banner'>SYNTHETIC DATA. Every image, gaze recording and report here was generated by "
            "<code>gazecxr synth</code>. These results demonstrate the mechanism (what gaze supervision changes "
            "in a model that can take a shortcut); they are not evidence about real radiographs or patients. "
            "Not a medical device.</p>"
        )
        if report.synthetic
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(report.title)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>{html.escape(report.title)}</h1>{banner}</header>
<section id="summary"><h2>Summary</h2>{verdict}
<table class="facts"><tbody>{facts}</tbody></table></section>
{_metrics_section(report)}
<section id="roc"><h2>ROC curves per class</h2>
<p>Test set, one panel per label; the legend gives each variant's AUROC for that label.</p>
{_img(roc, "ROC curves per class")}</section>
<section id="ablation"><h2>Variant comparison</h2>
<p>Macro AUROC, macro F1 and attention-gaze correlation per trained variant, with 95% CIs.</p>
{_img(ablation, "variant comparison chart")}</section>
{_studies_section(report)}
<footer id="provenance"><p>Generated by GazeCXR. Each run directory holds its config.yaml, run.json
(seed, versions, git revision, command line) and metrics.json.</p></footer>
</body></html>
"""


def write(report: StudyReport, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(render(report), encoding="utf-8")
    return path


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1f24;margin:0 auto;max-width:1400px;padding:0 1.2rem 2rem}
h1{font-size:1.5rem;margin:1rem 0 .4rem}h2{font-size:1.2rem;border-bottom:1px solid #d6dae0;padding-bottom:.2rem;margin-top:1.8rem}
h3{font-size:1rem;margin:1rem 0 .3rem}h4{font-size:.9rem;margin:.3rem 0}
.banner{background:#fff6e0;border:1px solid #f0dca8;padding:.5rem .8rem;border-radius:4px}
table{border-collapse:collapse;font-size:.9rem;margin:.4rem 0}th,td{border-bottom:1px solid #d6dae0;padding:.25rem .6rem;text-align:left}
td.num{font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}.ci{color:#5b6470;font-size:.85em}td.na{color:#999}
img.fig{max-width:100%;height:auto;border:1px solid #eee}img.panels{max-width:100%;height:auto}
.study{border:1px solid #d6dae0;border-radius:6px;padding:.5rem .8rem;margin:1rem 0}
.reports{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
pre{white-space:pre-wrap;background:#f6f7f9;border:1px solid #d6dae0;padding:.5rem;border-radius:4px;font-size:.85rem}
mark{background:#fde725;padding:0 1px}.labels{margin:.2rem 0}
ol.regions{font-size:.88rem;margin:.2rem 0 .5rem;columns:2}li.none{list-style:none;color:#5b6470}footer{margin-top:2rem;color:#5b6470;font-size:.85rem}
@media (max-width:900px){.reports{grid-template-columns:1fr}}
"""
