"""``gazecxr anatomy train | cv | eval | locate``: the 17-region anatomy localiser."""

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
@config_option
@set_option
def cv(
    coco: tuple[Path, ...],
    data: tuple[Path, ...],
    extra_data: tuple[Path, ...],
    extra_coco: tuple[Path, ...],
    json_out: Path | None,
    config: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Patient-grouped cross-validation on the --coco / --data boxes (each fold printed)."""
    from gazecxr.anatomy.evaluate import cross_validate

    cfg = _config(config, overrides)
    evaluated = _sources(data, coco)
    _enough(evaluated, data, coco, folds=cfg.folds)
    extra = _sources(extra_data, extra_coco) if extra_data or extra_coco else []
    result = cross_validate(evaluated, extra, cfg)
    for f in result["folds"]:
        click.echo(_line(f"fold {f['fold']} ({f['images']} images, {f['patients']} patients)", f))
    click.echo(_line("pooled", result["pooled"]))
    if json_out:
        write_text(json_out, json.dumps(result, indent=2))


def _line(title: str, summary: dict) -> str:
    lungs = summary.get("lungs")
    parts = [f"{title}: mean IoU over regions {summary['mean_iou']:.3f}"]
    if lungs:
        parts.append(f"lungs {lungs['mean_iou']:.3f}, {lungs['hit_rate']:.1%} at IoU >= 0.5 (n={lungs['n']})")
    return "; ".join(parts)


@anatomy.command(name="eval")
@click.option("--model", "model_dir", type=DIR, default=None, help="Model directory [the shipped localiser].")
@data_option
@coco_option
@click.option(
    "--split", default="test", show_default=True, help="Split of a --data root ('all' for every image)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def evaluate_cmd(
    model_dir: Path | None, data: tuple[Path, ...], coco: tuple[Path, ...], split: str, as_json: bool
) -> None:
    """Per-region mean IoU and share at IoU >= 0.5 of a localiser on --data or --coco boxes."""
    from gazecxr.anatomy.evaluate import evaluate
    from gazecxr.anatomy.localiser import Localiser

    if not data and not coco:
        raise click.UsageError("give --data ROOT and/or --coco FILE")
    localiser = Localiser.load(model_dir)
    samples = [s for s in (_sources(data, ()) if data else []) if split == "all" or s["split"] == split]
    samples += _sources((), coco) if coco else []
    result = evaluate(localiser, samples)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{'region':<28} {'n':>5} {'mean IoU':>9} {'IoU>=0.5':>9}")
    for region, m in result["regions"].items():
        click.echo(f"{region:<28} {m['n']:>5} {m['mean_iou']:>9.3f} {m['hit_rate']:>9.1%}")
    click.echo(
        _line(f"{result['images']} images ({result['fallback']} would fall back to the atlas)", result)
    )
    for f in result["failed"]:
        click.echo(f"FAILED {f['path']}: {f['reason']}", err=True)


@anatomy.command()
@click.argument("images", nargs=-1, required=True, type=PATH)
@click.option("--model", "model_dir", type=DIR, default=None, help="Model directory [the shipped localiser].")
@click.option("--out", required=True, type=DIR)
@click.option(
    "--max-pixels", default=None, type=click.IntRange(1), help="Refuse images declaring more pixels."
)
def locate(images: tuple[Path, ...], model_dir: Path | None, out: Path, max_pixels: int | None) -> None:
    """Write OUT/<name>.json (boxes, confidence, source) per image; unreadable files are reported
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
        location = localiser.locate(radiograph.display, radiograph.model_input)
        record = {"image": str(path), "size": list(radiograph.size), **location.to_dict()}
        write_json_atomic(files["json"], record)
        batch.done(path, files)
        click.echo(f"{path}: {location.source}" + (f" ({location.reason})" if location.reason else ""))
    click.echo(f"{batch.written} of {len(images)} images located into {out} (manifest.json)")
    if batch.close():
        sys.exit(1)
