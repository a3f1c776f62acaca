"""One source for every number (issue 22): what README and docs quote from a benchmark is what its
``benchmarks/results/*.json`` says, and docs link only to files of the repository."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from quoted import render  # noqa: E402 - the benchmarks folder is not a package


def test_readme_speed_paragraph_is_the_one_the_results_files_give() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert render(readme) == readme, (
        "README's benchmark block is stale: run python benchmarks/quoted.py --write"
    )


def test_docs_link_only_to_files_in_the_repository() -> None:
    """A clone has no ../shared: facts from there are stated in the project's own docs."""
    for doc in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)", text):  # markdown links
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), (
                f"{doc.relative_to(REPO)} links to {target}, not in the repository"
            )
        assert "../shared/docs" not in text, (
            f"{doc.relative_to(REPO)} points at ../shared/docs, which a clone lacks"
        )
