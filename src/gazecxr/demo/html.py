"""The study report: one self-contained HTML file (figures embedded as base64 PNG, no scripts,
no external resources), so it opens offline and can be mailed or archived with a run.

The page leads with the answer. Sections (each an element with a stable id, checked by the
browser test): ``#summary`` (the verdict sentences: is the gaze-supervised model ahead, by how
much, with its paired CI), ``#seeds`` (every variant's metrics per seed, their mean and the paired
difference to the baseline), ``#per-class`` (per-label AUROC difference to the baseline), ``#roc``
(per-label ROC curves), ``#maps`` (test studies: the radiologist's gaze next to each positive
finding's own attention map, baseline vs gaze-supervised), then the details: ``#studies`` (panels
and generated vs reference report per study), ``#details`` (cohort, config, timings),
``#provenance``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.demo.figures import FindingMaps, finding_maps_figure, numbered_regions, roc_figure, study_figure
from gazecxr.prediction import Anatomy
from gazecxr.report.overlay import data_url

Estimate = tuple[float, float | None, float | None]  # value, CI low, CI high


@dataclass
class VariantPage:
    """One variant as the page shows it: its ``summary.json`` entry and seed 0's ROC curves."""

    name: str
    summary: dict[str, Any]  # demo.results.variant_summary
    roc: dict[str, tuple[np.ndarray, np.ndarray, float]] = field(
        default_factory=dict
    )  # label -> fpr, tpr, auc


@dataclass
class StudyRow:
    """One test study as shown in the report."""

    study_id: str
    image: np.ndarray
    gaze: np.ndarray | None
    attentions: dict[str, np.ndarray]  # variant -> attention grid
    anatomy: Anatomy  # the region boxes and where each came from
    truth: list[str]  # ground-truth positive labels
    predicted: list[str]  # positive labels of the gaze model at its thresholds
    hits: dict[str, list[str]]  # region -> findings placed there by the report
    generated_report: str
    reference_report: str
    writer: str = "template"  # report writer that wrote generated_report
    finding_maps: list[FindingMaps] = field(default_factory=list)


@dataclass
class StudyReport:
    title: str
    labels: list[str]
    variants: list[VariantPage]
    headline: str  # the gaze-supervised variant of the verdict
    baseline: str
    studies: list[StudyRow]
    facts: dict[str, object]  # cohort facts, timings, commands (shown as a table)
    verdict: list[str]  # plain sentences, the answer first
    synthetic: bool = True


# summary.json metric key -> column title
SEED_METRICS: tuple[tuple[str, str], ...] = (
    ("macro_auroc", "macro AUROC"),
    ("macro_f1", "macro F1"),
    ("attention_cc", "attention-gaze CC"),
    ("pointing_game", "pointing game"),
)

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


def _img(png: bytes, alt: str, cls: str = "fig") -> str:
    return f"<img class='{cls}' alt='{html.escape(alt, quote=True)}' src='{data_url(png)}'>"


def _num(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "<td class='na'>n/a</td>"
    return f"<td class='num'>{value:{'+' if signed else ''}.{digits}f}</td>"


def _diff(d: dict[str, float | None] | None) -> str:
    if not d or d.get("diff") is None:
        return "<td class='na'>—</td>"
    mark = " class='num pos'" if d["lo"] is not None and d["lo"] > 0 else " class='num'"
    return f"<td{mark}>{d['diff']:+.3f} <span class='ci'>[{d['lo']:+.3f}, {d['hi']:+.3f}]</span></td>"


def _seeds_section(report: StudyReport) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in SEED_METRICS)
    rows = []
    for v in report.variants:
        per_seed = v.summary["per_seed"]
        n = len(per_seed["macro_auroc"])
        for k in range(n):
            cells = "".join(_num(per_seed[m][k]) for m, _ in SEED_METRICS)
            rows.append(f"<tr><th>{html.escape(v.name)}</th><td>seed {k}</td>{cells}<td></td><td></td></tr>")
        paired = v.summary.get("paired_vs_baseline", {})
        mean = "".join(_num(v.summary[m]) for m, _ in SEED_METRICS)
        rows.append(
            f"<tr class='mean'><th>{html.escape(v.name)}</th><td>mean of {n}</td>{mean}"
            f"{_diff(paired.get('macro_auroc'))}{_diff(paired.get('macro_f1'))}</tr>"
        )
    return f"""<section id="seeds"><h2>Every run</h2>
<p>Test split. Each variant was trained with every seed; the bold rows are the means. The last two
columns: the variant minus <b>{html.escape(report.baseline)}</b>, seed-averaged, with the 95%
paired bootstrap interval over test patients (green: the whole interval above 0). Pointing game:
share of test readings with radiologist outlines where the attention peak lies inside one.</p>
<table class="metrics"><thead><tr><th>variant</th><th>seed</th>{head}<th>Δ macro AUROC</th>
<th>Δ macro F1</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>"""


