"""``gazecxr train | evaluate | ablate | predict``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gazecxr.anatomy.cli import anatomy_model_option, chosen_localiser
from gazecxr.config import load_config
from gazecxr.runinfo import write_text


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.command(context_settings={"ignore_unknown_options": False})
@click.option(
    "--data",
    "data_root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset root (MIMIC-Eye, REFLACX, EGD-CXR or a synthetic tree); default: data.root, "
    "or with --resume the run's own data root.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Experiment YAML: a file, or a shipped config's name (`gazecxr configs list`). With "
    "--resume, defaults to the run's config.yaml.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="New run directory.")
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue the run in this directory from its last checkpoint.",
)
@click.argument("overrides", nargs=-1)
def train(
    data_root: Path | None,
    config_file: Path | None,
    out: Path | None,
    resume: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """Train a (gaze-supervised) classifier.

    OVERRIDES are key=value config changes, e.g. train.epochs=3 loss.gaze.enabled=false.
    Multi-GPU / multi-process: torchrun --nproc_per_node N -m gazecxr.cli train ...
    """
    from gazecxr.train.rundir import RunDir
    from gazecxr.train.trainer import train_run

    if (out is None) == (resume is None):
        _fail("give exactly one of --out RUN (new run) or --resume RUN (continue a run)")
    run = resume or out
    assert run is not None
    if config_file is None and resume is None:
        _fail("--config FILE is required for a new run")
    cfg = load_config(config_file or run / "config.yaml", overrides)
    if resume is not None:  # the run's own data unless --data says otherwise (InputError: exit 2)
        cfg = cfg.model_copy(update={"data": RunDir(resume).located(cfg.data, data_root)})
        root: Path | str | None = cfg.data.root
    else:
        root = data_root if data_root is not None else cfg.data.root
    if root is None:
        _fail("no dataset: pass --data ROOT or set data.root in the config")
    argv = [
        "gazecxr",
        "train",
        "--data",
        str(root),
        *(["--config", str(config_file)] if config_file else []),
        "--resume" if resume else "--out",
        str(run),
        *overrides,
    ]
    train_run(cfg, root, run, resume=resume is not None, argv=argv)
    click.echo(f"run written to {run}")


@click.command()
@click.option("--run", "run", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--data",
    "data_root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset root; default: the run's data.root.",
)
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "validate", "test"]))
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the full result here.",
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--no-gradcam", is_flag=True, help="Skip Grad-CAM maps (faster).")
def evaluate(
    run: Path, data_root: Path | None, split: str, json_file: Path | None, device: str, no_gradcam: bool
) -> None:
    """Evaluate a trained run on a split at its saved thresholds (95% CIs over patients)."""
    from gazecxr.errors import InputError
    from gazecxr.train.checkpoint import CheckpointError
    from gazecxr.train.evaluate import evaluate_run, headline

    try:
        result = evaluate_run(run, data_root, split, device=device, gradcam=False if no_gradcam else None)
    except InputError:
        raise  # one line, exit 2 (gazecxr.cli)
    except (CheckpointError, ValueError) as exc:
        _fail(str(exc))
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        write_text(json_file, json.dumps(result, indent=2, default=str))
    for key, value in headline(result).items():
        click.echo(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    click.echo(f"counts: {result['counts']}")


# Shared by `ablate` and `demo`: the run seeds of a sweep start at K.
first_seed_option = click.option(
    "--first-seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Runs are trained with seeds K .. K+N-1 (N: --seeds, or the demo profile's); 3 replicates seeds 0-2 on 3-5.",
)


@click.command()
@click.option(
    "--data", "data_root", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--config",
    "ablation_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ablation YAML (a file, or a shipped name such as ablation.yaml): experiment config + "
    "variants as overrides.",
)
@click.option("--seeds", default=3, show_default=True, type=int, help="Seeds per variant.")
@first_seed_option
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--variants", default=None, help="Comma-separated subset of variants (default: all).")
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs trained at the same time, each in its own process (e.g. several small runs sharing one GPU).",
)
@click.option(
    "--plan",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Do not train: write DIR/tasks.jsonl (one task per run, run by this Python), DIR/slurm.sbatch, "
    "DIR/collect.sh and the resolved configs, for a cluster scheduler.",
)
@click.option("--only", default=None, metavar="VARIANT:SEED", help="Run just this one run (a cluster task).")
@click.argument("overrides", nargs=-1)
def ablate(
    data_root: Path,
    ablation_file: Path,
    seeds: int,
    first_seed: int,
    out: Path,
    variants: str | None,
    jobs: int,
    plan: Path | None,
    only: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Run the ablation variants over several seeds; writes OUT/ablation.{md,json}.

    Finished runs are reused and interrupted ones resumed, so the command can be rerun.
    OVERRIDES (key=value) apply to every variant. On a cluster: --plan DIR writes one command per
    run (each an --only task) and a SLURM array script; rerunning without --plan collects.
    """
    from gazecxr.train.ablate import Sweep, plan_ablation, run_ablation, run_only

    chosen = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    sweep = Sweep.of(
        ablation_file,
        data_root,
        out,
        seeds=seeds,
        variants=chosen,
        overrides=overrides,
        first_seed=first_seed,
    )
    if plan is not None:
        tasks = plan_ablation(sweep, plan)
        click.echo(
            f"wrote {tasks} (run task K: python -m gazecxr.train.sweep {tasks} K), "
            f"{plan / 'slurm.sbatch'}, {plan / 'collect.sh'}, the configs and commands.txt"
        )
    elif only is not None:
        run_only(sweep, only)
    else:
        run_ablation(sweep, jobs=jobs)
        click.echo((out / "ablation.md").read_text(encoding="utf-8"))


