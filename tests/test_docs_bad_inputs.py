"""docs/bad-inputs.md stays true: every test it names exists (and so runs in this suite)."""

from __future__ import annotations

import re
from pathlib import Path


def test_every_test_named_in_the_bad_input_table_exists(repo_root: Path) -> None:
    text = (repo_root / "docs" / "bad-inputs.md").read_text(encoding="utf-8")
    refs = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", text)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(refs) >= len(rows) >= 20
    assert all("tests/" in row for row in rows), "every row names its test"
    for path, name in refs:
        source = (repo_root / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.M), (
            f"{path}::{name} named in docs/bad-inputs.md is gone"
        )
