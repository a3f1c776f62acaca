"""The end-to-end demo: synthetic cohort -> baseline and gaze-supervised models -> evaluation ->
reports -> ``index.html`` + ``summary.json``.

Every stage reuses what an earlier (possibly interrupted) demo left in the output folder: the
cohort when its ``cohort.json`` matches the requested one, finished runs (``train_run`` resumes or
returns them), evaluations whose ``eval_test.json`` is newer than the checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gazecxr.config import load_config
from gazecxr.demo.html import StudyReport, VariantResult, write
from gazecxr.demo.profiles import DemoProfile, variant_overrides
from gazecxr.demo.results import (
    evaluate_once,
    variant_result,
    verdict,
)
from gazecxr.demo.studies import study_rows
from gazecxr.log import LOGGER_NAME
from gazecxr.runinfo import write_json_atomic

log = logging.getLogger(f"{LOGGER_NAME}.demo")


@dataclass
class Timings:
    """Wall-clock seconds per stage (what summary.json reports)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 2)


# ----------------------------------------------------------------------------------------- cohort


def ensure_cohort(out: Path, profile: DemoProfile, seed: int) -> tuple[Path, dict[str, Any], bool]:
    """Write the synthetic cohort into ``out`` unless an identical one is there.

    Returns (root, the cohort's ``synthetic/cohort.json``, reused?).

    A cohort that this generator wrote with other settings or another generator version is the
    demo's own cache: it is rewritten (logged), and the caller must drop runs trained on it.

    Raises:
        FileExistsError: ``out`` holds something else, or an unfinished cohort (no cohort.json).
    """
    from gazecxr.synth import write_cohort
    from gazecxr.synth.config import SynthConfig
    from gazecxr.synth.tables import GENERATOR_VERSION

    cfg = SynthConfig(studies=profile.studies, seed=seed, image_size=profile.synth_image_size)
    facts_path = out / "synthetic" / "cohort.json"
    if facts_path.is_file():
        facts = json.loads(facts_path.read_text(encoding="utf-8"))
        # Validating the stored config fills knobs added to SynthConfig since it was written with
        # their defaults; the generator version says whether the same config still gives this tree.
        try:
            same = (
                SynthConfig.model_validate(facts.get("config", {})) == cfg
                and facts.get("generator_version") == GENERATOR_VERSION
            )
        except ValueError:  # pydantic's ValidationError: a config this version cannot read
            same = False
        if same:
            return out, facts, True
        if facts.get("generator") != "gazecxr.synth":
            raise FileExistsError(f"{out} holds something other than a demo cohort; choose another --out")
        # The demo's own cohort from another version or profile: a cache, so it is rewritten.
        log.warning(
            "%s was written by generator version %s with other settings; rewriting it (version %s)",
            out,
            facts.get("generator_version"),
            GENERATOR_VERSION,
        )
        shutil.rmtree(out)
        write_cohort(out, cfg)
        return out, json.loads(facts_path.read_text(encoding="utf-8")), False
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(
            f"{out} holds an unfinished cohort (no synthetic/cohort.json); delete it and rerun"
        )
    write_cohort(out, cfg)
    return out, json.loads(facts_path.read_text(encoding="utf-8")), False


# ------------------------------------------------------------------------------------ evaluation


# ------------------------------------------------------------------------------------ test studies


# ------------------------------------------------------------------------------------------ runner


@dataclass
class DemoResult:
    out: Path
    summary: dict[str, Any]
    index_html: Path
    verdict: list[str]


class StageProgress:
    """Progress callbacks of the demo (the CLI draws them as one bar with the time left)."""

    def start(self, total: float) -> None: ...

    def stage(self, description: str) -> None: ...

    def advance(self, units: float = 1.0) -> None: ...


