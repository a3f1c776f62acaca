"""gazecxr.anatomy: the 17 EyeGaze anatomy regions found on any radiograph.

Flow: box sources (:mod:`~gazecxr.anatomy.sources`: dataset roots, COCO files) -> augmented views
(:mod:`~gazecxr.anatomy.views`) -> frozen trunk + box-mask head (:mod:`~gazecxr.anatomy.network`,
trained by :mod:`~gazecxr.anatomy.train`) -> :class:`Localiser` (:func:`locate_regions`, with the
atlas of :mod:`~gazecxr.anatomy.atlas` as the fallback) -> scores (:mod:`~gazecxr.anatomy.evaluate`).
Members are imported on first access. docs/anatomy.md: the design, its measurements, the model card.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "Localiser": "gazecxr.anatomy.localiser",
        "Location": "gazecxr.anatomy.localiser",
        "locate_regions": "gazecxr.anatomy.localiser",
        "attach_boxes": "gazecxr.anatomy.localiser",
        "atlas_boxes": "gazecxr.anatomy.atlas",
        "AnatomyConfig": "gazecxr.anatomy.config",
        "read_coco": "gazecxr.anatomy.sources",
        "read_dataset": "gazecxr.anatomy.sources",
        "train_localiser": "gazecxr.anatomy.train",
        "evaluate": "gazecxr.anatomy.evaluate",
        "cross_validate": "gazecxr.anatomy.evaluate",
    },
)
