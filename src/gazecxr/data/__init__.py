"""gazecxr.data: dataset readers, the cached per-reading index, label harmonisation, patient-grouped
splits, the torch ``Dataset`` and ``collate``.

Heavy members are imported lazily so that loading a config (which imports ``gazecxr.data.config``)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "build_datasets": "gazecxr.data.dataset",
    "collate": "gazecxr.data.dataset",
    "GazeCXRDataset": "gazecxr.data.dataset",
    "build_index": "gazecxr.data.index",
    "DatasetIndex": "gazecxr.data.index",
    "DatasetRootError": "gazecxr.data.index",
    "load_image": "gazecxr.data.images",
    "ImageReadError": "gazecxr.data.images",
    "write_splits": "gazecxr.data.splits",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gazecxr.data' has no attribute {name!r}")
