"""An install that works outside the checkout: build the wheel, install it into a fresh venv
(reusing the already-installed dependencies, offline) and run a tiny demo from a temporary
directory with no source tree in sight (issue 13, item 6)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", OMP_NUM_THREADS="1")
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)], tmp_path, env
    )
    (wheel,) = dist.glob("gazecxr-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    # The fresh venv sees the dependencies already installed here (after its own site-packages,
    # whose .pth files the dependency folder's editable hook of this checkout never joins).
    fresh_site = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env
        ).strip()
    )
    (fresh_site / "_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([*pip, "--python", str(py), "install", "--no-deps", "-q", str(wheel)], tmp_path, env)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(py), "-c", "import gazecxr; print(gazecxr.__file__)"], work, env).strip()
    assert where.startswith(str(venv)), where  # the wheel, not the checkout
    gazecxr = str(venv / "bin" / "gazecxr")
    listed = _run([gazecxr, "configs", "list"], work, env)
    assert "synthetic.yaml" in listed and "synth/default.yaml" in listed
    _run([gazecxr, "configs", "show", "demo.yaml", "--out", "copy.yaml"], work, env)
    assert "data:" in (work / "copy.yaml").read_text()
    _run([gazecxr, "-q", "demo", "--tiny", "--out", "demo_out"], work, env, timeout=900)
    assert (work / "demo_out" / "index.html").is_file() and (work / "demo_out" / "summary.json").is_file()
