"""gazecxr.vocab: the finding vocabulary both stages share.

The finding dictionary (``dictionary.yaml``: the 17 regions with aliases, findings with synonyms,
priors and rationales, certainty phrases) and the rule-based report labeler built on it. Stage 1
uses the labeler to find when each finding was dictated (:mod:`gazecxr.gaze.dictation`); Stage 2
writes and scores reports with both (:mod:`gazecxr.report`, :mod:`gazecxr.metrics.report`).
Neither stage imports the other. Members are imported on first access.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "Dictionary": "gazecxr.vocab.dictionary",
        "calibrate_cutpoints": "gazecxr.vocab.dictionary",
        "load_dictionary": "gazecxr.vocab.dictionary",
        "LabeledFinding": "gazecxr.vocab.labeler",
        "label_report": "gazecxr.vocab.labeler",
    },
)