def _per_class_section(report: StudyReport) -> str:
    base = next(v for v in report.variants if v.name == report.baseline).summary["per_class_auroc"]
    others = [v for v in report.variants if v.name != report.baseline]
    head = "".join(f"<th>{html.escape(v.name)}</th>" for v in others)
    rows = []
    for label in report.labels:
        b = base.get(label)
        cells = "".join(
            _num(
                None
                if b is None or v.summary["per_class_auroc"].get(label) is None
                else v.summary["per_class_auroc"][label] - b,
                signed=True,
            )
            for v in others
        )
        rows.append(f"<tr><th>{html.escape(label)}</th>{_num(b)}{cells}</tr>")
    return f"""<section id="per-class"><h2>Per finding: AUROC difference to the baseline</h2>
<p>Test AUROC of {html.escape(report.baseline)} (mean over seeds) and each variant's difference to it.
In the synthetic cohort four findings carry a shortcut tag in training (see the confounder in the
details); gaze supervision is expected to help most there.</p>
<table class="metrics"><thead><tr><th>finding</th><th>{html.escape(report.baseline)}</th>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></section>"""


def _maps_section(report: StudyReport) -> str:
    figures = []
    for s in report.studies:
        if not s.finding_maps:
            continue
        png = finding_maps_figure(s.image, s.finding_maps, [report.baseline, report.headline])
        figures.append(
            f"<figure>{_img(png, f'per-finding maps of study {s.study_id}')}"
            f"<figcaption>{html.escape(s.study_id)}: {html.escape(', '.join(s.truth))}</figcaption></figure>"
        )
    return f"""<section id="maps"><h2>Where each model looked for each finding</h2>
<p>Test studies with findings. Per finding (one row each): the radiologist's gaze (cividis; the
fixations made while the finding was dictated where the transcript names it, else the whole
reading), then the attention map that {html.escape(report.baseline)} and
{html.escape(report.headline)} (seed 0) pooled for that finding (viridis; brighter = more attention).</p>
{"".join(figures) or "<p>No test study with a finding among those shown.</p>"}</section>"""


BOX_SOURCES = {
    "dataset": "the reading's own (EyeGaze)",
    "model": "the anatomy localiser's",
    "atlas": "the atlas's, not the localiser's",
    "none": "none (findings not placed in regions)",
}


def _studies_section(report: StudyReport) -> str:
    rows = []
    for s in report.studies:
        fig = study_figure(s.image, s.gaze, s.attentions, s.anatomy.boxes, s.hits)
        numbers = numbered_regions(s.hits)
        anchored = set(s.anatomy.anchored)
        regions = "".join(
            f"<li value='{n}'>{html.escape(r)}: {html.escape(', '.join(s.hits[r]))}"
            + (
                " <i>(box placed from the lungs: the localiser's own was implausible)</i>"
                if r in anchored
                else ""
            )
            + "</li>"
            for r, n in numbers.items()
        )
        box_source = BOX_SOURCES.get(s.anatomy.source, s.anatomy.source)
        box_note = f" ({s.anatomy.note})" if s.anatomy.note else ""
        shared = content_terms(s.generated_report) & content_terms(s.reference_report)
        sid = html.escape(s.study_id, quote=True)
        rows.append(f"""<article class="study" id="study-{sid}">
<h3>{html.escape(s.study_id)}</h3>
<p class="labels">Ground truth: <b>{html.escape(", ".join(s.truth) or "no finding")}</b>.
{html.escape(report.headline)} (seed 0) at its thresholds: <b>{html.escape(", ".join(s.predicted) or "no finding")}</b>.</p>
{_img(fig, f"panels of study {s.study_id}", "panels")}
<p class="boxes">Anatomy boxes: {html.escape(box_source)}{html.escape(box_note)}.</p>
<ol class="regions">{regions or "<li class='none'>no finding placed in a region</li>"}</ol>
<div class="reports"><div><h4>Generated report ({html.escape(report.headline)}, {html.escape(s.writer)} writer)</h4>
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
    facts = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in report.facts.items()
    )
    answer, *rest = report.verdict or [""]
    verdict = f"<p class='answer'>{html.escape(answer)}</p>" + "".join(
        f"<p>{html.escape(line)}</p>" for line in rest
    )
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
<header><h1>{html.escape(report.title)}</h1></header>
<section id="summary"><h2>The answer</h2>{verdict}{banner}</section>
{_seeds_section(report)}
{_per_class_section(report)}
<section id="roc"><h2>ROC curves per finding</h2>
<p>Test set, seed 0 of each variant, one panel per finding; the legend gives each curve's AUROC.</p>
{_img(roc, "ROC curves per finding")}</section>
{_maps_section(report)}
<h2 class="fold">Details</h2>
{_studies_section(report)}
<section id="details"><h2>How this page was made</h2>
<table class="facts"><tbody>{facts}</tbody></table></section>
<footer id="provenance"><p>Generated by GazeCXR. Each run directory holds its config.yaml, run.json
(seed, versions, git revision, command line) and metrics.json; the runs folder holds ablation.json
and ablation.md with every number of this page.</p></footer>
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
.answer{font-size:1.1rem;font-weight:600}td.pos{background:#e3f4ea}tr.mean th,tr.mean td{font-weight:600;border-bottom:2px solid #9aa3ad}
h2.fold{margin-top:3rem;color:#5b6470;border-bottom:3px double #d6dae0}figure{margin:.8rem 0}figcaption{font-size:.88rem;color:#5b6470}
@media (max-width:900px){.reports{grid-template-columns:1fr}}
"""
