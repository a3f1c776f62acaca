"""Ablation runner: every variant x seed trained, evaluated on the test split, and tabulated.

An ablation file (``configs/ablation.yaml``) names the experiment config the variants modify and
gives each variant as a list of ``key=value`` overrides (the same syntax as the command line)::

    experiment: synthetic.yaml        # relative to the ablation file
    baseline: baseline                # the variant every other one is compared with
    variants:
      baseline: [loss.gaze.enabled=false, loss.contrastive.image_text=0, loss.contrastive.image_gaze=0]
      full: []

Run ``DIR/<variant>/seed<k>`` is trained with ``seed=k``; a run whose ``eval_test.json`` exists
is reused, an interrupted one is resumed from its checkpoint.

Paired comparison with the baseline: for each bootstrap resample of test *patients* (the same
resample for both variants and every seed), each seed's macro metric is computed at that run's
own thresholds, averaged over seeds, and the baseline's average subtracted. The CI therefore
covers test-set sampling of the seed-averaged difference; the seed-to-seed spread is reported
separately as sd. (Implemented by stacking the seeds' predictions as extra label columns.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, StringConstraints

from gazecxr.config import find_config, load_config, to_dict
from gazecxr.errors import InputError
from gazecxr.log import LOGGER_NAME
from gazecxr.runinfo import write_json_atomic
from gazecxr.schema import ConfigError, Section

log = logging.getLogger(f"{LOGGER_NAME}.ablate")

# Columns of the markdown table (keys of the evaluation headline) and their titles.
TABLE_METRICS: dict[str, str] = {
    "macro_auroc": "AUROC",
    "macro_f1": "F1",
    "macro_precision": "precision",
    "macro_recall": "recall",
    "attention_cc": "att. CC",
    "attention_nss": "att. NSS",
    "attention_kld": "att. KLD",
    "attention_pointing_game": "pointing",
    "gradcam_cc": "Grad-CAM CC",
}
PAIRED_METRICS = ("auroc", "f1")


# A variant name is a folder name under --out and a word of a cluster task: letters, digits, _ . + -
VARIANT_NAME = r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$"


class AblationSpec(Section):
    experiment: str  # experiment config file, relative to the ablation file
    baseline: str = "baseline"
    variants: dict[Annotated[str, StringConstraints(pattern=VARIANT_NAME)], list[str]] = Field(min_length=1)


def load_spec(path: str | Path) -> tuple[AblationSpec, Path]:
    """Read an ablation file; returns the spec and the resolved experiment config path."""
    path = find_config(path)  # a file, or a shipped config's name
    spec = load_config(path, model=AblationSpec)
    if spec.baseline not in spec.variants:
        raise ConfigError(
            f"{path}: baseline variant {spec.baseline!r} is not among variants ({', '.join(spec.variants)})"
        )
    experiment = (path.parent / spec.experiment).resolve()
    if not experiment.is_file():
        raise ConfigError(f"{path}: experiment config {experiment} not found")
    return spec, experiment


def run_dir(out: Path, variant: str, seed: int) -> Path:
    return out / variant / f"seed{seed}"


def run_one(experiment: Path, overrides: Sequence[str], data_root: str | Path, out: Path, seed: int) -> Path:
    """Train (or resume) and evaluate one variant-seed run unless its test evaluation exists."""
    from gazecxr.train.evaluate import evaluate_run
    from gazecxr.train.trainer import train_run

    if (out / "eval_test.json").is_file() and (out / "predictions_test.npz").is_file():
        log.info("reusing finished run %s", out)
        return out
    cfg = load_config(experiment, [*overrides, f"seed={seed}"])
    train_run(cfg, data_root, out, resume=True, argv=["gazecxr", "ablate", *overrides, f"seed={seed}"])
    evaluate_run(out, data_root, "test")
    return out


def _init_worker(level: int) -> None:
    """Logging of a spawned ablation worker: the parent's level, no progress bars."""
    from gazecxr.log import hide_progress_bars, setup_logging

    setup_logging({logging.WARNING: -1, logging.INFO: 0}.get(level, 1))
    hide_progress_bars()


