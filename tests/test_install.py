"""tools/install.py (the set-up of make demo / make test): pip's index settings reach uv, and pip
is used when uv cannot be had. Checked against the output format of this machine's `pip config
list` (captured 2026-12-03); the installs themselves are timed in docs/training.md."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "install.py"
PIP_CONFIG = """:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
"""


@pytest.fixture()
def install():  # noqa: ANN201 - the tool's module
    spec = importlib.util.spec_from_file_location("install_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_pip_settings_become_uv_options(install, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(install, "pip", lambda *a: subprocess.CompletedProcess(a, 0, PIP_CONFIG, ""))
    assert install.pip_settings() == {
        "find-links": ["/opt/wheels", "/opt/wheels"],
        "constraint": ["/etc/xdg/pip/constraints.txt"],
        "extra-index-url": ["file:///opt/pypi/simple", "file:///opt/pypi-more/simple"],
    }
    calls: list[list[str]] = []
    monkeypatch.setattr(install, "uv_binary", lambda: "/x/uv")
    monkeypatch.setattr(
        install.subprocess,
        "run",
        lambda args, **k: calls.append(args) or subprocess.CompletedProcess(args, 0),
    )
    assert install.main(".[dev]") == 0
    (uv,) = calls
    assert uv[:3] == ["/x/uv", "pip", "install"] and uv[-2:] == ["-e", ".[dev]"]
    assert uv.count("--find-links") == 1 and "file:///opt/pypi-more/simple" in uv
    assert uv[uv.index("--constraint") + 1] == "/etc/xdg/pip/constraints.txt"


def test_pip_installs_when_uv_cannot_be_had_or_is_refused(install, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    calls: list[list[str]] = []
    monkeypatch.setattr(
        install.subprocess,
        "run",
        lambda args, **k: calls.append(args) or subprocess.CompletedProcess(args, 0),
    )
    monkeypatch.setattr(install, "uv_binary", lambda: None)
    assert install.main(".[dev]") == 0 and calls[-1][1:4] == ["-m", "pip", "--disable-pip-version-check"]
    monkeypatch.setattr(install, "uv_binary", lambda: pytest.fail("uv asked for"))
    monkeypatch.setenv("GAZECXR_INSTALLER", "pip")
    assert install.main(".[dev]") == 0 and "pip" in calls[-1]
    # uv present but failing: pip still installs
    monkeypatch.delenv("GAZECXR_INSTALLER")
    monkeypatch.setattr(install, "uv_binary", lambda: "/x/uv")
    monkeypatch.setattr(install, "pip_settings", dict)
    results = iter([1, 0])
    monkeypatch.setattr(
        install.subprocess,
        "run",
        lambda args, **k: calls.append(args) or subprocess.CompletedProcess(args, next(results)),
    )
    assert install.main(".[dev]") == 0 and calls[-2][0] == "/x/uv" and "pip" in calls[-1][1:3]
