"""``gazecxr demo``: the whole idea in a few CPU minutes on the synthetic cohort."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from gazecxr.config import find_config
from gazecxr.demo.profiles import PROFILES, config_dir
from gazecxr.log import LOGGER_NAME, progress_disabled
from gazecxr.openmp import prefer_passive_openmp_wait
from gazecxr.train.cli import first_seed_option


class RichStageProgress:
    """One bar for the whole demo (units: training steps) with elapsed time and time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("elapsed, ~"),
            TimeRemainingColumn(compact=True),
            TextColumn("left"),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("starting", total=None)

    def start(self, total: float) -> None:
        self._progress.update(self._task, total=total)

    def stage(self, description: str) -> None:
        self._progress.update(self._task, description=description)

    def advance(self, units: float = 1.0) -> None:
        self._progress.advance(self._task, units)

    @contextmanager
    def shown(self) -> Iterator[RichStageProgress]:
        # The bar replaces the per-epoch bars and info lines of the stages it drives.
        logger = logging.getLogger(LOGGER_NAME)
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            with self._progress:
                yield self
        finally:
            logger.setLevel(level)


def results_table(summary: dict) -> str:
    """The plain-text table printed at the end: per variant the means over seeds and the paired
    difference to the baseline with its 95% CI."""

    def num(v: float | None) -> str:
        return ("n/a" if v is None else f"{v:.3f}").ljust(10)

    def diff(d: dict | None) -> str:
        return "" if not d else f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"

    head = (
        "variant".ljust(26)
        + "".join(h.ljust(10) for h in ("AUROC", "F1", "att. CC", "pointing"))
        + "Δ AUROC vs baseline [95% CI]"
    )
    lines = [head]
    for name, v in summary["variants"].items():
        cells = "".join(num(v[k]) for k in ("macro_auroc", "macro_f1", "attention_cc", "pointing_game"))
        lines.append(
            (name.ljust(26) + cells + diff(v.get("paired_vs_baseline", {}).get("macro_auroc"))).rstrip()
        )
    return "\n".join(lines)


@click.command("demo")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("demo_out"),
    show_default=True,
    help="Output folder (cohort, runs, index.html, summary.json); reused by later demos.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="A couple of minutes: smaller cohort, the baseline and the headline variant, one seed.",
)
@click.option(
    "--tiny",
    is_flag=True,
    help="Under a minute: the whole pipeline on a tiny cohort, to check an install (no result to read).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Experiment config (a file or a shipped name) instead of demo.yaml (or demo-quick.yaml).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    help="Seed of the synthetic cohort (the runs' seeds: --first-seed).",
)
@first_seed_option
def demo(out: Path, quick: bool, tiny: bool, config_path: Path | None, seed: int, first_seed: int) -> None:
    """Generate (or reuse) the synthetic MIMIC-Eye cohort; train the baseline, the gaze-supervised
    variants and the shuffled-gaze control over several seeds; compare each with the baseline by a
    paired patient bootstrap; write reports for test studies; produce OUT/index.html (open it in a
    browser, works offline) and OUT/summary.json. The run directories under OUT/runs/ work with
    `gazecxr predict`, `gazecxr report` and `gazecxr serve`."""
    prefer_passive_openmp_wait()
    from gazecxr.demo.pipeline import run_demo
    from gazecxr.train.checkpoint import CheckpointError

    if quick and tiny:
        raise click.UsageError("--quick and --tiny are exclusive")
    profile = PROFILES["tiny" if tiny else "quick" if quick else "default"]
    config_path = find_config(config_path) if config_path else config_dir() / profile.config
    click.echo(
        f"GazeCXR demo ({profile.name} profile) -> {out}. Synthetic data: the results demonstrate the "
        "mechanism only.",
        err=True,
    )
    try:
        if progress_disabled():
            result = run_demo(out, profile, config_path, seed=seed, first_seed=first_seed)
        else:
            bar = RichStageProgress()
            with bar.shown():
                result = run_demo(out, profile, config_path, seed=seed, progress=bar, first_seed=first_seed)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    except CheckpointError as exc:  # a run left by an older GazeCXR whose model differs
        raise click.ClickException(
            f"{exc}\nThe runs under {out / 'runs'} were made by another version of "
            "GazeCXR; delete them (or choose another --out) and rerun."
        ) from None
    summary = result.summary
    click.echo("")
    click.echo(results_table(summary))
    click.echo("")
    for line in result.verdict:
        click.echo(line)
    machine = summary["machine"]
    load = machine.get("load_average_1_5_15min_at_end")
    click.echo(
        f"\nTotal {summary['timings_s']['total']:.0f} s on {machine['cpu_count']} CPU(s)"
        + (f" (load average {load[0]:.1f}: other work on the CPU slows the demo)." if load else ".")
    )
    click.echo(f"Study report: {result.index_html}")
    click.echo(f"Summary:      {out / 'summary.json'}")
    gaze_run = summary["variants"][summary["headline"]]["runs"][0]
    click.echo(f"Viewer:       gazecxr serve --run {gaze_run} --data {summary['cohort']['root']}")
