"""``gazecxr configs list | show NAME``: the versioned configs that ship with the package.

A ``pip install`` user has no checkout: ``gazecxr configs show mimic-eye-paper.yaml --out my.yaml``
copies a shipped config out to edit; every ``--config`` option also takes a shipped name directly.
"""

from __future__ import annotations

from pathlib import Path

import click

from gazecxr.config import SHIPPED_CONFIGS, find_config, read_yaml, shipped_configs
from gazecxr.errors import InputError
from gazecxr.runinfo import write_text


@click.group(name="configs")
def configs() -> None:
    """List the shipped configs, or print / copy one out."""


@configs.command("list")
def list_() -> None:
    """Print the name and first comment line of every shipped config."""
    for name in shipped_configs():
        lines = (SHIPPED_CONFIGS / name).read_text(encoding="utf-8").splitlines()
        about = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("#")), "")
        click.echo(f"{name:32s} {about}")


@configs.command("show")
@click.argument("name")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it to FILE instead of printing."
)
@click.option("--force", is_flag=True, help="With --out: replace FILE if it exists.")
def show(name: str, out: Path | None, force: bool) -> None:
    """Print the shipped config NAME (e.g. synthetic.yaml, synth/default.yaml), or copy it to --out.

    A config that starts from another (``base:``) is written with the chain resolved, so the copy
    stands on its own.
    """
    path = find_config(name)  # ConfigError: one line naming the shipped configs
    text = path.read_text(encoding="utf-8")
    if out is None:
        click.echo(text, nl=False)
        return
    if "base:" in text:
        import yaml

        text = f"# {path.name} as shipped with gazecxr, its base: chain resolved\n" + yaml.safe_dump(
            read_yaml(path), sort_keys=False
        )
    if out.exists() and not force:
        raise InputError(f"{out}: exists; pass --force to replace it (your edits would be lost)")
    write_text(out, text)
    click.echo(f"wrote {out}")
