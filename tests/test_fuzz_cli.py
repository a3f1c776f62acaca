"""Every verb against odd arguments (issue 21): no traceback, no hang, an exit status of 0, 1 or 2.

The odd arguments stand for what a careless user or an attacker passes: paths that do not exist,
are FIFOs, folders where files are expected (and the reverse), symlink loops, names over 255
bytes, empty strings and values with control characters.
"""

# ruff: noqa: F811 - pytest passes the imported ``run`` fixture by parameter name

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from gazecxr.cli import main


@pytest.fixture(scope="module")
def odd_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("fuzz")
    os.mkfifo(d / "fifo")
    os.symlink(d / "loop-b", d / "loop-a")
    os.symlink(d / "loop-a", d / "loop-b")
    (d / "folder").mkdir()
    (d / "file.txt").write_text("text, not what was asked for\n")
    (d / "empty").write_bytes(b"")
    return {
        "missing": str(d / "missing"),
        "fifo": str(d / "fifo"),
        "loop": str(d / "loop-a"),
        "folder": str(d / "folder"),
        "file": str(d / "file.txt"),
        "empty": str(d / "empty"),
        "long": str(d / ("n" * 300)),
        "blank": "",
        "control": "a\nb\x1b",
    }


VERBS = {
    "data check": lambda p, r: ["data", "check", p],
    "train --data": lambda p, r: ["train", "--data", p, "--config", "synthetic.yaml", "--out", p + "-run"],
    "train --config": lambda p, r: ["train", "--data", p, "--config", p, "--out", p + "-run"],
    "train --resume": lambda p, r: ["train", "--resume", p],
    "evaluate --run": lambda p, r: ["evaluate", "--run", p],
    "evaluate --data": lambda p, r: ["evaluate", "--run", r, "--data", p],
    "ablate": lambda p, r: ["ablate", "--data", p, "--config", p, "--out", p + "-abl"],
    "predict image": lambda p, r: ["predict", "--run", r, p, "--out", p + "-out"],
    "predict --run": lambda p, r: ["predict", "--run", p, p, "--out", p + "-out"],
    "anatomy locate": lambda p, r: ["anatomy", "locate", p, "--out", p + "-loc"],
    "anatomy train": lambda p, r: ["anatomy", "train", "--coco", p, "--out", p + "-m"],
    "anatomy eval": lambda p, r: ["anatomy", "eval", "--coco", p],
    "report image": lambda p, r: ["report", "--run", r, p],
    "report --cohort": lambda p, r: ["report", "--run", r, "--cohort", p],
    "report-eval": lambda p, r: [
        "report-eval",
        "--reports",
        p,
        "--retrieval-corpus",
        p,
        "--json",
        p + ".json",
    ],
    "label --file": lambda p, r: ["label", "--file", p],
    "configs show": lambda p, r: ["configs", "show", p],
    "synth": lambda p, r: ["synth", p, "--studies", "1"],
    "serve": lambda p, r: ["serve", "--run", p, "--port", "0"],
}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("verb", sorted(VERBS))
def test_no_verb_crashes_or_hangs_on_odd_arguments(
    run: Path, odd_paths: dict, verb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # "" and control-character paths are relative: keep them here
    for kind, path in odd_paths.items():
        result = CliRunner().invoke(main, ["-q", *VERBS[verb](path, str(run))])
        assert "Traceback" not in result.output, (verb, kind, result.output[-2000:])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            verb,
            kind,
            repr(result.exception),
        )
        assert result.exit_code in (0, 1, 2), (verb, kind, result.exit_code, result.output[-500:])
