"""Indiana University (Open-i) chest X-ray reports: reading the CSV and turning MeSH into findings.

``indiana_reports.csv`` columns: ``uid,MeSH,Problems,image,indication,comparison,findings,impression``.
``MeSH`` holds ``;``-separated human-indexed terms, ``Head/qualifier/...`` (``Opacity/lung/base/left``).
A term indexes a dictionary finding when its head equals one of the finding's ``mesh`` entries, or
for ``Head/q`` entries when the head matches and ``q`` is one of its qualifiers; location qualifiers
(side + zone) become regions. This MeSH-derived finding set is the ORACLE input of the IU report
evaluation: it comes from a human reading of the report, not from a classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gazecxr.vocab.dictionary import Dictionary, load_dictionary

REQUIRED_COLUMNS = ("uid", "MeSH", "findings", "impression")
UNINDEXED = {"no indexing", "technical quality of image unsatisfactory"}
# Zone qualifier -> region name pattern ({side} filled with right/left); "sides" when no side is given.
_ZONES: dict[str, tuple[str, tuple[str, ...]]] = {
    "base": ("{side} lower lung zone", ("right", "left")),
    "lower lobe": ("{side} lower lung zone", ("right", "left")),
    "upper lobe": ("{side} upper lung zone", ("right", "left")),
    "apex": ("{side} upper lung zone", ("right", "left")),
    "middle lobe": ("{side} mid lung zone", ("right",)),
    "lingula": ("{side} mid lung zone", ("left",)),
    "hilum": ("{side} hilar structures", ("right", "left")),
    "costophrenic angle": ("{side} costophrenic angle", ("right", "left")),
    "retrocardiac": ("{side} lower lung zone", ("left",)),
    "clavicle": ("{side} clavicle", ("right", "left")),
}


@dataclass
class IUReport:
    """One IU report: ``findings`` / ``impression`` text and the MeSH oracle (finding -> regions)."""

    uid: int
    mesh: str
    findings: str
    impression: str
    oracle: dict[str, tuple[str, ...]]

    @property
    def text(self) -> str:
        return f"{self.findings} {self.impression}".strip()


def mesh_regions(qualifiers: list[str]) -> tuple[str, ...]:
    """Regions named by MeSH location qualifiers (``["lung", "base", "left"]`` -> left lower lung zone)."""
    quals = [q.strip().lower() for q in qualifiers]
    sides: tuple[str, ...] | None = None
    if "bilateral" in quals:
        sides = ("right", "left")
    elif "right" in quals or "left" in quals:
        sides = tuple(s for s in ("right", "left") if s in quals)
    regions: set[str] = set()
    for q in quals:
        if q in _ZONES:
            pattern, default_sides = _ZONES[q]
            regions.update(pattern.format(side=s) for s in (sides or default_sides))
    if not regions and sides:
        regions.update(f"{s} lung" for s in sides)
    return tuple(sorted(regions))


def mesh_to_findings(mesh: str, dictionary: Dictionary | None = None) -> dict[str, tuple[str, ...]]:
    """Dictionary findings indexed by a MeSH string -> regions from its location qualifiers.

    Regions are kept only for findings whose sentences name a location (``locate``).
    """
    d = dictionary or load_dictionary()
    out: dict[str, set[str]] = {}
    for term in str(mesh).split(";"):
        head, *quals = [p.strip() for p in term.split("/")]
        for f in d.findings.values():
            for entry in f.mesh:
                e_head, _, e_qual = entry.partition("/")
                if head.lower() == e_head.lower() and (
                    not e_qual or e_qual.lower() in (q.lower() for q in quals)
                ):
                    out.setdefault(f.name, set()).update(mesh_regions(quals) if f.locate else ())
                    break
    return {k: tuple(sorted(v)) for k, v in out.items()}


def covered_findings(dictionary: Dictionary | None = None) -> list[str]:
    """Findings of the dictionary that MeSH can index (the ones the IU evaluation scores)."""
    d = dictionary or load_dictionary()
    return [f.name for f in d.findings.values() if f.mesh]


def read_iu_reports(path: str | Path, dictionary: Dictionary | None = None) -> list[IUReport]:
    """Read ``indiana_reports.csv``.

    Reports whose MeSH says they were not indexed ("No Indexing", unsatisfactory image) are left
    out, since their MeSH cannot serve as ground truth.

    Raises:
        ValueError: the file is missing or lacks a required column (named in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"IU reports file not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"uid": int})
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot read as CSV: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (expected the indiana_reports.csv layout)")
    out = []
    for row in df.itertuples(index=False):
        mesh = str(row.MeSH) if isinstance(row.MeSH, str) else ""
        if not mesh or {t.strip().split("/")[0].lower() for t in mesh.split(";")} & UNINDEXED:
            continue
        findings = row.findings if isinstance(row.findings, str) else ""
        impression = row.impression if isinstance(row.impression, str) else ""
        out.append(
            IUReport(
                int(row.uid), mesh, findings.strip(), impression.strip(), mesh_to_findings(mesh, dictionary)
            )
        )
    return out
