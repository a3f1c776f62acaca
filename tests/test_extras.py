"""A missing optional extra is one line naming it and the pip command, exit 2 (issue 22).

The wheel's optional dependencies are hidden from a subprocess by an import hook (the plain
wheel without extras, as far as imports go: every other dependency stays importable), then
`serve`, `report-eval` and `report --writer llm` are run as a user would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from gazecxr.extras import EXTRA_OF_MODULE
from tiny_runs import train_tiny, write_tiny_tree

REPO = Path(__file__).resolve().parents[1]
HIDE = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Hide())
from gazecxr.cli import main
sys.argv = ["gazecxr", *sys.argv[1:]]
main()
"""


def test_the_table_covers_every_optional_extra() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("eval", "llm", "viewer"):
        for requirement in extras[extra]:
            dist = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")
            assert (
                EXTRA_OF_MODULE.get(dist) == extra
                or EXTRA_OF_MODULE.get(dist.removeprefix("python_")) == extra
            ), dist


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("extras")
    return train_tiny(write_tiny_tree(base / "tree"), base / "run", "train.epochs=1")


def _without(modules: set[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = HIDE.format(hidden=modules)
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("hidden", "extra", "verb"),
    [
        (
            {"fastapi", "uvicorn", "multipart", "python_multipart"},
            "viewer",
            ["serve", "--run", "{run}", "--port", "0"],
        ),
        (
            {"rouge_score", "bert_score"},
            "eval",
            ["report-eval", "--reports", "{csv}", "--retrieval-corpus", "{csv}", "--json", "o.json"],
        ),
        ({"openai"}, "llm", ["report", "--run", "{run}", "{image}", "--writer", "llm"]),
    ],
    ids=["serve", "report-eval", "report-llm"],
)
def test_a_verb_without_its_extra_is_one_line(
    run: Path, tmp_path: Path, hidden: set, extra: str, verb: list
) -> None:
    image = next((run.parent / "tree").rglob("*.jpg"))
    csv = tmp_path / "reports.csv"
    csv.write_text(
        "uid,MeSH,Problems,image,indication,comparison,findings,impression\n"
        + "".join(f"{k},normal,normal,x,,,The lungs are clear.,No acute disease.\n" for k in range(1, 9))
    )
    args = [a.format(run=run, csv=csv, image=image) for a in verb]
    res = _without(hidden, args, tmp_path)
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]  # beside log lines
    assert len(errors) == 1, res.stderr[-3000:]
    (line,) = errors
    assert f"pip install 'gazecxr[{extra}]'" in line and "not installed" in line
