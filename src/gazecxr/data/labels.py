"""Label harmonisation: the one place where dataset label names become GazeCXR findings.

Canonical finding names are the REFLACX phase 2-3 names. Every other vocabulary (REFLACX phase 1,
EyeGaze granular columns, CheXpert/NegBio columns) is mapped onto them by the tables below;
a source label that maps to several sources is combined with ``max`` (present wins).
Label sets used by configs are named in :data:`LABEL_SETS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class _Columns(Protocol):
    def col(self, name: str) -> list[str]: ...


# REFLACX phase-1 column -> canonical finding (phase-2/3 columns map to themselves).
REFLACX_PHASE1_TO_CANONICAL: dict[str, str] = {
    "Atelectasis": "Atelectasis",
    "Consolidation": "Consolidation",
    "Emphysema": "High lung volume / emphysema",
    "Enlarged cardiac silhouette": "Enlarged cardiac silhouette",
    "Fibrosis": "Interstitial lung disease",
    "Fracture": "Acute fracture",
    "Groundglass opacity": "Groundglass opacity",
    "Mass": "Lung nodule or mass",
    "Nodule": "Lung nodule or mass",
    "Pleural effusion": "Pleural abnormality",
    "Pleural thickening": "Pleural abnormality",
    "Pneumothorax": "Pneumothorax",
    "Pulmonary edema": "Pulmonary edema",
    "Support devices": "Support devices",
    "Wide mediastinum": "Abnormal mediastinal contour",
}

REFLACX_PHASE1_LABELS: tuple[str, ...] = (
    "Airway wall thickening",
    "Atelectasis",
    "Consolidation",
    "Emphysema",
    "Enlarged cardiac silhouette",
    "Fibrosis",
    "Fracture",
    "Groundglass opacity",
    "Mass",
    "Nodule",
    "Other",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary edema",
    "Quality issue",
    "Support devices",
    "Wide mediastinum",
)
REFLACX_PHASE23_LABELS: tuple[str, ...] = (
    "Abnormal mediastinal contour",
    "Acute fracture",
    "Atelectasis",
    "Consolidation",
    "Enlarged cardiac silhouette",
    "Enlarged hilum",
    "Groundglass opacity",
    "Hiatal hernia",
    "High lung volume / emphysema",
    "Interstitial lung disease",
    "Lung nodule or mass",
    "Other",
    "Pleural abnormality",
    "Pneumothorax",
    "Pulmonary edema",
    "Support devices",
)
# Canonical findings: the phase-2/3 vocabulary without the free-text "Other".
FINDINGS: tuple[str, ...] = tuple(name for name in REFLACX_PHASE23_LABELS if name != "Other")
# REFLACX boolean (not certainty-valued) columns.
REFLACX_BOOLEAN_LABELS: frozenset[str] = frozenset({"Support devices", "Quality issue"})

# CheXpert / NegBio column -> canonical finding (columns without a counterpart are not mapped).
CHEXPERT_TO_CANONICAL: dict[str, str] = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Enlarged cardiac silhouette",
    "Consolidation": "Consolidation",
    "Edema": "Pulmonary edema",
    "Enlarged Cardiomediastinum": "Abnormal mediastinal contour",
    "Fracture": "Acute fracture",
    "Lung Lesion": "Lung nodule or mass",
    "Pleural Effusion": "Pleural abnormality",
    "Pleural Other": "Pleural abnormality",
    "Pneumothorax": "Pneumothorax",
    "Support Devices": "Support devices",
}
CHEXPERT_COLUMNS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)

# EyeGaze master-sheet granular column -> canonical finding.
EYEGAZE_GRANULAR_TO_CANONICAL: dict[str, str] = {
    "consolidation": "Consolidation",
    "enlarged_cardiac_silhouette": "Enlarged cardiac silhouette",
    "linear__patchy_atelectasis": "Atelectasis",
    "lobar__segmental_collapse": "Atelectasis",
    "pleural_effusion_or_thickening": "Pleural abnormality",
    "pulmonary_edema__hazy_opacity": "Pulmonary edema",
    "hyperaeration": "High lung volume / emphysema",
}
EYEGAZE_CLASSES: tuple[str, ...] = ("Normal", "CHF", "pneumonia")

LABEL_SETS: dict[str, tuple[str, ...]] = {
    # Our reading of the paper's "8 most frequent classes" (it does not list them): the eight most
    # frequent harmonised REFLACX findings.
    "paper8": (
        "Atelectasis",
        "Consolidation",
        "Enlarged cardiac silhouette",
        "Groundglass opacity",
        "Lung nodule or mass",
        "Pleural abnormality",
        "Pulmonary edema",
        "Support devices",
    ),
    # The findings the synthetic cohort draws (gazecxr.synth).
    "synthetic8": (
        "Atelectasis",
        "Consolidation",
        "Enlarged cardiac silhouette",
        "Lung nodule or mass",
        "Pleural abnormality",
        "Pneumothorax",
        "Pulmonary edema",
        "Support devices",
    ),
    "reflacx-all": FINDINGS,
    # CheXpert-14 in canonical names where a counterpart exists (see CHEXPERT_TO_CANONICAL).
    "chexpert14": CHEXPERT_COLUMNS,
    # EGD-CXR 3-class (one-hot Normal / CHF / pneumonia), as in GazeGNN.
    "egd3": EYEGAZE_CLASSES,
}


def get_label_set(name: str) -> tuple[str, ...]:
    """Labels of a named set; raises ``KeyError`` listing the valid names."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise KeyError(f"unknown label set {name!r}; choose one of {sorted(LABEL_SETS)}") from None


