"""The end-to-end demo: synthetic cohort -> every variant x seed trained and evaluated (the
``ablate`` machinery, paired CIs against the baseline) -> reports -> ``index.html`` + ``summary.json``.

Every stage reuses what an earlier (possibly interrupted) demo left in the output folder: the
cohort when its ``cohort.json`` matches the requested one, finished runs (``ablate`` reuses them
and resumes interrupted ones from their checkpoints).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gazecxr.config import load_config
from gazecxr.data.layout import SYNTHETIC_FACTS
from gazecxr.demo.html import StudyReport, VariantPage, write
from gazecxr.demo.profiles import DemoProfile, check_profile
from gazecxr.demo.results import roc_curves, variant_summary, verdict
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

    cfg = SynthConfig(
        studies=profile.studies,
        seed=seed,
        image_size=profile.synth_image_size,
        validate_fraction=profile.validate_fraction,
        test_fraction=profile.test_fraction,
    )
    facts_path = out / SYNTHETIC_FACTS
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


RUN_UNITS = 10.0  # progress units of one trained and evaluated run (a report study is 1)


@dataclass(frozen=True)
class Placement:
    """How the demo's runs use this machine."""

    jobs: int  # runs trained at once
    threads: int  # torch threads per run (0: torch's default)
    description: str  # recorded in summary.json and on the page


