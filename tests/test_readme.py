"""The README's Python example runs as written (from a scratch folder holding configs/)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_readme_python_example_runs(repo_root: Path, tmp_path: Path) -> None:
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- tests/test_readme.py runs this block -->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its tested Python example"
    shutil.copytree(repo_root / "configs", tmp_path / "configs")
    (tmp_path / "example.py").write_text(match.group(1), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "FINDINGS" in out.stdout and "auroc" in out.stdout
