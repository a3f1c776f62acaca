"""The on-disk cache of a dataset index: where it lives, what keys it, how it is written.

The cache is keyed by the index format version, the layout, the reading options, where ROOT is
(the index holds absolute file paths, so a moved or copied tree, which carries its
``.gazecxr-cache`` along, must not reuse them) and a fingerprint (path, size, mtime) of every file
under ROOT, plus the MIMIC-CXR-JPG tables for the stand-alone layouts: any change to the tree
rebuilds it. Writes are atomic, so concurrent
builders (e.g. DDP ranks) never leave or read half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gazecxr.data.config import DataConfig
from gazecxr.data.layout import Layout, find_cxr_root
from gazecxr.data.tables import Problem

log = logging.getLogger("gazecxr.data")

INDEX_VERSION = 6  # bump when the same tree would give a different index


def _walk_files(root: Path) -> Iterator[os.DirEntry[str]]:
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue  # the cache folder and other hidden files
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                try:
                    regular = entry.is_file()
                except OSError:  # a symlink loop: not data (the reader reports it as a problem)
                    continue
                if regular:
                    yield entry


def tree_fingerprint(root: Path) -> str:
    """sha1 over (relative path, size, mtime) of every non-hidden file under ``root``."""
    prefix = len(str(root)) + 1  # scandir paths start with str(root) + separator
    items = []
    for e in _walk_files(root):
        st = e.stat()
        items.append(f"{e.path[prefix:]}\0{st.st_size}\0{st.st_mtime_ns}")
    items.sort()
    return hashlib.sha1("\n".join(items).encode()).hexdigest()


def cache_dir_for(root: Path, cfg: DataConfig) -> Path:
    """``data.cache_dir`` / <root hash>, else ``ROOT/.gazecxr-cache`` when writable, else
    ``~/.cache/gazecxr/<root hash>``."""
    tag = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    if cfg.cache_dir:
        return Path(cfg.cache_dir).expanduser() / tag
    local = root / ".gazecxr-cache"
    if os.access(root, os.W_OK):
        return local
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gazecxr" / tag


def cache_key(layout: Layout, cfg: DataConfig) -> str:
    parts: dict[str, Any] = {
        "version": INDEX_VERSION,
        "layout": layout.name,
        "placement": layout.placement,
        "sources": sorted(cfg.sources),
        "threshold": cfg.certainty_threshold,
        "cxr_root": cfg.cxr_root,
        "root": str(layout.root.resolve()),
        "tree": tree_fingerprint(layout.root),
    }
    if layout.name != "mimic-eye":
        # The MIMIC-CXR-JPG tables (not its 377k images) are inputs of the index too.
        cxr = find_cxr_root(layout.root, cfg.cxr_root)
        parts["cxr_root_found"] = str(cxr)
        parts["cxr_tables"] = sorted(
            (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in cxr.glob("*.csv*")
        )
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@dataclass
class CachedIndex:
    rows: pd.DataFrame
    fixations: np.ndarray
    extras: list[dict[str, Any]]
    problems: list[Problem]


def load(folder: Path, key: str) -> CachedIndex | None:
    meta_path = folder / "index.json"
    fix_path = folder / f"fixations-{key[:16]}.npy"
    if not meta_path.is_file() or not fix_path.is_file():
        return None
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        fix = np.load(fix_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("index cache %s unreadable (%s); rebuilding", folder, exc)
        return None
    problems = [Problem(**p) for p in data["problems"]]
    return CachedIndex(pd.DataFrame(data["rows"]), fix, data["extras"], problems)


def save(folder: Path, key: str, index: CachedIndex) -> None:
    """Write the cache atomically (process-unique temporary names, then rename). The fixations
    file is named by the key and written first; ``index.json`` (which names the key) commits it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fix_path = folder / f"fixations-{key[:16]}.npy"
        tmp_fix = folder / f".fixations-{key[:16]}-{os.getpid()}.npy"
        np.save(tmp_fix, index.fixations, allow_pickle=False)
        os.replace(tmp_fix, fix_path)
        tmp = folder / f".index-{os.getpid()}.json"
        payload = {
            "key": key,
            "rows": index.rows.to_dict(orient="list"),
            "extras": index.extras,
            "problems": [p.as_dict() for p in index.problems],
        }
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, folder / "index.json")
        for old in folder.glob("fixations-*.npy"):
            if old != fix_path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not write the index cache to %s (%s); the next start rebuilds it", folder, exc)
