"""Byte-exact CSV writing for the synthetic tables: every value is formatted here, as a string,
so the bytes written are fully determined by the rows."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    index: bool = False,
    crlf: bool = False,
    start: int = 0,
) -> None:
    """Write rows of pre-formatted strings. ``index`` adds pandas' unnamed index column
    (numbered from ``start``); ``crlf`` ends lines with CRLF (REFLACX byte copies); a ``.gz``
    path is gzip-compressed (mtime 0, so the bytes depend on the rows only).

    Quoting follows :mod:`csv` (minimal). Large numeric tables take a fast path: joined
    directly when no field holds a comma, quote or line break, which gives the same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    eol = "\r\n" if crlf else "\n"
    if index:
        header = ["", *header]
        rows = [[str(start + i), *r] for i, r in enumerate(rows)]
    lines = [",".join(header), *map(",".join, rows)]
    body = "\n".join(lines)
    plain = (
        len(header) > 1
        and all(len(r) == len(header) for r in rows)
        and body.count(",") == len(lines) * (len(header) - 1)
        and body.count("\n") == len(lines) - 1
        and '"' not in body
        and "\r" not in body
    )
    if plain:
        text = eol.join(lines) + eol
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator=eol)
        w.writerow(header)
        w.writerows(rows)
        text = buf.getvalue()
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def _f(v: float | None, digits: int = 3) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _label(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def _fcol(values: np.ndarray, digits: int = 3) -> list[str]:
    """A column of fixed-point strings (NaN -> empty cell); formats Python floats, which is
    several times faster than formatting numpy scalars one by one."""
    fmt = f"{{:.{digits}f}}".format
    return ["" if v != v else fmt(v) for v in np.asarray(values, dtype=np.float64).tolist()]


def _icol(values: np.ndarray) -> list[str]:
    """A column of integers, rounded half to even (NaN -> empty cell)."""
    return ["" if v != v else str(int(v)) for v in np.round(np.asarray(values, dtype=np.float64)).tolist()]
