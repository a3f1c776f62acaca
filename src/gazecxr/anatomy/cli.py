"""``gazecxr anatomy train | cv | eval | sensitivity | locate``: the 17-region anatomy localiser."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gazecxr.errors import InputError
from gazecxr.runinfo import write_json_atomic, write_text

PATH = click.Path(path_type=Path)
DIR = click.Path(file_okay=False, path_type=Path)


def _config(config: str | None, overrides: tuple[str, ...]):  # noqa: ANN202 - AnatomyConfig
    from gazecxr.anatomy.config import AnatomyConfig
    from gazecxr.config import load_config

    return load_config(config or "anatomy", overrides, model=AnatomyConfig)


def _sources(data: tuple[Path, ...], coco: tuple[Path, ...]) -> list[dict]:
    from gazecxr.anatomy.train import read_sources

    return read_sources(data, coco)


def _where(data: tuple[Path, ...], coco: tuple[Path, ...]) -> str:
    return ", ".join(str(p) for p in (*coco, *data)) or "no --coco / --data"


def _enough(
    samples: list[dict], data: tuple[Path, ...], coco: tuple[Path, ...], folds: int | None = None
) -> None:
    """InputError (one line) when the sources cannot train a localiser or fill the folds."""
    if len(samples) < 2:
        raise InputError(
            f"{_where(data, coco)}: {len(samples)} usable image(s) with boxes; the localiser needs at "
            "least 2 (its in-domain score fits their distribution)"
        )
    patients = len({s["group"] for s in samples})
    if folds is not None and patients < folds:
        raise InputError(
            f"{_where(data, coco)}: {patients} patient(s) for {folds}-fold cross-validation; give images "
            f"of at least {folds} patients, or --set folds=N with N from 2 to the number of patients"
        )


config_option = click.option("--config", default=None, help="Config file or shipped name [anatomy].")
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key."
)
data_option = click.option(
    "--data", multiple=True, type=DIR, help="Dataset root with EyeGaze / REFLACX boxes (repeatable)."
)
coco_option = click.option(
    "--coco", multiple=True, type=PATH, help="COCO box file, e.g. real lung boxes (repeatable)."
)
reference_option = click.option(
    "--regions-from-lungs",
    "reference",
    type=DIR,
    default=None,
    help="Dataset root with the 17 EyeGaze boxes: score the regions a box file lacks against the boxes "
    "their mean geometry places from its true lungs (../shared/tools/anatomy_regions_check.py).",
)


def _reference(reference: Path | None):  # noqa: ANN202 - LungLayout | None
    from gazecxr.anatomy.evaluate import reference_layout

    return reference_layout(reference) if reference is not None else None


anatomy_model_option = click.option(
    "--anatomy-model",
    type=DIR,
    default=None,
    help="Anatomy localiser directory for images without their own boxes "
    "[report.anatomy_model, else the shipped one].",
)


def chosen_localiser(option: Path | None, configured: str | None):  # noqa: ANN201 - Localiser
    """The localiser of ``--anatomy-model``, else of ``report.anatomy_model``, else the shipped one
    (LocaliserError, one line, when it cannot be loaded)."""
    from gazecxr.anatomy.localiser import Localiser

    return Localiser.load(option if option is not None else configured)


@click.group()
def anatomy() -> None:
    """The anatomy localiser: the 17 EyeGaze regions found on any radiograph."""


@anatomy.command()
@data_option
@coco_option
@click.option("--out", required=True, type=DIR)
@config_option
@set_option
def train(
    data: tuple[Path, ...], coco: tuple[Path, ...], out: Path, config: str | None, overrides: tuple[str, ...]
) -> None:
    """Train a localiser on every box of the sources; write the model directory OUT."""
    from gazecxr.anatomy.train import train_localiser

    cfg = _config(config, overrides)
    samples = _sources(data, coco)
    _enough(samples, data, coco)
    train_localiser(samples, cfg, out, extra={"data": [str(d) for d in data], "coco": [str(c) for c in coco]})
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    click.echo(f"trained on {metrics['training_images']} images -> {out}")


@anatomy.command()
@coco_option
@data_option
@click.option(
    "--extra-data", multiple=True, type=DIR, help="Dataset root used for training in every fold only."
)
@click.option(
    "--extra-coco", multiple=True, type=PATH, help="COCO file used for training in every fold only."
)
@click.option("--json", "json_out", type=PATH, default=None, help="Also write the results as JSON.")
@reference_option
@config_option
@set_option
def cv(
    coco: tuple[Path, ...],
    data: tuple[Path, ...],
    extra_data: tuple[Path, ...],
    extra_coco: tuple[Path, ...],
    json_out: Path | None,
    reference: Path | None,
    config: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Patient-grouped cross-validation on the --coco / --data boxes (each fold printed, then the
    pooled per-region table)."""
    from gazecxr.anatomy.evaluate import cross_validate

    cfg = _config(config, overrides)
    layout = _reference(reference)
    evaluated = _sources(data, coco)
    _enough(evaluated, data, coco, folds=cfg.folds)
    extra = _sources(extra_data, extra_coco) if extra_data or extra_coco else []
    result = cross_validate(evaluated, extra, cfg, reference=layout)
    for f in result["folds"]:
        click.echo(_line(f"fold {f['fold']} ({f['images']} images, {f['patients']} patients)", f))
    _table(result["pooled"])
    click.echo(_line("pooled", result["pooled"]))
    if json_out:
        write_text(json_out, json.dumps(result, indent=2))


