"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

# Before torch is imported (here or in subprocesses the tests start): OpenMP threads that
# busy-wait fight each other when several test processes share two cores; measured by the
# viewer engineer, a small forward pass took 2.17 s with the default policy and 0.033 s passive.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real public data); tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only present in the project workspace)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory holding an untrained model (prediction does not need a trained one);
    thresholds 0.30, 0.35, ... per label."""
    from tiny_runs import LABELS, write_untrained_run

    return write_untrained_run(
        tmp_path_factory.mktemp("untrained_run"), {n: 0.3 + 0.05 * i for i, n in enumerate(LABELS)}
    )


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """summary.json of the session's tiny demo (``gazecxr demo --tiny``, a real process as ``make
    demo`` runs it; seconds, numbers meaningless), with ``out`` added; run once per session."""
    from cli_process import run_tiny_demo

    out = tmp_path_factory.mktemp("demo")
    return {**run_tiny_demo(out), "out": str(out)}
