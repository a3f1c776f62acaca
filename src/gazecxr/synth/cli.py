"""``gazecxr synth OUT``: write a synthetic MIMIC-Eye-format cohort."""

from __future__ import annotations

from pathlib import Path

import click

from gazecxr.config import load_config
from gazecxr.synth.config import SynthConfig


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--studies", type=int, default=None, help="Number of studies (one frontal image each). [config: 200]"
)
@click.option(
    "--seed", type=int, default=None, help="Random seed; same seed and config -> byte-identical tree."
)
@click.option(
    "--image-size", type=int, default=None, help="Long side of frontal images in pixels (real: ~3000). [512]"
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML file with SynthConfig keys (e.g. configs/synth/default.yaml).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, e.g. --set confounder.p_positive=0.8 (repeatable).",
)
@click.option("--no-confounders", is_flag=True, help="Write a cohort without the shortcut confounder.")
@click.option(
    "--workers", type=int, default=None, help="Worker processes (0 = auto). Output does not depend on it."
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it holds a synthetic cohort.")
@click.option(
    "--layout",
    type=click.Choice(["mimic-eye", "reflacx", "egd"]),
    default="mimic-eye",
    show_default=True,
    help="mimic-eye: the MIMIC-Eye tree; reflacx / egd: the stand-alone release as PhysioNet ships it "
    "(OUT/reflacx-xray-localization/1.0.0 or OUT/egd-cxr/1.0.0) next to OUT/mimic-cxr-jpg/2.0.0.",
)
def synth(
    out: Path,
    studies: int | None,
    seed: int | None,
    image_size: int | None,
    config_path: Path | None,
    overrides: tuple[str, ...],
    no_confounders: bool,
    workers: int | None,
    overwrite: bool,
    layout: str,
) -> None:
    """Write a synthetic cohort in the exact MIMIC-Eye layout (or a stand-alone release) to OUT.

    Phantom radiographs with drawn findings, simulated REFLACX and EyeGaze readings (fixations,
    raw gaze, dictations), MIMIC-style reports and label tables, plus OUT/synthetic/ground_truth.jsonl
    and OUT/synthetic/cohort.json (prevalence, confounder statistics, off-image fixation counts).
    """
    cli = [
        f"{k}={v}"
        for k, v in (("studies", studies), ("seed", seed), ("image_size", image_size))
        if v is not None
    ]
    if no_confounders:
        cli.append("confounder.enabled=false")
    cfg = load_config(config_path, [*overrides, *cli], model=SynthConfig)
    from gazecxr.synth.writer import write_cohort  # heavy imports only when running

    try:
        summary = write_cohort(out, cfg, overwrite=overwrite, workers=workers, layout=layout)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    gaze = summary.cohort["gaze"]
    click.echo(
        f"{summary.out}: {summary.patients} patients, {summary.studies} studies, {summary.images} images, "
        f"{summary.reflacx_readings} REFLACX readings, {summary.eyegaze_images} EyeGaze images; "
        f"{gaze['reflacx_off_image'] + gaze['eyegaze_off_image']} off-image and "
        f"{gaze['reflacx_outside_crop']} outside-crop fixations (deliberate); {summary.seconds:.1f} s"
    )
    if "releases" in summary.cohort:
        rel = summary.cohort["releases"]
        extra = f", {rel['calibration_rows']} calibration rows" if "calibration_rows" in rel else ""
        click.echo(f"{layout} release: {out / rel['root']} next to {out / rel['cxr_root']}{extra}")
