"""Lenient CSV reading for the dataset tables, with every problem recorded.

The files come from three writers: MIMIC-Eye (pandas, leading unnamed index column), REFLACX
(byte copies with CRLF line ends) and EGD-CXR (multi-line quoted text fields). Python's ``csv``
module handles all of them and is much faster than pandas for the tens of thousands of tiny
per-reading files of a full tree. Values stay strings; :meth:`Table.num` converts columns.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The largest table of the real releases (EGD-CXR's fixations.csv) is tens of MB; a file beyond
# this is refused before parsing (a 2 GB sparse fixations.csv cost 4.2 GB of memory).
MAX_TABLE_BYTES = 2**30

csv.field_size_limit(1 << 26)


@dataclass(frozen=True)
class Problem:
    """One problem found in a dataset tree (``path`` relative to the root): ``count`` rows or
    values of that file have it (1 for a problem of the whole file)."""

    path: str
    kind: str
    detail: str
    count: int = 1

    def as_dict(self) -> dict[str, str | int]:
        return {"path": self.path, "kind": self.kind, "detail": self.detail, "count": self.count}


@dataclass
class ProblemLog:
    """Problems of one dataset root; paths are stored relative to ``root``."""

    root: Path
    items: list[Problem] = field(default_factory=list)

    def add(self, path: str | Path, kind: str, detail: str, count: int = 1) -> None:
        p = Path(path)
        try:
            rel = p.relative_to(self.root).as_posix() if p.is_absolute() else p.as_posix()
        except ValueError:
            rel = p.as_posix()
        self.items.append(Problem(rel, kind, detail, int(count)))


@dataclass
class Table:
    """A CSV as header + string rows (ragged rows padded with "")."""

    path: Path
    columns: list[str]
    rows: list[list[str]]

    def __len__(self) -> int:
        return len(self.rows)

    def missing(self, names: Iterable[str]) -> list[str]:
        have = set(self.columns)
        return [n for n in names if n not in have]

    def col(self, name: str) -> list[str]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def num(self, name: str) -> np.ndarray:
        """(N,) float64 of a column; empty or unparsable cells are NaN."""
        out = np.full(len(self.rows), np.nan)
        i = self.columns.index(name)
        for k, r in enumerate(self.rows):
            try:
                out[k] = float(r[i])
            except ValueError:
                pass
        return out

    def records(self) -> Iterator[dict[str, str]]:
        for r in self.rows:
            yield dict(zip(self.columns, r, strict=True))

    def subset(self, keep: list[int]) -> Table:
        return Table(self.path, self.columns, [self.rows[i] for i in keep])


def read_table(
    path: Path,
    problems: ProblemLog,
    *,
    required: Iterable[str] = (),
    allow_empty: bool = True,
    report_missing: bool = True,
) -> Table | None:
    """Read a CSV (or ``.csv.gz``) leniently.

    Returns ``None`` (with a recorded problem) when the file is missing, empty (no header),
    undecodable, or lacks a ``required`` column. A header-only file is returned as an empty
    table, and recorded as ``header_only`` unless ``allow_empty``. A leading unnamed index
    column (MIMIC-Eye's pandas writer) is dropped; CRLF and a UTF-8 BOM are accepted.
    """
    if not path.is_file():
        if report_missing:
            problems.add(path, "missing_file", "expected file is absent")
        return None
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:  # parsed whole into lists of strings: several times its size
        problems.add(
            path,
            "too_large",
            f"{size / 2**30:.1f} GiB is far beyond any table of these datasets (limit "
            f"{MAX_TABLE_BYTES / 2**30:.0f} GiB); not read",
        )
        return None
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        problems.add(path, "unreadable_csv", f"{type(exc).__name__}: {exc}")
        return None
    if not header or all(not h.strip() for h in header):
        problems.add(path, "empty_csv", "file has no header line")
        return None
    header = [h.strip() for h in header]
    drop_first = header[0] in ("", "Unnamed: 0")
    if drop_first:
        header = header[1:]
    width = len(header)
    ragged = 0
    out_rows: list[list[str]] = []
    for r in rows:
        if not r or (len(r) == 1 and not r[0].strip()):
            continue  # blank line (e.g. a trailing CRLF pair)
        if drop_first:
            r = r[1:]
        if len(r) != width:
            ragged += 1
            r = (r + [""] * width)[:width]
        out_rows.append(r)
    if ragged:
        problems.add(
            path, "ragged_rows", f"{ragged} row(s) with a field count different from the header ({width})"
        )
    table = Table(path, header, out_rows)
    missing = table.missing(required)
    if missing:
        problems.add(path, "missing_columns", f"missing column(s): {', '.join(missing)}")
        return None
    if not out_rows and not allow_empty:
        problems.add(path, "header_only", "file has a header but no rows")
    return table
