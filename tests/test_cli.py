from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from gazecxr import __version__
from gazecxr.cli import VERBS, main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_every_verb_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for verb in VERBS:
        assert verb in top.output
        result = runner.invoke(main, [verb, "--help"])
        assert result.exit_code == 0, (verb, result.output)
        assert "Usage" in result.output


def test_console_script_installed() -> None:
    out = subprocess.run([sys.executable, "-m", "gazecxr.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
