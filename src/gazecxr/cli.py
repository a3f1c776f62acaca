"""Command-line interface: ``gazecxr VERB ...``.

Each verb is implemented next to its code (``gazecxr/<package>/cli.py``) and loaded lazily, so
``gazecxr --help`` is instant and a verb whose module is absent says so instead of pretending.
"""

from __future__ import annotations

import errno
import importlib
import sys

import click

from gazecxr import __version__
from gazecxr.errors import InputError
from gazecxr.extras import missing_extra
from gazecxr.log import setup_logging
from gazecxr.schema import ConfigError

# verb -> (module, attribute, one-line help shown before the module is imported)
VERBS: dict[str, tuple[str, str, str]] = {
    "synth": ("gazecxr.synth.cli", "synth", "Write a synthetic MIMIC-Eye-format cohort."),
    "data": ("gazecxr.data.cli", "data", "Inspect and validate dataset roots (data check ROOT)."),
    "train": ("gazecxr.train.cli", "train", "Train a (gaze-supervised) classifier."),
    "evaluate": ("gazecxr.train.cli", "evaluate", "Evaluate a trained run on a split."),
    "ablate": ("gazecxr.train.cli", "ablate", "Run the ablation variants over several seeds."),
    "predict": ("gazecxr.train.cli", "predict", "Image-only inference for JPG/PNG/DICOM files."),
    "anatomy": (
        "gazecxr.anatomy.cli",
        "anatomy",
        "Anatomy localiser: train, cv, eval, locate the 17 regions.",
    ),
    "report": ("gazecxr.report.cli", "report", "Write a region-aware report for an image."),
    "report-eval": ("gazecxr.report.cli", "report_eval", "Evaluate report writers on real reports."),
    "label": ("gazecxr.report.cli", "label", "Label report text with the rule-based labeler."),
    "demo": ("gazecxr.demo.cli", "demo", "End-to-end demo on the synthetic cohort."),
    "serve": ("gazecxr.viewer.cli", "serve", "Local web viewer and HTTP API."),
    "configs": ("gazecxr.configs_cli", "configs", "List the shipped configs; show or copy one out."),
}


def _not_available(name: str, short_help: str, reason: str) -> click.Command:
    @click.command(
        name=name,
        help=f"{short_help}\n\nNOT AVAILABLE YET: {reason}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def _cmd() -> None:
        click.echo(f"gazecxr {name}: not available yet ({reason}).", err=True)
        sys.exit(2)

    _cmd.short_help = f"[not available yet] {short_help}"
    return _cmd


class _InputFailure(click.ClickException):
    """An :class:`InputError` as a one-line ``Error: ...`` with exit status 2 (no traceback)."""

    exit_code = 2


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error: the path(s) it names and what the system said."""
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    what = exc.strerror or type(exc).__name__
    hint = "; free some space or choose another --out" if exc.errno == errno.ENOSPC else ""
    return f"{where or 'file system'}: {what}{hint}"


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in VERBS:
            return None
        module_name, attr, short_help = VERBS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only a missing implementation module means "not available"; a missing optional
            # extra is one line naming it; any other missing dependency is a real error.
            if (extra := missing_extra(exc, f"gazecxr {name}")) is not None:
                raise _InputFailure(str(extra)) from None
            if exc.name != module_name:
                raise
            return _not_available(name, short_help, f"{module_name} is not implemented in this version")
        command = getattr(module, attr, None)
        if not isinstance(command, click.Command):
            return _not_available(
                name, short_help, f"{module_name}.{attr} is not implemented in this version"
            )
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Show the static help lines without importing every module.
        rows = [(name, help_) for name, (_, _, help_) in VERBS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click signature
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(f"configuration error:\n{exc}") from None
        except InputError as exc:
            raise _InputFailure(str(exc)) from None
        except ImportError as exc:  # an optional extra that is not installed: one line, exit 2
            if (extra := missing_extra(exc, f"gazecxr {ctx.invoked_subcommand}")) is None:
                raise
            raise _InputFailure(str(extra)) from None
        except OSError as exc:  # unreadable input, unwritable or full output, of any verb
            raise _InputFailure(os_error_line(exc)) from None
        except RuntimeError as exc:  # Python < 3.13: Path.resolve() on a symlink loop
            if not str(exc).startswith("Symlink loop"):
                raise
            raise _InputFailure(f"{str(exc).removeprefix('Symlink loop from ')}: a symlink loop") from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gazecxr")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(quiet: bool, verbose: bool) -> None:
    """GazeCXR: gaze-supervised chest X-ray classification and region-aware reports.

    Stage 1 trains an image classifier whose attention is supervised by radiologists' gaze
    (MIMIC-Eye: REFLACX + EyeGaze); Stage 2 writes region-aligned reports from its output.
    Every verb runs on the synthetic MIMIC-Eye-format cohort (`gazecxr synth`) as well.
    """
    setup_logging(-1 if quiet else (1 if verbose else 0))


if __name__ == "__main__":  # pragma: no cover
    main()
