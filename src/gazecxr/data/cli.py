"""``gazecxr data check ROOT``: validate a dataset tree and list every problem found."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import click

from gazecxr.data.config import DataConfig
from gazecxr.data.images import ImageReadError, load_image
from gazecxr.data.index import DatasetIndex, build_index
from gazecxr.data.tables import ProblemLog, read_table
from gazecxr.gaze.fixations import raw_gaze_samples
from gazecxr.log import progress_disabled
from gazecxr.runinfo import write_text

log = logging.getLogger("gazecxr.data")


def deep_check(index: DatasetIndex) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Decode every image and parse every REFLACX raw ``gaze.csv`` (slow; the index does neither).

    Returns (problems as dicts, counts ``images_unreadable``, ``gaze_samples``, ``gaze_blink_samples``).
    """
    from tqdm import tqdm

    problems = ProblemLog(index.root)
    images = sorted(set(index.readings["image_path"]))
    unreadable = 0
    for path in tqdm(images, desc="images", disable=progress_disabled()):
        try:
            load_image(path, draft_size=64)
        except ImageReadError as exc:
            unreadable += 1
            problems.add(path, "unreadable_image", exc.reason)
    samples = blinks = 0
    for path in tqdm(
        sorted({p for p in index.readings["gaze_path"] if p and Path(p).name == "gaze.csv"}),
        desc="raw gaze",
        disable=progress_disabled(),
    ):
        table = read_table(Path(path), problems, allow_empty=False)
        if table is None:
            continue
        try:
            arr, blank = raw_gaze_samples(table)
        except KeyError as exc:
            problems.add(path, "missing_columns", str(exc))
            continue
        samples += len(arr)
        blinks += blank
    counts = {"images_unreadable": unreadable, "gaze_samples": samples, "gaze_blink_samples": blinks}
    return [p.as_dict() for p in problems.items], counts


def check_report(index: DatasetIndex, deep: bool = False) -> dict[str, Any]:
    """The ``data check`` result: counts (docs/data.md) + ``problems`` (path, kind, detail)."""
    report: dict[str, Any] = {
        "root": str(index.root),
        "layout": index.layout,
        "placement": index.placement,
        **index.stats(),
        "eyegaze_gaze_clock": index.gaze_clock(),
    }
    problems = [p.as_dict() for p in index.problems]
    if deep:
        extra, counts = deep_check(index)
        problems += extra
        report.update(counts)
    report["problems"] = problems
    return report


@click.group(name="data")
def data() -> None:
    """Inspect and validate dataset roots (MIMIC-Eye, REFLACX, EGD-CXR, synthetic)."""


@data.command("check")
@click.argument("root", type=click.Path(path_type=Path))
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary and problems as JSON to FILE.",
)
@click.option(
    "--layout",
    type=click.Choice(["auto", "mimic-eye", "reflacx", "egd"]),
    default="auto",
    show_default=True,
    help="Dataset layout.",
)
@click.option(
    "--cxr-root",
    type=click.Path(path_type=Path),
    default=None,
    help="MIMIC-CXR-JPG folder for the reflacx / egd layouts (default: searched).",
)
@click.option("--deep", is_flag=True, help="Also decode every image and parse every raw gaze file (slow).")
@click.option("--no-cache", is_flag=True, help="Rebuild the index without reading or writing the cache.")
def check(
    root: Path, json_path: Path | None, layout: str, cxr_root: Path | None, deep: bool, no_cache: bool
) -> None:
    """Validate the dataset tree at ROOT: print a summary and every problem found.

    Exit status 0 when the tree could be read (problems are listed, not fatal); 2 with a
    one-line reason when ROOT is not a dataset root. ROOT may be a MIMIC-Eye root, the
    REFLACX release root or its main_data/, or the EGD-CXR release root.
    """
    cfg = DataConfig(layout=layout, cxr_root=str(cxr_root.resolve()) if cxr_root else None)  # type: ignore[arg-type]
    index = build_index(root, cfg, use_cache=not no_cache)  # DatasetRootError: one line, exit 2
    report = check_report(index, deep)
    counts = {k: v for k, v in report.items() if isinstance(v, int)}
    counts["problems"] = len(report["problems"])
    click.echo(f"{report['root']} ({report['layout']} layout: {report['placement']})")
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        click.echo(f"  {key:<{width}}  {value}")
    gc = report["eyegaze_gaze_clock"]
    if gc["clock"] != "none":
        click.echo(
            f"EyeGaze gaze clock: {gc['clock']} {gc['images']}, onsets from {gc['onset_source']}; "
            f"{gc['images_rebased']} image(s) re-based to their onset (docs/data.md, 'The EyeGaze clock')"
        )
    if report["problems"]:
        kinds = Counter(p["kind"] for p in report["problems"])
        click.echo("problems by kind (files): " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        for p in report["problems"]:
            click.echo(f"  [{p['kind']}] {p['path']}: {p['detail']}")
    if json_path is not None:
        write_text(json_path, json.dumps(report, indent=2))
        click.echo(f"wrote {json_path}")
