"""MIMIC-CXR free-text reports (``CXR-DICOM/s{study_id}.txt``) split into sections."""

from __future__ import annotations

import re
from pathlib import Path

# A section header: start of line, upper-case words (and spaces / slashes), then a colon.
_HEADER = re.compile(r"^\s*([A-Z][A-Z /&-]{2,40}):", re.MULTILINE)


def parse_report(text: str) -> dict[str, str]:
    """Report text -> {section name (lower case): text}.

    Section names are those present (``examination``, ``indication``, ``technique``,
    ``comparison``, ``findings``, ``impression``, ...); whitespace inside a section is collapsed.
    Text before the first header (after ``FINAL REPORT``) is returned under ``preamble`` when
    non-empty. De-identification marks (``___``) are kept.
    """
    text = text.replace("\r\n", "\n")
    matches = list(_HEADER.finditer(text))
    sections: dict[str, str] = {}
    head = re.sub(r"\s+", " ", text[: matches[0].start() if matches else len(text)])
    head = head.replace("FINAL REPORT", "").strip()
    if head:
        sections["preamble"] = head
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        body = re.sub(r"\s+", " ", text[m.end() : end]).strip()
        name = m.group(1).strip().lower()
        sections[name] = f"{sections[name]} {body}".strip() if name in sections else body
    return sections


def report_text(sections: dict[str, str]) -> str:
    """The text a model may read: FINDINGS + IMPRESSION when present, else everything."""
    main = [sections[k] for k in ("findings", "impression") if sections.get(k)]
    return " ".join(main) if main else " ".join(sections.values())


def reference_report(image_path: str, study_id: str) -> str:
    """FINDINGS and IMPRESSION of the study's report (MIMIC-Eye ``patient_*/CXR-DICOM/s{study}.txt``).

    Returns "" when the tree has no report for the study.
    """
    path = Path(image_path).parents[2] / "CXR-DICOM" / f"s{study_id}.txt"
    if not path.is_file():
        return ""
    sections = parse_report(path.read_text(encoding="utf-8", errors="replace"))
    parts = [f"{k.upper()}: {sections[k]}" for k in ("findings", "impression") if sections.get(k)]
    return "\n".join(parts) or " ".join(sections.values())
