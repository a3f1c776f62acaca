"""``gazecxr report | report-eval | label``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gazecxr.anatomy.cli import anatomy_model_option, chosen_localiser
from gazecxr.errors import require_regular_file
from gazecxr.report.config import ReportConfig
from gazecxr.runinfo import write_text

WRITERS = click.Choice(["template", "llm"])


@click.command()
@click.option(
    "--run",
    "run",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Trained run directory (gazecxr train --out).",
)
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--writer", type=WRITERS, default=None, help="Sentence writer (default: the run's report.writer)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option(
    "--cohort",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Synthetic tree (gazecxr synth): report every test image and check the regions against "
    "the drawn findings and the REFLACX ellipses (instead of IMAGES).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --cohort: summary JSON (reports go to <name>.reports.jsonl beside it).",
)
@click.option("--limit", type=int, default=None, help="With --cohort: only the first N test images.")
@click.option(
    "--calibrate",
    "calibrate_root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Dataset root: first calibrate the certainty cut-points on its validation split "
    "and store them in RUN/report_cutpoints.json (used by every later report).",
)
@anatomy_model_option
def report(
    run: Path,
    images: tuple[Path, ...],
    writer: str | None,
    fmt: str,
    device: str,
    cohort: Path | None,
    json_path: Path | None,
    limit: int | None,
    calibrate_root: Path | None,
    anatomy_model: Path | None,
) -> None:
    """Write a region-aware report for each IMAGE (JPG/PNG/DICOM) with the classifier of RUN.

    A bare image has no anatomy boxes: its 17 regions come from the anatomy localiser
    (--anatomy-model, else report.anatomy_model, else the shipped one): its own box where plausible,
    else placed from its lungs, or the atlas when it is not confident (said per region in the JSON's
    prediction.anatomy and in the report's anatomy_notes). The LLM writer
    reads its server, model and key from report.llm in the run config or GAZECXR_LLM_BASE_URL /
    GAZECXR_LLM_MODEL / GAZECXR_LLM_API_KEY.
    """
    from gazecxr.anatomy.localiser import find_anatomy
    from gazecxr.data.images import ImageReadError
    from gazecxr.errors import InputError
    from gazecxr.report.calibrate import calibrate_run, run_report_config
    from gazecxr.report.generate import generate_report
    from gazecxr.train.checkpoint import CheckpointError
    from gazecxr.train.predict import Predictor

    try:
        predictor = Predictor.from_run(run, device=device)
    except InputError:
        raise  # a bad run file: one line, exit 2
    except (CheckpointError, ValueError, FileNotFoundError) as exc:  # incompatible or incomplete run
        raise click.ClickException(f"cannot load run {run}: {exc}") from None
    if calibrate_root is not None:
        try:
            record = calibrate_run(run, calibrate_root)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"certainty cut-points from {record['n_labels']} validation labels: {record['cutpoints']}",
            err=True,
        )
    try:
        cfg = run_report_config(run, predictor.cfg.report)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if writer:
        cfg = cfg.model_copy(update={"writer": writer})
    if cohort is None and not images and calibrate_root is not None:
        return
    if cohort is not None:
        _cohort_regions(run, cohort, cfg, json_path, limit, anatomy_model)
        return
    if not images:
        raise click.UsageError("give at least one IMAGE, --cohort TREE or --calibrate ROOT")
    localiser = chosen_localiser(anatomy_model, cfg.anatomy_model)
    results: list[dict] = []
    for path in images:
        try:
            radiograph = predictor.read(path)  # the same read as predict and the viewer
        except ImageReadError as exc:  # this image only: the others are still reported
            results.append({"image": str(path), "failed": exc.reason})
            click.echo(f"FAILED {path}: {exc.reason}", err=True)
            continue
        prediction = predictor.predict_radiograph(radiograph)
        prediction.anatomy = find_anatomy(radiograph.display, localiser, None, radiograph.model_input)
        try:
            rep = generate_report(prediction, cfg)
        except ValueError as exc:  # the writer itself failed (e.g. llm without a server): stop
            raise click.ClickException(str(exc)) from None
        results.append({"image": str(path), "prediction": prediction.to_dict(), "report": rep.to_dict()})
        if fmt == "text":
            notes = "".join(f"\n  note: {n}" for n in rep.anatomy_notes)
            click.echo(f"== {path}\n{rep.text}{notes}\n")
    if fmt == "json":
        click.echo(json.dumps(results if len(results) > 1 else results[0], indent=2))
    if any("failed" in r for r in results):
        sys.exit(1)


def _cohort_regions(
    run: Path,
    cohort: Path,
    cfg: ReportConfig,
    json_path: Path | None,
    limit: int | None,
    anatomy_model: Path | None,
) -> None:
    from gazecxr.report.synthetic_eval import evaluate_regions

    reports_path = json_path.with_suffix(".reports.jsonl") if json_path else None
    localiser = chosen_localiser(anatomy_model, cfg.anatomy_model)
    try:
        result = evaluate_regions(
            run, cohort, cfg=cfg, limit=limit, reports_path=reports_path, localiser=localiser
        )
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_text(json_path, json.dumps(result, indent=2))
        click.echo(f"wrote {json_path} and {reports_path}", err=True)
    click.echo(f"{result['n_reports']} reports for the {result['split']} images of {cohort}")
    for name in (
        "attention",
        "mixture_attention",
        "prior_only",
        "attention_mass",
        "localiser_boxes",
        "atlas_boxes",
    ):
        r = result.get(name)
        if r is None:  # mixture_attention: only for models with per-label maps
            continue
        click.echo(
            f"{name}: {r['n_findings']} located true findings; region hit {r['region_hit_rate']}, "
            f"side hit {r['side_hit_rate']}, ellipse hit {r['ellipse_hit_rate']} (n={r['n_ellipse_hit']})"
        )


@click.command(name="report-eval")
@click.option(
    "--reports",
    "reports_csv",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="IU reports CSV (indiana_reports.csv layout): the reports evaluated.",
)
@click.option(
    "--retrieval-corpus",
    "corpus_csv",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="IU reports CSV for the retrieval baseline (same file: split by uid, see docs/reports.md).",
)
@click.option(
    "--json",
    "json_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Result JSON; a markdown table is written beside it (.md).",
)
@click.option(
    "--writer",
    "writers",
    type=WRITERS,
    multiple=True,
    default=("template",),
    show_default=True,
    help="Writer(s) to evaluate (repeat for several).",
)
@click.option(
    "--bertscore-model",
    default=None,
    help="Local model folder for BERTScore (default: offline all-MiniLM-L6-v2; 'none' skips it).",
)
@click.option(
    "--limit", type=int, default=None, help="Evaluate only the first N evaluation reports (quick runs)."
)
def report_eval(
    reports_csv: Path,
    corpus_csv: Path,
    json_path: Path,
    writers: tuple[str, ...],
    bertscore_model: str | None,
    limit: int | None,
) -> None:
    """Evaluate report writers and baselines on Indiana University reports (ORACLE MeSH input)."""
    from gazecxr.report.evaluate import ORACLE_NOTE, markdown_table, write_results
    from gazecxr.report.evaluate import report_eval as run_eval

    click.echo(ORACLE_NOTE, err=True)
    try:
        result = run_eval(reports_csv, corpus_csv, writers, ReportConfig(), bertscore_model, limit)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    md = write_results(result, json_path)
    click.echo(markdown_table(result))
    click.echo(f"wrote {json_path} and {md}", err=True)


@click.command()
@click.argument("text", required=False)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the report from this file.",
)
def label(text: str | None, file: Path | None) -> None:
    """Label report TEXT (or --file, or '-' for stdin): findings with present/negated/uncertain and regions, JSON."""
    from gazecxr.vocab.labeler import label_report

    if file is not None:
        require_regular_file(file, "report file")
        text = file.read_text(encoding="utf-8", errors="replace")
    elif text == "-":
        text = sys.stdin.read()
    if not text:
        raise click.UsageError("give the report as TEXT, '-' (stdin) or --file")
    click.echo(json.dumps([f.to_dict() for f in label_report(text)], indent=2))