# Which table column family a label set reads (see ``harmonise`` below and docs/data.md):
# "finding": canonical findings; "chexpert": CheXpert/NegBio study labels; "egd": EGD-CXR classes.
LABEL_SET_SOURCE: dict[str, str] = {
    "paper8": "finding",
    "synthetic8": "finding",
    "reflacx-all": "finding",
    "chexpert14": "chexpert",
    "egd3": "egd",
}
# Index column prefix of each family (one float column per label: 1 present, 0 absent, NaN unknown).
FAMILY_PREFIX: dict[str, str] = {"finding": "lab:", "chexpert": "chx:", "egd": "egd:"}
FAMILY_LABELS: dict[str, tuple[str, ...]] = {
    "finding": FINDINGS,
    "chexpert": CHEXPERT_COLUMNS,
    "egd": EYEGAZE_CLASSES,
}


def label_columns(label_set: str) -> list[str]:
    """Index columns holding the labels of ``label_set``, in the set's order."""
    names = get_label_set(label_set)
    family = LABEL_SET_SOURCE.get(label_set)
    if family is None:
        raise KeyError(
            f"label set {label_set!r} has no entry in LABEL_SET_SOURCE (which table gives its labels)"
        )
    unknown = [n for n in names if n not in FAMILY_LABELS[family]]
    if unknown:
        raise KeyError(f"label set {label_set!r}: {unknown} are not {family} labels")
    return [FAMILY_PREFIX[family] + name for name in names]


def parse_value(text: str | None) -> float:
    """A label cell as float: booleans -> 1/0, numbers as is, empty/unparsable -> NaN."""
    if text is None:
        return float("nan")
    t = str(text).strip()
    if not t or t.lower() in ("nan", "none", "null"):
        return float("nan")
    low = t.lower()
    if low == "true":
        return 1.0
    if low == "false":
        return 0.0
    try:
        return float(t)
    except ValueError:
        return float("nan")


# Allowed values of the label cells of each source (empty = unknown). A value outside its range
# is read as unknown (masked) and reported by the index (``label_out_of_range``).
REFLACX_CERTAINTY_VALUES = frozenset({0.0, 1.0, 2.0, 3.0, 4.0, 5.0})
BOOLEAN_VALUES = frozenset({0.0, 1.0})
CHEXPERT_VALUES = frozenset({1.0, 0.0, -1.0})


def reflacx_label_ranges(columns: list[str]) -> dict[str, frozenset[float]]:
    """Allowed values of the REFLACX metadata label columns present in ``columns``."""
    out = {}
    for c in columns:
        if c in REFLACX_BOOLEAN_LABELS:
            out[c] = BOOLEAN_VALUES
        elif c != "Other" and (c in REFLACX_PHASE1_LABELS or c in REFLACX_PHASE23_LABELS):
            out[c] = REFLACX_CERTAINTY_VALUES
    return out


def out_of_range(table: _Columns, ranges: dict[str, frozenset[float]]) -> list[tuple[str, str]]:
    """(column, cell) of every non-empty cell whose value is not one of ``ranges[column]``
    (unparsable text counts as outside)."""
    bad = []
    for c, allowed in ranges.items():
        for cell in table.col(c):
            text = cell.strip()
            if text and text.lower() not in ("nan", "none", "null") and parse_value(text) not in allowed:
                bad.append((c, cell))
    return bad