def run_demo(
    out: Path,
    profile: DemoProfile,
    config_path: Path,
    seed: int = 0,
    progress: StageProgress | None = None,
    argv: Sequence[str] | None = None,
) -> DemoResult:
    """Run the whole demo into ``out`` and return where its results are.

    Progress units: one per training step, plus estimates of the other stages in the same currency
    (so that the time-left estimate is roughly uniform).
    """
    from gazecxr.data import build_datasets
    from gazecxr.train.trainer import train_run

    progress = progress or StageProgress()
    timings = Timings()
    out = out.resolve()  # run.json and summary.json then name folders that work from any directory
    out.mkdir(parents=True, exist_ok=True)
    total_start = time.perf_counter()

    base_cfg = load_config(config_path, [f"seed={seed}"])
    progress.stage("writing the synthetic cohort")
    with timings.stage("cohort"):
        root, cohort_facts, reused = ensure_cohort(out / f"cohort-{profile.name}", profile, seed)
        if not reused and (out / "runs" / profile.name).exists():
            log.warning("new cohort: removing the runs trained on the previous one")
            shutil.rmtree(out / "runs" / profile.name)
    splits = build_datasets(base_cfg, root=root)
    n_train = len(splits["train"])
    steps_per_variant = base_cfg.train.epochs * int(np.ceil(n_train / base_cfg.train.batch_size))
    eval_units = max(1.0, 0.1 * steps_per_variant)
    total = len(profile.variants) * (steps_per_variant + eval_units) + profile.report_studies
    progress.start(total)

    results: dict[str, VariantResult] = {}
    runs: dict[str, Path] = {}
    raw: dict[str, dict[str, Any]] = {}
    for name, overrides in variant_overrides(profile).items():
        cfg = load_config(config_path, [*overrides, f"seed={seed}"])
        run = out / "runs" / profile.name / name
        progress.stage(f"training {name}")
        done_steps = [0]

        def on_step(step: int, _done: list[int] = done_steps) -> None:
            progress.advance(step - _done[0])
            _done[0] = step

        with timings.stage(f"train_{name}"):
            train_run(
                cfg,
                root,
                run,
                resume=True,
                on_step=on_step,
                argv=list(argv or ["gazecxr", "demo"]) + [f"variant={name}"],
            )
        progress.advance(max(0, steps_per_variant - done_steps[0]))  # early stopping / reused run
        progress.stage(f"evaluating {name}")
        with timings.stage(f"evaluate_{name}"):
            raw[name] = evaluate_once(run, root)
        progress.advance(eval_units)
        runs[name] = run
        results[name] = variant_result(name, run, raw[name])

    progress.stage("writing reports for test studies")
    with timings.stage("reports"):
        rows = study_rows(runs, root, profile.report_studies, lambda: progress.advance(1))
    lines, comparison = verdict(results)
    counts = {split: len(ds) for split, ds in splits.items()}
    summary = {
        "synthetic": True,
        "note": "Synthetic cohort: these numbers demonstrate the mechanism only, not clinical performance.",
        "profile": profile.name,
        "seed": seed,
        "config": str(config_path),
        "cohort": {
            "root": str(root),
            "reused": reused,
            "readings_per_split": counts,
            "labels": list(splits["train"].label_names),
            **_cohort_facts(cohort_facts),
        },
        "variants": {name: _variant_summary(res, raw[name]) for name, res in results.items()},
        "comparison": comparison,
        "verdict": lines,
        "timings_s": timings.seconds,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": _torch_threads(),
            # other work on the CPU inflates every timing: recorded so timings can be judged
            "load_average_1_5_15min_at_end": _load_average(),
        },
        "index_html": str(out / "index.html"),
    }
    facts = {
        "profile": profile.name,
        "cohort": f"{cohort_facts.get('studies', profile.studies)} synthetic studies, seed {seed}"
        + (" (reused)" if reused else ""),
        "readings (train / validate / test)": " / ".join(
            str(counts.get(k, 0)) for k in ("train", "validate", "test")
        ),
        "confounder": _confounder_text(cohort_facts),
        "experiment config": str(config_path),
        "wall-clock of this invocation before this page (reused stages take ~0 s)": ", ".join(
            f"{k} {v:.0f} s" for k, v in timings.seconds.items()
        ),
    }
    report = StudyReport(
        title="GazeCXR demo: gaze-supervised chest X-ray classification (synthetic cohort)",
        labels=list(splits["train"].label_names),
        variants=list(results.values()),
        studies=rows,
        facts=facts,
        verdict=lines,
        synthetic=True,
    )
    with timings.stage("html"):
        index = write(report, out / "index.html")
    timings.seconds["total"] = round(time.perf_counter() - total_start, 2)
    summary["machine"]["load_average_1_5_15min_at_end"] = _load_average()
    write_json_atomic(out / "summary.json", summary)  # timings_s is the live dict: html and total included
    return DemoResult(out=out, summary=summary, index_html=index, verdict=lines)


def _variant_summary(res: VariantResult, raw: dict[str, Any]) -> dict[str, Any]:
    def value(key: str) -> float | None:
        est = res.macro.get(key)
        return None if est is None else round(est[0], 6)

    def interval(key: str) -> list[float | None] | None:
        est = res.macro.get(key)
        return None if est is None else [None if v is None else round(v, 6) for v in est[1:]]

    return {
        "run": res.run,
        "macro_auroc": value("auroc"),
        "macro_auroc_ci": interval("auroc"),
        "macro_f1": value("f1"),
        "macro_f1_ci": interval("f1"),
        "attention_cc": value("attention_cc"),
        "attention_cc_ci": interval("attention_cc"),
        "counts": raw.get("counts"),
    }


def _cohort_facts(facts: dict[str, Any]) -> dict[str, Any]:
    keep = ("studies", "patients", "images", "readings", "confounder")
    return {k: facts[k] for k in keep if k in facts}


def _confounder_text(facts: dict[str, Any]) -> str:
    conf = facts.get("config", {}).get("confounder", {})
    if not conf.get("enabled"):
        return "none"
    return (
        f"one {conf.get('kind')} per finding ({', '.join(conf.get('findings', []))}): "
        f"P={conf.get('p_positive')} if the finding is present / "
        f"{conf.get('p_negative')} if absent in train+validate, {conf.get('p_test')} independent of labels in test"
    )


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # not available on this platform
        return None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
