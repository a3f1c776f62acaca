"""The output folder of a batch over image files (``gazecxr predict``, ``gazecxr anatomy
locate``): per-input names that collide with nothing, and a manifest true at every moment.

- Each input gets one file per entry of the command's ``patterns`` (``{"json": "{}.json", ...}``),
  ``{}`` being its name from :func:`gazecxr.data.images.output_names`, bumped (``-2``, ``-3``, ...)
  while any of them would be ``manifest.json`` or ``failed.json``, or would overwrite one of the
  inputs (``predict d/a.png d/a_overlay.png --out d``).
- ``manifest.json`` maps every input predicted into the folder (absolute path) to its outputs
  or its failure. It is updated as each result lands (read, merged by input, written to a
  temporary name and renamed, under an exclusive lock on ``.manifest.lock``), so an interrupted
  run leaves a manifest listing what it wrote, and two runs into one folder both keep theirs.
- A failed input's outputs from an earlier run are removed, so nothing contradicts the manifest.
- ``failed.json`` describes the latest run only.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gazecxr.data.images import output_names
from gazecxr.runinfo import write_json_atomic

RESERVED = ("manifest.json", "failed.json")


def output_files(images: list[Path], out: Path, patterns: dict[str, str]) -> list[dict[str, Path]]:
    """Per input, the paths of its outputs under ``out`` by ``patterns`` (module docstring)."""
    inputs = {_where(p) for p in images}
    taken: set[str] = set()
    result = []
    for base in output_names(images):
        name, k = base, 1
        while True:
            files = {kind: out / pattern.format(name) for kind, pattern in patterns.items()}
            clash = any(f.name in RESERVED or _where(f) in inputs for f in files.values())
            if not clash and name not in taken:
                break
            k += 1
            name = f"{base}-{k}"
        taken.add(name)
        result.append(files)
    return result


def _where(path: Path) -> Path:
    """The file ``path`` names, following symlinks where it can (a symlink loop or an unreadable
    link stays as written: reading it will fail and be reported, naming it must not)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    with (out / ".manifest.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record(out: Path, entry: dict[str, Any]) -> None:
    """Add or replace (by ``entry["input"]``) one entry of ``out/manifest.json``, atomically. The
    files an earlier entry of the same input listed and this one does not are removed (a rerun
    may name the input's outputs differently, or fail), so the folder never holds results the
    manifest does not account for."""
    path = out / "manifest.json"
    with _locked(out):
        try:
            entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        except (OSError, ValueError):
            entries = []  # an unreadable manifest (not ours, or cut short) is replaced
        if not isinstance(entries, list):
            entries = []
        mine = [e for e in entries if isinstance(e, dict) and e.get("input") == entry["input"]]
        keep = set(entry.get("outputs", {}).values())
        for old in mine:
            for name in (old.get("outputs") or {}).values():
                if isinstance(name, str) and name not in keep and Path(name).name == name:  # in `out` only
                    (out / name).unlink(missing_ok=True)
        entries = [e for e in entries if not any(e is m for m in mine)]
        write_json_atomic(path, [*entries, entry])


def remove_outputs(files: dict[str, Path]) -> None:
    """Delete an input's output files left by an earlier run (after it failed this time)."""
    for f in files.values():
        f.unlink(missing_ok=True)


class BatchOutputs:
    """The output folder ``out`` of one batch: create it, then per input either :meth:`done`
    (its files written) or :meth:`failed`, and :meth:`close` at the end.

    Attributes:
        files: per input (in order), its output paths by kind.
    """

    def __init__(self, out: Path, images: list[Path], patterns: dict[str, str]) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        (out / "failed.json").unlink(missing_ok=True)  # describes the latest run only
        self.files = output_files(images, out, patterns)
        self._failed: list[dict[str, str]] = []
        self.written = 0

    def done(self, image: Path, files: dict[str, Path]) -> None:
        record(self.out, {"input": os.path.abspath(image), "outputs": {k: v.name for k, v in files.items()}})
        self.written += 1

    def failed(self, image: Path, files: dict[str, Path], reason: str) -> None:
        remove_outputs(files)
        record(self.out, {"input": os.path.abspath(image), "failed": reason})
        self._failed.append({"path": str(image), "reason": reason})

    def close(self) -> bool:
        """Write ``failed.json`` when anything failed; True when something did."""
        if self._failed:
            write_json_atomic(self.out / "failed.json", self._failed)
        return bool(self._failed)
