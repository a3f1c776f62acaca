"""The CSV logs of a run (``log.csv`` per step, ``epochs.csv`` per epoch), safe to resume."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class CsvLog:
    """Append-only CSV keyed by a step column; on resume, rows after the checkpoint are dropped.

    The header grows when a new column appears (the file is then rewritten once).
    """

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key
        self.rows: list[dict[str, Any]] = []
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as f:
                self.rows = list(csv.DictReader(f))
        self.fields: list[str] = list(self.rows[0].keys()) if self.rows else []

    def truncate(self, last_key: int) -> None:
        self.rows = [r for r in self.rows if int(float(r[self.key])) <= last_key]
        self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)

    def append(self, row: Mapping[str, Any]) -> None:
        row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        self.rows.append(dict(row))
        new = [k for k in row if k not in self.fields]
        if new or not self.path.is_file():
            self.fields += new
            self._rewrite()
            return
        with self.path.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.fields, restval="").writerow(row)


class TermWindow:
    """Running means of the loss terms since the last logged step (a term absent from a batch,
    NaN, is left out of its mean rather than counted as 0)."""

    def __init__(self) -> None:
        self._sums: dict[str, list[float]] = {}  # term -> [sum, count]

    def add(self, terms: Mapping[str, float]) -> None:
        for k, v in terms.items():
            if math.isfinite(v):
                acc = self._sums.setdefault(k, [0.0, 0])
                acc[0], acc[1] = acc[0] + v, acc[1] + 1

    def pop_means(self) -> dict[str, float]:
        """The means so far; the window starts again empty."""
        means = {k: s / n for k, (s, n) in self._sums.items()}
        self._sums = {}
        return means
