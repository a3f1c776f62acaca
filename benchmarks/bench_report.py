"""Stage-2 throughput: template reports per second (no classifier) and labeler reports per second.

- Template: ``generate_report`` on simulated predictions (synthetic8 labels, random probabilities,
  a 14 x 14 attention map, the 17-region atlas boxes): keywords, region assignment, sentences.
  Target (issue 6): >= 500 reports/s on CPU.
- Labeler: ``label_report`` on the FINDINGS + IMPRESSION text of every IU development report
  (``../shared/data/iu_xray``; skipped with a message when absent).

Writes ``benchmarks/results/report.json``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from gazecxr.anatomy.atlas import DEFAULT_LUNG_BOX, place_atlas
from gazecxr.data.labels import LABEL_SETS
from gazecxr.prediction import Anatomy, Prediction
from gazecxr.report import generate_report, label_report
from gazecxr.report.config import ReportConfig

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "report.json"
IU = ROOT.parent / "shared" / "data" / "iu_xray" / "indiana_reports.csv"
TARGET_TEMPLATE = 500.0


def predictions(n: int, rng: np.random.Generator) -> list[Prediction]:
    labels = list(LABEL_SETS["synthetic8"])
    boxes = place_atlas(DEFAULT_LUNG_BOX)  # what a reading without boxes gets
    out = []
    for _ in range(n):
        att = rng.gamma(0.5, size=(14, 14))
        out.append(
            Prediction(
                labels,
                rng.beta(0.5, 1.5, len(labels)),
                np.full(len(labels), 0.5),
                att / att.sum(),
                (2544, 3056),
                Anatomy(boxes, dict.fromkeys(boxes, "atlas"), {}, "atlas"),
            )
        )
    return out


def rate(fn, items, repeats: int = 3) -> float:
    """Best of ``repeats`` runs, in items per second (the machine is shared: best is least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    rng = np.random.default_rng(0)
    cfg = ReportConfig()
    preds = predictions(1000, rng)
    generate_report(preds[0], cfg)  # warm caches (dictionary, compiled regexes)
    result: dict = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    template = rate(lambda p: generate_report(p, cfg), preds)
    result["template_reports_per_s"] = round(template, 1)
    result["template_target_per_s"] = TARGET_TEMPLATE
    result["template_meets_target"] = template >= TARGET_TEMPLATE
    print(f"template writer: {template:.0f} reports/s (target >= {TARGET_TEMPLATE:.0f}, classifier excluded)")
    if IU.is_file():
        from gazecxr.report.iu import read_iu_reports

        texts = [r.text for r in read_iu_reports(IU)]
        labeler = rate(label_report, texts)
        result["labeler_reports_per_s"] = round(labeler, 1)
        result["labeler_corpus"] = f"IU development reports (n={len(texts)}, FINDINGS + IMPRESSION)"
        print(f"labeler: {labeler:.0f} reports/s on {len(texts)} IU reports")
    else:
        result["labeler_reports_per_s"] = None
        print(f"labeler: skipped ({IU} is absent)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
