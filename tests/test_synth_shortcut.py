"""Each confounder is a real shortcut: a pixel model that learns it scores well on validate and
drops toward chance on test, where the marker is independent of the label."""

from __future__ import annotations

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from gazecxr.synth import SynthConfig
from gazecxr.synth.plan import plan_cohort
from gazecxr.synth.render import render_study


def test_linear_pixel_model_learns_the_shortcut_and_drops_at_test() -> None:
    # In-memory rendering at 96 px (no files): a 400-study cohort in a few seconds. One confounded
    # finding, so that the other markers do not add label-independent noise to the pixel model.
    cfg = SynthConfig.model_validate(
        {
            "studies": 400,
            "seed": 1,
            "image_size": 96,
            "lateral_fraction": 0,
            "confounder": {"findings": ["Consolidation"]},
        }
    )
    features, labels, splits = [], [], []
    for patient in plan_cohort(cfg):
        for st in patient.studies:
            image = render_study(st, cfg, np.random.default_rng(st.seed)).image
            small = Image.fromarray(image).resize((24, 28), Image.BOX)
            features.append(np.asarray(small, dtype=np.float32).ravel() / 255.0)
            labels.append(any(f.name == "Consolidation" for f in st.findings))
            splits.append(patient.split)
    x, y, split = np.array(features), np.array(labels), np.array(splits)
    model = LogisticRegression(C=0.1, max_iter=2000).fit(x[split == "train"], y[split == "train"])
    auc = {
        s: roc_auc_score(y[split == s], model.decision_function(x[split == s])) for s in ("validate", "test")
    }
    assert auc["validate"] > 0.8, auc  # the marker predicts the finding where it is correlated
    assert auc["test"] < auc["validate"] - 0.2, auc  # and stops helping where it is not
