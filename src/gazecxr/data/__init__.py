"""gazecxr.data: dataset readers, the cached per-reading index, label harmonisation, patient-grouped
splits, the torch ``Dataset`` and ``collate``.

Members are imported on first access, so loading a config (which imports ``gazecxr.data.config``)
does not import torch.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "build_datasets": "gazecxr.data.dataset",
        "split_readings": "gazecxr.data.dataset",
        "collate": "gazecxr.data.dataset",
        "GazeCXRDataset": "gazecxr.data.dataset",
        "build_index": "gazecxr.data.index",
        "DatasetIndex": "gazecxr.data.index",
        "DatasetRootError": "gazecxr.data.layout",
        "load_image": "gazecxr.data.images",
        "load_resized": "gazecxr.data.images",
        "read_radiograph": "gazecxr.data.images",
        "ImageReadError": "gazecxr.data.images",
        "write_splits": "gazecxr.data.splits",
    },
)
