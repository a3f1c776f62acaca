"""Provenance of a run: every run directory records how it was made.

``init_run_dir`` writes ``config.yaml`` (the resolved config) and ``run.json`` (seed, package
versions, git revision, command line, host, start time). ``write_metrics`` adds ``metrics.json``.
A table in a paper can thus be traced back to the exact command, code and config that made it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gazecxr.config import save_config

TRACKED_PACKAGES = (
    "gazecxr",
    "torch",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "monai",
    "pydicom",
    "pillow",
)


def package_versions(names: Sequence[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_revision(path: str | Path | None = None) -> str | None:
    """Commit of the source tree (with ``-dirty`` when it has uncommitted changes), or None."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write through a temporary file beside ``path`` and rename, so readers never see half a
    file. The temporary name is unique to this writer (two processes writing one file never
    share it) and is removed when the write fails (a full disk leaves no ``.tmp`` behind); the
    OSError is raised as it came (the CLI turns it into one line naming the path)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the user's umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``os.umask`` can only
    be read by setting it, a race with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write a user-named output (``--json FILE``, ``--out FILE``), making its folder; an OSError
    names ``path`` even where the system did not (a full disk is seen only when the file is
    closed), so the CLI's one line says which file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def write_npy_atomic(path: str | Path, array: Any) -> None:
    """Write a ``.npy`` file atomically (:func:`write_bytes_atomic`)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    write_bytes_atomic(path, buf.getvalue())


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON atomically (:func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str).encode("utf-8"))


def write_tensors_atomic(path: str | Path, tensors: Mapping[str, Any], metadata: dict[str, str]) -> None:
    """Write tensors as safetensors atomically. The bytes are written by Python, so the file gets
    the user's umask like every other file of the run (safetensors' own ``save_file`` makes it
    0600: a checkpoint nobody else in the group can read)."""
    from safetensors.torch import save

    write_bytes_atomic(path, save(dict(tensors), metadata=metadata))


def run_record(seed: int, argv: Sequence[str] | None = None, extra: Mapping[str, Any] | None = None) -> dict:
    return {
        "seed": seed,
        "command": list(sys.argv if argv is None else argv),
        "cwd": os.getcwd(),
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "git_revision": git_revision(),
        "versions": package_versions(),
        **dict(extra or {}),
    }


def init_run_dir(
    out: str | Path,
    cfg: BaseModel,
    seed: int,
    argv: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Create ``out`` and write ``config.yaml`` + ``run.json`` into it. Returns the directory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    write_json_atomic(out / "run.json", run_record(seed, argv, extra))
    return out


def write_metrics(run_dir: str | Path, metrics: Mapping[str, Any], name: str = "metrics.json") -> Path:
    path = Path(run_dir) / name
    write_json_atomic(path, dict(metrics))
    return path
