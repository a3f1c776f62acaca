"""gazecxr.anatomy: the 17 EyeGaze anatomy regions found on any radiograph.

Flow: box sources (:mod:`~gazecxr.anatomy.sources`: dataset roots, COCO files) -> augmented views
(:mod:`~gazecxr.anatomy.views`) -> frozen trunk + box-mask head (:mod:`~gazecxr.anatomy.network`,
trained by :mod:`~gazecxr.anatomy.train`) + the lung-anchored layout (:mod:`~gazecxr.anatomy.layout`)
-> :class:`Localiser` (:meth:`Localiser.locate` -> :class:`gazecxr.prediction.Anatomy`, with the atlas
of :mod:`~gazecxr.anatomy.atlas` as the fallback; :func:`find_anatomy`) -> scores
(:mod:`~gazecxr.anatomy.evaluate`).
Members are imported on first access. docs/anatomy.md: the design, its measurements, the model card.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "Localiser": "gazecxr.anatomy.localiser",
        "find_anatomy": "gazecxr.anatomy.localiser",
        "LungLayout": "gazecxr.anatomy.layout",
        "atlas_boxes": "gazecxr.anatomy.atlas",
        "AnatomyConfig": "gazecxr.anatomy.config",
        "read_coco": "gazecxr.anatomy.sources",
        "read_dataset": "gazecxr.anatomy.sources",
        "train_localiser": "gazecxr.anatomy.train",
        "evaluate": "gazecxr.anatomy.evaluate",
        "cross_validate": "gazecxr.anatomy.evaluate",
    },
)
