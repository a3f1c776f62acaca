"""The 17 EyeGaze anatomical regions (``bounding_boxes.csv`` ``bbox_name`` values).

Real files are read by name (never by position); this list is the vocabulary used by the
synthetic cohort, the atlas fallback and Stage-2 reports.
"""

from __future__ import annotations

REGIONS: tuple[str, ...] = (
    "right lung",
    "right upper lung zone",
    "right mid lung zone",
    "right lower lung zone",
    "right hilar structures",
    "right costophrenic angle",
    "right clavicle",
    "left lung",
    "left upper lung zone",
    "left mid lung zone",
    "left lower lung zone",
    "left hilar structures",
    "left costophrenic angle",
    "left clavicle",
    "cardiac silhouette",
    "trachea",
    "upper mediastinum",
)
