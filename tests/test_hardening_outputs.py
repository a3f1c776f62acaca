"""Unwritable or full output is one line naming the path, exit 2, for every verb (issue 21, item 9).

Before: predict, train, evaluate, data check, anatomy locate, ablate --plan, report, configs and
synth ended in tracebacks; a full disk left a 12.9 MB `.tmp` checkpoint; `configs show --out`
overwrote an existing file. (The tests run as root, so a parent that is a file stands in for a
folder that cannot be written: both are OSErrors raised where the output is made.)
"""

# ruff: noqa: F811 - pytest passes the imported ``run`` fixture by parameter name

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gazecxr.cli import main
from gazecxr.runinfo import write_bytes_atomic
from image_files import png
from tiny_runs import TINY, write_tiny_tree

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_tree(tmp_path_factory.mktemp("tree") / "t")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gazecxr.synth.config import SynthConfig
    from gazecxr.synth.writer import write_cohort

    out = tmp_path_factory.mktemp("cohort") / "c"
    write_cohort(out, SynthConfig(studies=12, seed=1, image_size=128), workers=1)
    return out


def _one_line_exit_2(result, where: str) -> None:  # noqa: ANN001 - click's Result
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and where in lines[0], result.output


@pytest.mark.parametrize(
    "verb",
    [
        "predict",
        "evaluate",
        "data check",
        "anatomy locate",
        "ablate --plan",
        "report --cohort",
        "synth",
        "train",
        "configs show",
    ],
)
def test_an_output_that_cannot_be_made_is_one_line(
    run: Path, tree: Path, cohort: Path, tmp_path: Path, verb: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bad = blocker / "sub"  # its parent is a file: NotADirectoryError where the output is made
    image = str(png(tmp_path / "x.png", 0.5))
    args = {
        "predict": ["predict", "--run", str(run), image, "--out", str(bad)],
        "evaluate": ["evaluate", "--run", str(run), "--data", str(tree), "--no-gradcam", "--json", str(bad)],
        "data check": ["data", "check", str(tree), "--json", str(bad)],
        "anatomy locate": ["anatomy", "locate", image, "--out", str(bad)],
        "ablate --plan": [
            "ablate",
            "--data",
            str(tree),
            "--config",
            "ablation.yaml",
            "--out",
            str(tmp_path / "o"),
            "--plan",
            str(bad),
        ],
        "report --cohort": [
            "report",
            "--run",
            str(run),
            "--cohort",
            str(cohort),
            "--limit",
            "2",
            "--json",
            str(bad),
        ],
        "synth": ["synth", str(bad), "--studies", "2"],
        "train": [
            "train",
            "--data",
            str(tree),
            "--config",
            "synthetic.yaml",
            "--out",
            str(bad),
            *TINY,
        ],
        "configs show": ["configs", "show", "synthetic.yaml", "--out", str(bad)],
    }[verb]
    _one_line_exit_2(CliRunner().invoke(main, ["-q", *args]), str(blocker))


def test_a_full_disk_is_one_line_saying_so(tree: Path) -> None:
    result = CliRunner().invoke(main, ["-q", "data", "check", str(tree), "--json", "/dev/full"])
    _one_line_exit_2(result, "/dev/full")
    assert "No space left" in result.output and "free some space" in result.output


def test_a_failed_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.safetensors"
    target.mkdir()  # the rename onto it fails, as a write onto a full disk would
    with pytest.raises(OSError):
        write_bytes_atomic(target, b"x" * 1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.safetensors"]


def test_configs_show_out_does_not_overwrite_a_file(tmp_path: Path) -> None:
    mine = tmp_path / "my.yaml"
    mine.write_text("my edits\n")
    result = CliRunner().invoke(main, ["configs", "show", "synthetic.yaml", "--out", str(mine)])
    _one_line_exit_2(result, str(mine))
    assert mine.read_text() == "my edits\n" and "--force" in result.output
    assert (
        CliRunner()
        .invoke(main, ["configs", "show", "synthetic.yaml", "--out", str(mine), "--force"])
        .exit_code
        == 0
    )
    assert "data:" in mine.read_text()