PREDICT_OUTPUTS = {
    "json": "{}.json",
    "attention": "{}_attention.npy",
    "overlay": "{}_overlay.png",
    "attention_per_label": "{}_attention_per_label.npy",
}


@click.command()
@click.option("--run", "run", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--device", default="cpu", show_default=True)
@click.option(
    "--max-pixels",
    default=None,
    type=click.IntRange(1),
    help="Refuse images declaring more pixels, from their header (default: the run's data.max_image_pixels).",
)
@anatomy_model_option
def predict(
    run: Path,
    images: tuple[Path, ...],
    out: Path,
    device: str,
    max_pixels: int | None,
    anatomy_model: Path | None,
) -> None:
    """Image-only inference for JPG/PNG/DICOM files.

    Writes OUT/<name>.json (probabilities, positive labels at the run's thresholds, attention
    map path, the 17 anatomy boxes of the anatomy localiser (--anatomy-model, else
    report.anatomy_model, else the shipped one) with each region's source ("model",
    "lung-anchored" or "atlas") and confidence), OUT/<name>_attention.npy and OUT/<name>_overlay.png per image, <name> derived from
    the image's path so that no two inputs share outputs and none overwrites an input or the
    manifest, and OUT/manifest.json mapping every input predicted into OUT to its outputs (or
    its failure), updated as each result lands. Unreadable files are reported with their path and
    reason in OUT/failed.json (which describes this run only); the others are still processed;
    the exit status is 1 if any failed.
    """
    from gazecxr.anatomy.localiser import find_anatomy
    from gazecxr.data.images import ImageReadError
    from gazecxr.data.outputs import BatchOutputs
    from gazecxr.runinfo import write_json_atomic, write_npy_atomic
    from gazecxr.train.predict import Predictor, prediction_record, write_overlay

    predictor = Predictor.from_run(run, device=device)  # CheckpointError: one line, exit 2
    if max_pixels is not None:
        predictor.max_pixels = max_pixels
    localiser = chosen_localiser(anatomy_model, predictor.cfg.report.anatomy_model)
    batch = BatchOutputs(out, list(images), PREDICT_OUTPUTS)
    for path, files in zip(images, batch.files, strict=True):
        try:
            radiograph = predictor.read(path, display_side=512)
            pred = predictor.predict_radiograph(radiograph)
            pred.anatomy = find_anatomy(radiograph.display, localiser, None, radiograph.model_input)
        except ImageReadError as exc:
            batch.failed(path, files, exc.reason)
            click.echo(f"FAILED {path}: {exc.reason}", err=True)
            continue
        if pred.class_attention is None:  # no per-label maps: none left from an earlier model either
            files.pop("attention_per_label").unlink(missing_ok=True)
        else:
            write_npy_atomic(files["attention_per_label"], pred.class_attention)
        write_npy_atomic(files["attention"], pred.attention)
        write_overlay(radiograph.display, pred.attention, files["overlay"])
        record = prediction_record(
            pred, files["attention"], files["overlay"], files.get("attention_per_label")
        )
        write_json_atomic(files["json"], record)
        batch.done(path, files)  # the manifest, as results land
        click.echo(f"{path}: {', '.join(pred.positive) or 'no finding above threshold'}")
    click.echo(f"{batch.written} of {len(images)} images predicted into {out} (manifest.json)")
    if batch.close():
        sys.exit(1)
