"""Where ``gazecxr predict`` writes: per-input file names that collide with nothing, and a
manifest that is true at every moment.

- Each input gets ``<name>.json``, ``<name>_attention.npy``, ``<name>_overlay.png`` (and
  ``<name>_attention_per_label.npy``), ``<name>`` from :func:`gazecxr.data.images.output_names`,
  bumped (``-2``, ``-3``, ...) while any of those would be ``manifest.json`` or ``failed.json``, or
  would overwrite one of the inputs (``predict d/a.png d/a_overlay.png --out d``).
- ``manifest.json`` maps every input to its outputs or its failure. It is updated as each result
  lands (read, merged by input path, written to a temporary name and renamed, under an exclusive
  lock on ``.manifest.lock``), so an interrupted run leaves a manifest listing what it wrote, and
  two runs into one folder both keep their entries.
- A failed input's outputs from an earlier run are removed, so nothing in the folder contradicts
  the manifest.
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

PATTERNS = {
    "json": "{}.json",
    "attention": "{}_attention.npy",
    "overlay": "{}_overlay.png",
    "attention_per_label": "{}_attention_per_label.npy",
}
RESERVED = ("manifest.json", "failed.json")


def output_files(images: list[Path], out: Path) -> list[dict[str, Path]]:
    """Per input, the paths of its outputs under ``out`` (module docstring)."""
    inputs = {_where(p) for p in images}
    taken: set[str] = set()
    result = []
    for base in output_names(images):
        name, k = base, 1
        while True:
            files = {kind: out / pattern.format(name) for kind, pattern in PATTERNS.items()}
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
    """Add or replace (by ``entry["input"]``) one entry of ``out/manifest.json``, atomically."""
    path = out / "manifest.json"
    with _locked(out):
        try:
            entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        except (OSError, ValueError):
            entries = []  # an unreadable manifest (not ours, or cut short) is replaced
        if not isinstance(entries, list):
            entries = []
        entries = [e for e in entries if not (isinstance(e, dict) and e.get("input") == entry["input"])]
        write_json_atomic(path, [*entries, entry])


def remove_outputs(files: dict[str, Path]) -> None:
    """Delete an input's output files left by an earlier run (after it failed this time)."""
    for f in files.values():
        f.unlink(missing_ok=True)