def parallelism(device: str, runs: int) -> Placement:
    """Where the runs train: on a GPU one run at a time uses it; on CPU one single-threaded
    process per core (measured on the 2-core development machine: two 1-thread runs train about
    2x the images per second of one 2-thread run, benchmarks/bench_train_speed.py). Every run is
    seeded, so the results do not depend on this choice.
    """
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return Placement(1, 0, f"GPU ({torch.cuda.get_device_name(0)})")
    cores = os.cpu_count() or 1
    jobs = max(1, min(runs, cores))
    threads = max(1, cores // jobs)
    return Placement(jobs, threads, f"CPU, {jobs} run(s) at a time, {threads} thread(s) each")


@dataclass
class Cohort:
    """The demo's cohort as its steps need it."""

    root: Path
    facts: dict[str, Any]  # the generator's cohort.json facts
    reused: bool
    readings_per_split: dict[str, int]
    labels: list[str]


@dataclass
class DemoRun:
    """What every step of one demo invocation shares."""

    out: Path
    profile: DemoProfile
    config_path: Path
    seed: int  # the cohort's
    runs_dir: Path
    timings: Timings
    progress: StageProgress
    first_seed: int = 0  # runs use seeds first_seed .. first_seed + profile.seeds - 1


def run_demo(
    out: Path,
    profile: DemoProfile,
    config_path: Path,
    seed: int = 0,
    progress: StageProgress | None = None,
    first_seed: int = 0,
) -> DemoResult:
    """Run the whole demo into ``out`` and return where its results are: the cohort, the runs
    and their table, the reports of some test studies, the page and summary.json.

    ``seed`` is the cohort's; every variant is trained with seeds ``first_seed ..
    first_seed + profile.seeds - 1`` (3 with the default profile: seeds 3-5, a replication).
    """
    out = out.resolve()  # run.json and summary.json then name folders that work from any directory
    out.mkdir(parents=True, exist_ok=True)
    total_start = time.perf_counter()
    ablation_file = check_profile(profile)  # before anything is written
    run = DemoRun(
        out,
        profile,
        config_path,
        seed,
        out / "runs" / profile.name,
        Timings(),
        progress or StageProgress(),
        first_seed,
    )
    timings = run.timings
    cfg = load_config(config_path)
    cohort = _cohort_step(run, cfg)
    placement = parallelism(cfg.train.device, len(profile.variants) * profile.seeds)
    table = _training_step(run, ablation_file, cohort, placement)
    variants = {name: variant_summary(table["variants"][name]) for name in profile.variants}
    lines = verdict(
        variants,
        profile.headline,
        profile.baseline,
        profile.control,
        profile.seeds,
        cohort.readings_per_split["test"],
    )
    if profile.caveat:
        lines.append(profile.caveat)
    first_runs = {name: Path(v["runs"][0]) for name, v in variants.items()}
    run.progress.stage("writing reports for test studies")
    with timings.stage("reports"):
        rows = study_rows(
            first_runs,
            profile.headline,
            profile.baseline,
            cohort.root,
            profile.report_studies,
            lambda: run.progress.advance(1),
        )
    summary = _summary(run, cohort, table, variants, lines, placement)
    page = _page(run, cohort, variants, first_runs, rows, lines, summary)
    with timings.stage("html"):
        index = write(page, out / "index.html")
    timings.seconds["total"] = round(time.perf_counter() - total_start, 2)
    summary["machine"]["load_average_1_5_15min_at_end"] = _load_average()
    write_json_atomic(out / "summary.json", summary)  # timings_s is the live dict: html and total included
    return DemoResult(out=out, summary=summary, index_html=index, verdict=lines)


def _cohort_step(run: DemoRun, cfg: Any) -> Cohort:
    """Write (or reuse) the cohort; a new cohort removes the runs of the previous one. Counts the
    readings per split from the index (no dataset, no image cache is built for that)."""
    from gazecxr.data import split_readings
    from gazecxr.data.labels import get_label_set

    run.progress.stage("writing the synthetic cohort")
    with run.timings.stage("cohort"):
        root, facts, reused = ensure_cohort(run.out / f"cohort-{run.profile.name}", run.profile, run.seed)
        if not reused and run.runs_dir.exists():
            log.warning("new cohort: removing the runs trained on the previous one")
            shutil.rmtree(run.runs_dir)
    _, readings = split_readings(cfg, root=root)
    counts = {split: int((readings["split"] == split).sum()) for split in ("train", "validate", "test")}
    return Cohort(root, facts, reused, counts, list(get_label_set(cfg.data.label_set)))


def _training_step(run: DemoRun, ablation_file: Path, cohort: Cohort, placement: Placement) -> dict[str, Any]:
    """Train and evaluate (or reuse) every variant x seed: the ablation machinery, the profile's
    variants applied to its experiment config; the table."""
    from gazecxr.train.ablate import Sweep, run_ablation

    profile = run.profile
    n_runs = len(profile.variants) * profile.seeds
    run.progress.start(n_runs * RUN_UNITS + profile.report_studies)
    run.progress.stage(
        f"training {n_runs} runs ({len(profile.variants)} variants x {profile.seeds} seeds, {placement.jobs} at a time)"
    )
    with run.timings.stage("train_and_evaluate"):
        sweep = Sweep.of(
            ablation_file,
            cohort.root,
            run.runs_dir,
            seeds=profile.seeds,
            variants=profile.variants,
            overrides=[f"train.num_threads={placement.threads}"],
            experiment=run.config_path,
            first_seed=run.first_seed,
        )
        return run_ablation(
            sweep, jobs=placement.jobs, on_run_done=lambda _v, _s: run.progress.advance(RUN_UNITS)
        )


def _summary(
    run: DemoRun,
    cohort: Cohort,
    table: dict[str, Any],
    variants: dict[str, Any],
    lines: list[str],
    placement: Placement,
) -> dict[str, Any]:
    """summary.json: what scripts read (the verdict, per variant the seed means and paired CIs)."""
    profile, seed, timings = run.profile, run.seed, run.timings
    return {
        "synthetic": True,
        "note": "Synthetic cohort: these numbers demonstrate the mechanism only, not clinical performance.",
        "profile": profile.name,
        "headline": profile.headline,
        "baseline": profile.baseline,
        "control": profile.control,
        "seeds": profile.seeds,
        "first_seed": run.first_seed,
        "cohort_seed": seed,
        "config": str(run.config_path),
        "paired_method": table["paired_method"],
        "ci_level": table["ci_level"],
        "cohort": {
            "root": str(cohort.root),
            "reused": cohort.reused,
            "readings_per_split": cohort.readings_per_split,
            "labels": cohort.labels,
            **_cohort_facts(cohort.facts),
        },
        "variants": variants,
        "verdict": lines,
        "ablation": str(run.runs_dir / "ablation.json"),
        "timings_s": timings.seconds,
        "machine": {
            "cpu_count": os.cpu_count(),
            "device": placement.description,
            # other work on the CPU inflates every timing: recorded so timings can be judged
            "load_average_1_5_15min_at_end": _load_average(),
        },
        "index_html": str(run.out / "index.html"),
    }


def _page(
    run: DemoRun,
    cohort: Cohort,
    variants: dict[str, Any],
    first_runs: dict[str, Path],
    rows: list[Any],
    lines: list[str],
    summary: dict[str, Any],
) -> StudyReport:
    """The study report page (index.html)."""
    profile, seed = run.profile, run.seed
    counts = cohort.readings_per_split
    facts = {
        "profile": f"{profile.name}: {', '.join(profile.variants)}; {profile.seeds} seed(s) each",
        "cohort": f"{cohort.facts.get('studies', profile.studies)} synthetic studies, seed {seed}"
        + (" (reused)" if cohort.reused else ""),
        "readings (train / validate / test)": " / ".join(
            str(counts.get(k, 0)) for k in ("train", "validate", "test")
        ),
        "confounder": _confounder_text(cohort.facts),
        "experiment config": str(run.config_path),
        "runs and the ablation table": str(run.runs_dir),
        "trained on": summary["machine"]["device"],
        "wall-clock of this invocation before this page (reused stages take ~0 s)": ", ".join(
            f"{k} {v:.0f} s" for k, v in run.timings.seconds.items()
        ),
    }
    pages = [
        VariantPage(name=name, summary=v, roc=roc_curves(first_runs[name])) for name, v in variants.items()
    ]
    return StudyReport(
        title="GazeCXR demo: gaze-supervised chest X-ray classification (synthetic cohort)",
        labels=cohort.labels,
        variants=pages,
        headline=profile.headline,
        baseline=profile.baseline,
        studies=rows,
        facts=facts,
        verdict=lines,
        synthetic=True,
    )


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