def _table(summary: dict) -> None:
    click.echo(f"{'region':<28} {'n':>5} {'mean IoU':>9} {'IoU>=0.5':>9} {'anchored':>9}")
    for region, m in summary["regions"].items():
        share = m["anchored"] / m["n"] if m["n"] else 0.0
        click.echo(f"{region:<28} {m['n']:>5} {m['mean_iou']:>9.3f} {m['hit_rate']:>9.1%} {share:>9.1%}")


def _line(title: str, summary: dict) -> str:
    lungs, others = summary.get("lungs"), summary.get("non_lung")
    parts = [f"{title}: mean IoU over regions {summary['mean_iou']:.3f}"]
    if lungs:
        parts.append(f"lungs {lungs['mean_iou']:.3f}, {lungs['hit_rate']:.1%} at IoU >= 0.5 (n={lungs['n']})")
    if others:
        parts.append(
            f"other regions {others['mean_iou']:.3f} (lowest {others['lowest_region']} "
            f"{others['lowest_iou']:.3f}), boxes over 60% of the image {others['large_boxes']}/{others['boxes']}"
        )
    return "; ".join(parts)


@anatomy.command(name="eval")
@click.option("--model", "model_dir", type=DIR, default=None, help="Model directory [the shipped localiser].")
@data_option
@coco_option
@click.option(
    "--split", default="test", show_default=True, help="Split of a --data root ('all' for every image)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@reference_option
def evaluate_cmd(
    model_dir: Path | None,
    data: tuple[Path, ...],
    coco: tuple[Path, ...],
    split: str,
    as_json: bool,
    reference: Path | None,
) -> None:
    """Per-region mean IoU and share at IoU >= 0.5 of the boxes a localiser uses, on --data or
    --coco boxes."""
    from gazecxr.anatomy.evaluate import evaluate
    from gazecxr.anatomy.localiser import Localiser

    if not data and not coco:
        raise click.UsageError("give --data ROOT and/or --coco FILE")
    localiser = Localiser.load(model_dir)
    layout = _reference(reference)
    samples = [s for s in (_sources(data, ()) if data else []) if split == "all" or s["split"] == split]
    samples += _sources((), coco) if coco else []
    result = evaluate(localiser, samples, reference=layout)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _table(result)
    click.echo(
        _line(f"{result['images']} images ({result['fallback']} would fall back to the atlas)", result)
    )
    for f in result["failed"]:
        click.echo(f"FAILED {f['path']}: {f['reason']}", err=True)


@anatomy.command()
@coco_option
@reference_option
@click.option(
    "--sd",
    "sds",
    default="0,0.02,0.04,0.06,0.08,0.1",
    show_default=True,
    help="Comma-separated lung-edge errors to try, as a share of the lung's width / height.",
)
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(1), help="Draws per image.")
def sensitivity(coco: tuple[Path, ...], reference: Path | None, sds: str, repeats: int) -> None:
    """What lung accuracy the other 15 regions need: the true lungs of --coco moved by random edge
    errors, the other regions placed from them and scored as `anatomy eval --regions-from-lungs`
    scores a localiser (one line per error size)."""
    from gazecxr.anatomy.evaluate import lung_error_sensitivity

    if not coco or reference is None:
        raise click.UsageError("give --coco FILE (boxes with both lungs) and --regions-from-lungs ROOT")
    try:
        values = [float(v) for v in sds.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"{sds!r} is not a comma-separated list of numbers", param_hint="--sd"
        ) from None
    if any(v < 0 for v in values):
        raise click.BadParameter("errors must be >= 0", param_hint="--sd")
    samples, layout = _sources((), coco), _reference(reference)
    try:
        rows = lung_error_sensitivity(samples, layout, values, repeats)
    except ValueError as exc:
        raise InputError(f"{_where((), coco)}: {exc}") from None
    for row in rows:
        click.echo(_line(f"edge error sd {row['sd']:.3f} of the lung", row))


@anatomy.command()
@click.argument("images", nargs=-1, required=True, type=PATH)
@click.option("--model", "model_dir", type=DIR, default=None, help="Model directory [the shipped localiser].")
@click.option("--out", required=True, type=DIR)
@click.option(
    "--max-pixels", default=None, type=click.IntRange(1), help="Refuse images declaring more pixels."
)
def locate(images: tuple[Path, ...], model_dir: Path | None, out: Path, max_pixels: int | None) -> None:
    """Write OUT/<name>.json (boxes, per-region source and confidence, image-level source) per image;
    unreadable files are reported
    in OUT/failed.json, the others processed, and the exit status is 1 if any failed."""
    from gazecxr.anatomy.localiser import Localiser
    from gazecxr.data.images import DEFAULT_MAX_PIXELS, ImageReadError, read_radiograph
    from gazecxr.data.outputs import BatchOutputs

    localiser = Localiser.load(model_dir)
    batch = BatchOutputs(out, list(images), {"json": "{}.json"})
    for path, files in zip(images, batch.files, strict=True):
        try:
            radiograph = read_radiograph(
                path, localiser.cfg.image_size, 512, max_pixels or DEFAULT_MAX_PIXELS
            )
        except ImageReadError as exc:
            batch.failed(path, files, exc.reason)
            click.echo(f"FAILED {path}: {exc.reason}", err=True)
            continue
        anatomy = localiser.locate(radiograph.display, radiograph.model_input)
        record = {"image": str(path), "size": list(radiograph.size), **anatomy.to_dict()}
        write_json_atomic(files["json"], record)
        batch.done(path, files)
        click.echo(f"{path}: {anatomy.source}" + (f" ({anatomy.note})" if anatomy.note else ""))
    click.echo(f"{batch.written} of {len(images)} images located into {out} (manifest.json)")
    if batch.close():
        sys.exit(1)