def _run_parallel(
    tasks: list[tuple[str, int]],
    spec: AblationSpec,
    experiment: Path,
    overrides: Sequence[str],
    data_root: str | Path,
    out: Path,
    jobs: int,
    on_run_done: Callable[[str, int], None],
) -> None:
    """:func:`run_one` for every (variant, seed) in ``jobs`` spawned processes (CUDA-safe)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    level = logging.getLogger(LOGGER_NAME).getEffectiveLevel()
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(level,),
    ) as pool:
        futures = {
            pool.submit(
                run_one, experiment, [*spec.variants[v], *overrides], data_root, run_dir(out, v, s), s
            ): (v, s)
            for v, s in tasks
        }
        for future in as_completed(futures):
            v, s = futures[future]
            try:
                future.result()
            except (InputError, ConfigError) as exc:
                # a user-facing error keeps its type (one line at the command line) and names the run
                raise type(exc)(f"ablation run {run_dir(out, v, s)}: {exc}") from None
            except Exception as exc:
                raise RuntimeError(f"ablation run {run_dir(out, v, s)} failed: {exc}") from exc
            log.info("ablation: variant %s, seed %d finished", v, s)
            on_run_done(v, s)


def _mean_sd(values: list[float | None]) -> dict[str, Any]:
    vals = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    return {
        "mean": float(vals.mean()) if len(vals) else None,
        "sd": float(vals.std(ddof=1)) if len(vals) > 1 else None,
        "n": int(len(vals)),
        "values": [None if v is None else float(v) for v in values],
    }


def stacked_predictions(runs: list[Path]) -> dict[str, np.ndarray]:
    """Test predictions of the seeds of one variant side by side: ``(N, seeds * C)`` columns.

    Readings are aligned by reading id; ``thresholds`` concatenates every run's own thresholds.
    A macro metric over the stacked columns is the mean over seeds of each seed's macro metric.
    """
    from gazecxr.train.evaluate import load_predictions
    from gazecxr.train.predict import read_thresholds

    parts = []
    for r in runs:
        pred = load_predictions(r / "predictions_test.npz")
        order = np.argsort(pred["reading_ids"], kind="stable")
        parts.append({k: pred[k][order] for k in ("probs", "targets", "mask", "subject_ids", "reading_ids")})
        parts[-1]["thresholds"] = read_thresholds(r)[1]
    for p, r in zip(parts[1:], runs[1:], strict=True):
        if not np.array_equal(p["reading_ids"], parts[0]["reading_ids"]):
            raise ValueError(f"{r}: evaluated on other test readings than {runs[0]}; rerun its evaluation")
    return {
        "probs": np.hstack([p["probs"] for p in parts]),
        "targets": np.hstack([p["targets"] for p in parts]),
        "mask": np.hstack([p["mask"] for p in parts]),
        "thresholds": np.concatenate([p["thresholds"] for p in parts]),
        "subject_ids": parts[0]["subject_ids"],
        "reading_ids": parts[0]["reading_ids"],
    }


def paired_difference(
    variant: dict[str, np.ndarray], baseline: dict[str, np.ndarray], n_boot: int, ci: float, seed: int
) -> dict[str, Any]:
    """Paired patient-bootstrap CI of (variant - baseline) for the seed-averaged macro metrics."""
    from gazecxr.metrics.classification import paired_bootstrap_diff

    if not np.array_equal(variant["reading_ids"], baseline["reading_ids"]):
        raise ValueError("variant and baseline were evaluated on different test readings; rerun both")
    result = paired_bootstrap_diff(
        baseline["targets"],
        variant["probs"],
        baseline["probs"],
        baseline["mask"],
        groups=baseline["subject_ids"],
        thresholds_variant=variant["thresholds"],
        thresholds_base=baseline["thresholds"],
        n_boot=n_boot,
        ci=ci,
        seed=seed,
    )
    return {m: result[f"macro/{m}"] for m in PAIRED_METRICS}


def summarise(
    out: Path, spec: AblationSpec, variants: Sequence[str], seeds: Sequence[int], n_boot: int, ci: float
) -> dict[str, Any]:
    """The ablation table of the runs with these ``seeds`` as a dict (also written as
    ``ablation.json`` / ``ablation.md``)."""
    rows: dict[str, Any] = {}
    baseline_runs = [run_dir(out, spec.baseline, s) for s in seeds]
    have_baseline = all((r / "predictions_test.npz").is_file() for r in baseline_runs)
    baseline_pred = stacked_predictions(baseline_runs) if have_baseline else None
    for v in variants:
        runs = [run_dir(out, v, s) for s in seeds]
        heads = [json.loads((r / "metrics.json").read_text(encoding="utf-8"))["eval_test"] for r in runs]
        per_class = [
            json.loads((r / "eval_test.json").read_text(encoding="utf-8"))["classification"]["point"][
                "per_class"
            ]
            for r in runs
        ]
        keys = sorted({k for h in heads for k in h})
        row: dict[str, Any] = {
            "overrides": spec.variants[v],
            "runs": [str(r) for r in runs],
            "metrics": {k: _mean_sd([h.get(k) for h in heads]) for k in keys},
            "per_class_auroc": {c: _mean_sd([pc[c]["auroc"] for pc in per_class]) for c in per_class[0]},
        }
        if baseline_pred is not None and v != spec.baseline:
            row["paired_vs_baseline"] = paired_difference(
                stacked_predictions(runs), baseline_pred, n_boot, ci, 0
            )
        rows[v] = row
    return {
        "seeds": len(seeds),
        "seed_list": list(seeds),
        "baseline": spec.baseline,
        "ci_level": ci,
        "bootstrap": n_boot,
        "paired_method": "seed-averaged macro metric; test patients resampled jointly for both variants",
        "variants": rows,
    }


def _fmt(cell: dict[str, Any] | None) -> str:
    if not cell or cell.get("mean") is None:
        return "n/a"
    return f"{cell['mean']:.3f} ± {cell['sd']:.3f}" if cell.get("sd") is not None else f"{cell['mean']:.3f}"


def _fmt_diff(d: dict[str, Any] | None) -> str:
    if not d:
        return "—"
    lo, hi = d["lo"], d["hi"]
    mark = " *" if lo > 0 else ""
    return f"{d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}"


def _seed_range(table: dict[str, Any]) -> str:
    seeds = table.get("seed_list") or list(range(table["seeds"]))  # tables written before seed_list
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"


def markdown(table: dict[str, Any], title: str) -> str:
    head = ["variant", *TABLE_METRICS.values(), "ΔAUROC [CI]", "ΔF1 [CI]"]
    lines = [
        f"# {title}",
        "",
        f"{table['seeds']} seed(s) per variant ({_seed_range(table)}); cells are mean ± sd over seeds on the test split. "
        f"Δ = variant − {table['baseline']}, {round(table['ci_level'] * 100)}% paired patient-bootstrap CI "
        f"({table['bootstrap']} resamples; {table['paired_method']}); * = CI above 0.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, row in table["variants"].items():
        paired = row.get("paired_vs_baseline", {})
        cells = [_fmt(row["metrics"].get(k)) for k in TABLE_METRICS]
        lines.append(
            "| "
            + " | ".join([name, *cells, _fmt_diff(paired.get("auroc")), _fmt_diff(paired.get("f1"))])
            + " |"
        )
    labels = list(next(iter(table["variants"].values()))["per_class_auroc"])
    lines += [
        "",
        "Per-class test AUROC (mean ± sd over seeds):",
        "",
        "| variant | " + " | ".join(labels) + " |",
        "|" + "---|" * (len(labels) + 1),
    ]
    for name, row in table["variants"].items():
        lines.append("| " + " | ".join([name, *(_fmt(row["per_class_auroc"][c]) for c in labels)]) + " |")
    lines += ["", "Overrides per variant:", ""]
    lines += [
        f"- `{name}`: `{' '.join(row['overrides']) or '(none)'}`" for name, row in table["variants"].items()
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Sweep:
    """A validated ablation request: which variants of which experiment, how many seeds, where.

    Made by :meth:`Sweep.of` (every run's config is checked then, not only when its run or
    cluster task starts); run by :func:`run_ablation`, planned by :func:`plan_ablation`, one run of
    it by :func:`run_only`.
    """

    ablation_file: Path
    spec: AblationSpec
    spec_experiment: Path  # the ablation file's own experiment config
    experiment: Path  # the experiment the variants modify (the file's own, or the demo's)
    data_root: Path
    out: Path
    seeds: int
    variants: tuple[str, ...]
    overrides: tuple[str, ...] = ()
    first_seed: int = 0  # runs are trained with seeds first_seed .. first_seed + seeds - 1

    @classmethod
    def of(
        cls,
        ablation_file: str | Path,
        data_root: str | Path,
        out: str | Path,
        *,
        seeds: int,
        variants: Sequence[str] | None = None,
        overrides: Sequence[str] = (),
        experiment: str | Path | None = None,
        first_seed: int = 0,
    ) -> Sweep:
        """Args:
        ablation_file: YAML with ``experiment``, ``baseline`` and ``variants``.
        variants: subset to run (default: all); the baseline is always included in the table
            when its runs exist, so that differences can be computed.
        overrides: ``key=value`` applied to every variant after its own overrides.
        experiment: experiment config the variants modify instead of the file's own
            ``experiment`` (the demo applies the ablation's variants to its demo config).
        first_seed: the first run seed (e.g. 3 with ``seeds=3``: a replication on seeds 3-5).

        Raises:
            ConfigError: an unknown variant, ``seeds < 1``, ``first_seed < 0``, or a run's config
                that does not load.
        """
        spec, spec_experiment = load_spec(ablation_file)
        chosen = tuple(variants) if variants else tuple(spec.variants)
        unknown = [v for v in chosen if v not in spec.variants]
        if unknown:
            raise ConfigError(
                f"{ablation_file}: unknown variant(s) {unknown}; known: {', '.join(spec.variants)}"
            )
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        if first_seed < 0:
            raise ConfigError(f"--first-seed must be >= 0, got {first_seed}")
        resolved = find_config(experiment).resolve() if experiment is not None else spec_experiment
        for v in chosen:
            load_config(resolved, [*spec.variants[v], *overrides])
        return cls(
            Path(ablation_file),
            spec,
            spec_experiment,
            resolved,
            Path(data_root),
            Path(out),
            seeds,
            chosen,
            tuple(overrides),
            first_seed,
        )

    @property
    def seed_list(self) -> range:
        """The run seeds, ``first_seed .. first_seed + seeds - 1``."""
        return range(self.first_seed, self.first_seed + self.seeds)

    @property
    def tasks(self) -> list[tuple[str, int]]:
        """(variant, seed) in seed-major order: an interrupted ablation has complete variant
        comparisons for the first seeds."""
        return [(v, s) for s in self.seed_list for v in self.variants]

    def run(self, variant: str, seed: int) -> Path:
        """Train and evaluate (or reuse) one run; its directory."""
        overrides = [*self.spec.variants[variant], *self.overrides]
        return run_one(self.experiment, overrides, self.data_root, run_dir(self.out, variant, seed), seed)


def run_ablation(
    sweep: Sweep, jobs: int = 1, on_run_done: Callable[[str, int], None] | None = None
) -> dict[str, Any]:
    """Run (or reuse) every run of ``sweep`` and write ``ablation.json`` + ``ablation.md``; the table.

    Args:
        jobs: runs trained concurrently, each in a spawned process (1: in this process). Every
            run is seeded and independent, so the results do not depend on ``jobs``.
        on_run_done: called with (variant, seed) after each run is finished (progress display).
    """
    done = on_run_done or (lambda _v, _s: None)
    sweep.out.mkdir(parents=True, exist_ok=True)
    if jobs <= 1:
        for v, s in sweep.tasks:
            log.info("ablation: variant %s, seed %d", v, s)
            sweep.run(v, s)
            done(v, s)
    else:
        _run_parallel(
            sweep.tasks, sweep.spec, sweep.experiment, sweep.overrides, sweep.data_root, sweep.out, jobs, done
        )
    return collect_table(sweep)


def collect_table(sweep: Sweep) -> dict[str, Any]:
    """The table of the finished runs of ``sweep`` (and of any other variant whose every seed is
    finished), written to ``ablation.json`` and ``ablation.md``."""
    out = sweep.out
    tabulated = [
        v
        for v in sweep.spec.variants
        if v in sweep.variants
        or all((run_dir(out, v, s) / "predictions_test.npz").is_file() for s in sweep.seed_list)
    ]
    cfg = load_config(sweep.experiment, list(sweep.overrides))
    table = summarise(out, sweep.spec, tabulated, sweep.seed_list, cfg.eval.bootstrap, cfg.eval.ci)
    table.update(
        {
            "ablation_file": str(sweep.ablation_file.resolve()),
            "experiment": str(sweep.experiment),
            "data_root": str(sweep.data_root),
            "overrides": list(sweep.overrides),
        }
    )
    write_json_atomic(out / "ablation.json", table)
    (out / "ablation.md").write_text(
        markdown(table, f"Ablation: {sweep.ablation_file.name} on {sweep.data_root}"), encoding="utf-8"
    )
    return table


def plan_ablation(sweep: Sweep, plan: str | Path) -> Path:
    """Write the runs of ``sweep`` as one task each for a cluster scheduler into ``plan``
    (:mod:`gazecxr.train.sweep`) instead of running them; returns ``plan/tasks.jsonl``.

    Raises:
        ConfigError: the sweep modifies another experiment than the ablation file's own.
    """
    from gazecxr.train.sweep import write_plan

    if sweep.experiment != sweep.spec_experiment:
        raise ConfigError("a cluster plan runs the ablation file's own experiment config")
    sweep.out.mkdir(parents=True, exist_ok=True)
    resolved = to_dict(load_config(sweep.spec_experiment))
    spec_dict = {"baseline": sweep.spec.baseline, "variants": sweep.spec.variants}
    write_plan(
        Path(plan),
        spec_dict,
        resolved,
        sweep.data_root,
        sweep.out,
        sweep.seed_list,
        sweep.tasks,
        list(sweep.variants),
        sweep.overrides,
    )
    return Path(plan) / "tasks.jsonl"


def run_only(sweep: Sweep, only: str) -> Path:
    """Run the one run ``only`` (``VARIANT:SEED``, a cluster task) of ``sweep``; its directory.

    Raises:
        ConfigError: ``only`` names no variant of the file or a seed outside the sweep's seeds.
    """
    from gazecxr.train.sweep import parse_only

    v, s = parse_only(only, list(sweep.spec.variants), sweep.seed_list)
    return sweep.run(v, s)
