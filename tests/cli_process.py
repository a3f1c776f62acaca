"""The ``gazecxr`` command line in a fresh process (a helper, not tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def gazecxr(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the ``gazecxr`` command line in a fresh process (its own torch, OpenMP settings)."""
    return subprocess.run(
        [sys.executable, "-m", "gazecxr.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_tiny_demo(out: Path) -> dict[str, Any]:
    """``gazecxr demo --tiny --out OUT`` as ``make demo`` runs it (seconds, numbers meaningless);
    its summary.json, after checking it ran cleanly."""
    proc = gazecxr("-q", "demo", "--tiny", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Study report:" in proc.stdout and "macro AUROC" in proc.stdout
    assert "Traceback" not in proc.stderr
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))
