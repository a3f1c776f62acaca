"""Label harmonisation: the one place where dataset label names become GazeCXR findings.

Canonical finding names are the REFLACX phase 2-3 names. Every other vocabulary (REFLACX phase 1,
EyeGaze granular columns, CheXpert/NegBio columns) is mapped onto them by the tables below;
a source label that maps to several sources is combined with ``max`` (present wins).
Label sets used by configs are named in :data:`LABEL_SETS`.
"""

from __future__ import annotations

# Canonical findings (REFLACX phases 2-3 vocabulary, without the free-text "Other").
FINDINGS: tuple[str, ...] = (
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
    "Pleural abnormality",
    "Pneumothorax",
    "Pulmonary edema",
    "Support devices",
)

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
    "Airway wall thickening", "Atelectasis", "Consolidation", "Emphysema", "Enlarged cardiac silhouette",
    "Fibrosis", "Fracture", "Groundglass opacity", "Mass", "Nodule", "Other", "Pleural effusion",
    "Pleural thickening", "Pneumothorax", "Pulmonary edema", "Quality issue", "Support devices",
    "Wide mediastinum",
)
REFLACX_PHASE23_LABELS: tuple[str, ...] = (
    "Abnormal mediastinal contour", "Acute fracture", "Atelectasis", "Consolidation",
    "Enlarged cardiac silhouette", "Enlarged hilum", "Groundglass opacity", "Hiatal hernia",
    "High lung volume / emphysema", "Interstitial lung disease", "Lung nodule or mass", "Other",
    "Pleural abnormality", "Pneumothorax", "Pulmonary edema", "Support devices",
)
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
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
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
        "Atelectasis", "Consolidation", "Enlarged cardiac silhouette", "Groundglass opacity",
        "Lung nodule or mass", "Pleural abnormality", "Pulmonary edema", "Support devices",
    ),
    # The findings the synthetic cohort draws (gazecxr.synth).
    "synthetic8": (
        "Atelectasis", "Consolidation", "Enlarged cardiac silhouette", "Lung nodule or mass",
        "Pleural abnormality", "Pneumothorax", "Pulmonary edema", "Support devices",
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
