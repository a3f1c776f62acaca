"""MIMIC-CXR(-JPG) tables: image metadata, CheXpert labels and the official split.

Inside MIMIC-Eye they are per patient (``patient_*/CXR-JPG/cxr_{meta,chexpert,split}.csv``, with
pandas' unnamed index column); next to the stand-alone releases they are the MIMIC-CXR-JPG
version root's ``mimic-cxr-2.0.0-{metadata,chexpert,split}.csv`` or ``.csv.gz``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gazecxr.data import labels as label_table
from gazecxr.data.tables import ProblemLog, Table, read_table


def normal_id(text: str | None) -> str:
    """Normalise an integer-like id cell ('18111516', '18111516.0'; anything else as is)."""
    t = (text or "").strip()
    if t.endswith(".0") and t[:-2].isdigit():
        return t[:-2]
    return t


def report_duplicates(table: Table, key: str, problems: ProblemLog, what: str, normalise=str.strip) -> None:
    """One ``duplicate_row`` problem per table with keys listed more than once (first kept)."""
    counts = Counter(normalise(v) for v in table.col(key))
    dup = {k: n for k, n in counts.items() if k and n > 1}
    if dup:
        example = next(iter(dup))
        problems.add(
            table.path,
            "duplicate_row",
            f"{len(dup)} {what} listed more than once (e.g. {example!r}, {dup[example]} times); "
            "the first row of each is used",
            count=sum(n - 1 for n in dup.values()),
        )


def report_label_ranges(
    table: Table, ranges: dict[str, frozenset[float]], problems: ProblemLog, what: str
) -> None:
    """One ``label_out_of_range`` problem per table: label cells that are neither empty nor in
    their column's allowed values ``ranges`` (they are read as unknown, i.e. masked)."""
    bad = label_table.out_of_range(table, {c: a for c, a in ranges.items() if c in table.columns})
    if bad:
        col, value = bad[0]
        problems.add(
            table.path,
            "label_out_of_range",
            f"{len(bad)} {what} label value(s) outside their range (e.g. {col}={value!r}, allowed "
            f"{sorted(ranges[col])}); read as unknown (masked)",
            count=len(bad),
        )


@dataclass
class CxrTables:
    """MIMIC-CXR(-JPG) tables for some patients: image metadata, CheXpert labels, official split."""

    meta: dict[str, dict[str, str]] = field(default_factory=dict)  # dicom_id -> cxr_meta row
    chexpert: dict[str, dict[str, str]] = field(default_factory=dict)  # study_id -> row
    split: dict[str, str] = field(default_factory=dict)  # dicom_id -> train/validate/test
    patient_dir: Path | None = None  # MIMIC-Eye: patient_*/ ; else None (MIMIC-CXR-JPG tree)
    cxr_root: Path | None = None

    def fill(
        self, meta: Table | None, chexpert: Table | None, split: Table | None, problems: ProblemLog
    ) -> None:
        """Add the rows of the three tables; duplicates and bad label values are reported."""
        if meta is not None:
            report_duplicates(meta, "dicom_id", problems, "dicom_id(s)")
            for rec in meta.records():
                self.meta.setdefault(rec["dicom_id"].strip(), rec)
        if chexpert is not None:
            report_duplicates(chexpert, "study_id", problems, "study_id(s)", normal_id)
            report_label_ranges(
                chexpert,
                dict.fromkeys(label_table.CHEXPERT_COLUMNS, label_table.CHEXPERT_VALUES),
                problems,
                "CheXpert",
            )
            for rec in chexpert.records():
                self.chexpert.setdefault(normal_id(rec["study_id"]), rec)
        if split is not None:
            report_duplicates(split, "dicom_id", problems, "dicom_id(s)")
            for rec in split.records():
                self.split.setdefault(rec["dicom_id"].strip(), rec["split"].strip())

    def image_path(self, subject: str, study: str, dicom: str) -> Path:
        if self.patient_dir is not None:
            return self.patient_dir / "CXR-JPG" / f"s{study}" / f"{dicom}.jpg"
        assert self.cxr_root is not None
        return self.cxr_root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"

    def report_path(self, subject: str, study: str) -> Path:
        if self.patient_dir is not None:
            return self.patient_dir / "CXR-DICOM" / f"s{study}.txt"
        assert self.cxr_root is not None
        rel = Path(f"p{subject[:2]}") / f"p{subject}" / f"s{study}.txt"
        for base in (
            self.cxr_root / "files",
            self.cxr_root / "reports" / "files",
            self.cxr_root.parent / "files",
        ):
            if (base / rel).is_file():
                return base / rel
        return self.cxr_root / "files" / rel


def find_csv(folder: Path, pattern: str) -> Path | None:
    """First ``pattern.csv`` or ``pattern.csv.gz`` in ``folder`` (sorted), or None."""
    hits = sorted(list(folder.glob(pattern + ".csv")) + list(folder.glob(pattern + ".csv.gz")))
    return hits[0] if hits else None


def read_patient_tables(patient_dir: Path, problems: ProblemLog) -> CxrTables:
    """MIMIC-Eye ``patient_*/CXR-JPG/cxr_{meta,chexpert,split}.csv``."""
    tables = CxrTables(patient_dir=patient_dir)
    jpg = patient_dir / "CXR-JPG"
    tables.fill(
        read_table(jpg / "cxr_meta.csv", problems, required=("dicom_id", "study_id")),
        read_table(jpg / "cxr_chexpert.csv", problems, required=("study_id",)),
        read_table(jpg / "cxr_split.csv", problems, required=("dicom_id", "split")),
        problems,
    )
    return tables


def read_cxr_root(cxr_root: Path, problems: ProblemLog) -> CxrTables:
    """The MIMIC-CXR-JPG version root's metadata, CheXpert and split tables (``.csv[.gz]``)."""
    tables = CxrTables(cxr_root=cxr_root)
    parts: list[Table | None] = []
    for pattern, required in (
        ("*metadata", ("dicom_id", "study_id")),
        ("*chexpert", ("study_id",)),
        ("*split", ("dicom_id", "split")),
    ):
        path = find_csv(cxr_root, pattern)
        if path is None:
            problems.add(cxr_root / f"{pattern}.csv", "missing_file", "MIMIC-CXR-JPG table not found")
            parts.append(None)
        else:
            parts.append(read_table(path, problems, required=required))
    tables.fill(*parts, problems)
    return tables