def _combine(values: list[float]) -> float:
    """max over known values (present wins); NaN when none is known."""
    known = [v for v in values if v == v]
    return max(known) if known else float("nan")


def reflacx_findings(record: dict[str, str], threshold: int) -> dict[str, float]:
    """Canonical findings of one REFLACX metadata row (either phase).

    Certainty columns count as present when ``>= threshold``; boolean columns (``Support
    devices``) when True. Columns of the other phase are empty in the concatenated metadata, so
    each canonical finding combines only the *non-empty* source columns mapped to it; a finding
    no non-empty column covers (e.g. ``Hiatal hernia`` in a phase-1 reading) is NaN (masked).
    """
    collected: dict[str, list[float]] = {name: [] for name in FINDINGS}
    sources = [(c, REFLACX_PHASE1_TO_CANONICAL.get(c)) for c in REFLACX_PHASE1_LABELS]
    sources += [(c, c if c in collected else None) for c in REFLACX_PHASE23_LABELS]
    for column, canonical in sources:
        if canonical is None or column not in record:
            continue
        value = parse_value(record[column])
        boolean = column in REFLACX_BOOLEAN_LABELS
        if value not in (BOOLEAN_VALUES if boolean else REFLACX_CERTAINTY_VALUES):
            continue  # empty, NaN or out of range (reported by the index): unknown
        present = value >= 0.5 if boolean else value >= threshold
        collected[canonical].append(1.0 if present else 0.0)
    return {name: _combine(vals) for name, vals in collected.items()}


def chexpert_labels(record: dict[str, str] | None, suffix: str = "") -> dict[str, float]:
    """CheXpert-14 labels of a study row: 1 -> 1, 0 -> 0, -1 (uncertain) and empty -> NaN.

    ``suffix`` reads the EyeGaze master-sheet variant (lower-case names + ``__chx``).
    """
    out: dict[str, float] = {}
    for name in CHEXPERT_COLUMNS:
        key = name.lower().replace(" ", "_") + suffix if suffix else name
        value = parse_value(record.get(key)) if record else float("nan")
        out[name] = value if value in (0.0, 1.0) else float("nan")
    return out


def eyegaze_findings(master: dict[str, str], chexpert: dict[str, float]) -> dict[str, float]:
    """Canonical findings of an EyeGaze image: the master sheet's granular 0/1 columns
    (:data:`EYEGAZE_GRANULAR_TO_CANONICAL`, combined by max); a finding no granular column covers
    falls back to the study's CheXpert label through :data:`CHEXPERT_TO_CANONICAL`."""
    collected: dict[str, list[float]] = {name: [] for name in FINDINGS}
    for column, canonical in EYEGAZE_GRANULAR_TO_CANONICAL.items():
        value = parse_value(master.get(column))
        if value in BOOLEAN_VALUES:  # empty or out of range: unknown
            collected[canonical].append(value)
    granular = set(EYEGAZE_GRANULAR_TO_CANONICAL.values())
    for column, canonical in CHEXPERT_TO_CANONICAL.items():
        value = chexpert.get(column, float("nan"))
        if canonical not in granular and value == value:
            collected[canonical].append(value)
    return {name: _combine(vals) for name, vals in collected.items()}


def egd_classes(master: dict[str, str] | None) -> dict[str, float]:
    """EGD-CXR one-hot Normal / CHF / pneumonia (NaN for readings without a master-sheet row, and
    for a cell that is not 0 / 1)."""
    out = {}
    for name in EYEGAZE_CLASSES:
        value = parse_value(master.get(name)) if master else float("nan")
        out[name] = value if value in BOOLEAN_VALUES else float("nan")
    return out


def canonical_label(name: str) -> str:
    """REFLACX ellipse / metadata label (either phase) -> canonical name (unknown names kept)."""
    return REFLACX_PHASE1_TO_CANONICAL.get(name, name)


def positive_labels(sample: dict[str, Any], label_names: Sequence[str]) -> list[str]:
    """Known-positive labels of a dataset sample (uncertain / missing labels are not positive)."""
    return [
        name
        for name, y, m in zip(
            label_names, sample["labels"].tolist(), sample["label_mask"].tolist(), strict=True
        )
        if y > 0.5 and m > 0
    ]
