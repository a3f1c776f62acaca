"""Classification, saliency and localisation metrics against scikit-learn / scipy / hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from gazecxr.metrics.classification import (
    auroc,
    bootstrap_ci,
    choose_thresholds,
    classification_metrics,
    paired_bootstrap_diff,
)
from gazecxr.metrics.localization import (
    attention_mass,
    box_mask,
    ellipse_mask,
    ellipses_for_labels,
    pointing_game,
)
from gazecxr.metrics.saliency import auc_judd, cc, fixation_map, kld, nss, saliency_metrics, sim, spearman


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (200, 3))
    p = np.round(np.clip(0.35 * y + rng.random((200, 3)) * 0.7, 0, 1), 2)  # rounded: ties
    mask = rng.random((200, 3)) > 0.15
    return y, p, mask


def test_auroc_matches_sklearn_with_ties(data) -> None:
    y, p, _ = data
    for j in range(3):
        assert auroc(y[:, j], p[:, j]) == pytest.approx(roc_auc_score(y[:, j], p[:, j]))
    assert math.isnan(auroc(np.ones(5), np.arange(5)))


def test_classification_metrics_match_sklearn(data) -> None:
    y, p, mask = data
    t = np.array([0.3, 0.5, 0.7])
    res = classification_metrics(y, p, mask, t, labels=["a", "b", "c"])
    for j, name in enumerate("abc"):
        yj, pj = y[mask[:, j], j], p[mask[:, j], j]
        pred = pj >= t[j]
        got = res["per_class"][name]
        assert got["auroc"] == pytest.approx(roc_auc_score(yj, pj))
        assert got["f1"] == pytest.approx(f1_score(yj, pred))
        assert got["precision"] == pytest.approx(precision_score(yj, pred, zero_division=0))
        assert got["recall"] == pytest.approx(recall_score(yj, pred))
        assert got["accuracy"] == pytest.approx(accuracy_score(yj, pred))
        assert got["n_pos"] == int(yj.sum())
    assert res["macro"]["auroc"] == pytest.approx(np.mean([res["per_class"][n]["auroc"] for n in "abc"]))
    assert res["undefined"] == []


def test_single_class_label_is_nan_and_excluded(data) -> None:
    y, p, mask = data
    y = y.copy()
    y[:, 1] = 0
    res = classification_metrics(y, p, mask, 0.5, labels=["a", "b", "c"])
    assert res["undefined"] == ["b"]
    assert math.isnan(res["per_class"]["b"]["auroc"]) and math.isnan(res["per_class"]["b"]["f1"])
    ref = np.mean([roc_auc_score(y[mask[:, j], j], p[mask[:, j], j]) for j in (0, 2)])
    assert res["macro"]["auroc"] == pytest.approx(ref)


def test_precision_zero_division_convention() -> None:
    res = classification_metrics(np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3]), thresholds=0.9)
    assert res["per_class"]["0"]["precision"] == 0.0 and res["per_class"]["0"]["f1"] == 0.0


@pytest.mark.parametrize("metric", ["f1", "youden"])
def test_choose_thresholds_is_optimal(data, metric) -> None:
    y, p, mask = data
    t = choose_thresholds(y, p, mask, metric=metric)
    for j in range(3):
        yj, pj = y[mask[:, j], j], p[mask[:, j], j]

        def score(th: float, yj=yj, pj=pj) -> float:
            pred = pj >= th
            if metric == "f1":
                return f1_score(yj, pred)
            return pred[yj == 1].mean() - pred[yj == 0].mean()

        best = max(score(c) for c in np.unique(pj))
        assert score(t[j]) == pytest.approx(best)
    assert choose_thresholds(np.zeros((4, 1)), np.random.default_rng(0).random((4, 1)))[0] == 0.5


def test_bootstrap_ci_brackets_point_and_resamples_whole_groups(data) -> None:
    y, p, mask = data
    groups = np.arange(200) // 4
    ci = bootstrap_ci(y, p, mask, groups=groups, n_boot=200, seed=1)
    m = ci["macro/auroc"]
    assert m["lo"] < m["value"] < m["hi"] and m["n"] == 200
    # Duplicating every sample inside its group must not narrow a group bootstrap.
    yy, pp, mm = (np.repeat(a, 2, axis=0) for a in (y, p, mask))
    dup = bootstrap_ci(yy, pp, mm, groups=np.repeat(np.arange(200), 2), n_boot=200, seed=1)["macro/auroc"]
    single = bootstrap_ci(y, p, mask, groups=np.arange(200), n_boot=200, seed=1)["macro/auroc"]
    assert dup["hi"] - dup["lo"] == pytest.approx(single["hi"] - single["lo"], rel=1e-9)
    naive = bootstrap_ci(yy, pp, mm, groups=None, n_boot=200, seed=1)["macro/auroc"]
    assert naive["hi"] - naive["lo"] < 0.85 * (dup["hi"] - dup["lo"])


def test_paired_bootstrap_diff(data) -> None:
    y, p, mask = data
    rng = np.random.default_rng(5)
    same = paired_bootstrap_diff(y, p, p, mask, n_boot=100)
    assert same["macro/auroc"]["diff"] == 0 and same["macro/auroc"]["lo"] == same["macro/auroc"]["hi"] == 0
    worse = np.clip(p + rng.normal(0, 0.5, p.shape), 0, 1)
    d = paired_bootstrap_diff(y, p, worse, mask, groups=np.arange(200) // 2, n_boot=200)
    assert d["macro/auroc"]["lo"] > 0 and d["macro/auroc"]["p_le_0"] == 0.0
    assert d["macro/auroc"]["diff"] == pytest.approx(
        classification_metrics(y, p, mask)["macro"]["auroc"]
        - classification_metrics(y, worse, mask)["macro"]["auroc"]
    )


def test_cc_spearman_against_references() -> None:
    rng = np.random.default_rng(2)
    a, g = rng.random((6, 5)), rng.random((6, 5))
    assert cc(a, g) == pytest.approx(np.corrcoef(a.ravel(), g.ravel())[0, 1])
    g[0, :3] = g[1, :3] = 0.5  # ties
    assert spearman(a, g) == pytest.approx(spearmanr(a.ravel(), g.ravel()).statistic)
    assert cc(np.ones((3, 3)), g[:3, :3]) == 0.0 and spearman(np.ones((3, 3)), g[:3, :3]) == 0.0


def test_kld_and_sim_hand_computed() -> None:
    p = np.array([[1.0, 1.0], [1.0, 1.0]])
    g = np.array([[2.0, 0.0], [0.0, 2.0]])
    eps = 2.2204e-16
    assert kld(p, g) == pytest.approx(2 * 0.5 * math.log(eps + 0.5 / (0.25 + eps)))
    assert kld(g, g) == pytest.approx(0.0, abs=1e-12)
    assert sim(p, g) == pytest.approx(0.5)
    assert sim(g, 3 * g) == pytest.approx(1.0)
    assert math.isnan(kld(p, np.zeros((2, 2)))) and math.isnan(sim(p, np.zeros((2, 2))))


def test_nss_and_auc_judd_hand_computed() -> None:
    p = np.array([[0.9, 0.1], [0.5, 0.3]])
    f = np.array([[True, False], [False, True]])
    z = (p - p.mean()) / p.std()
    assert nss(p, f) == pytest.approx((z[0, 0] + z[1, 1]) / 2)
    # thresholds 0.9: TPR 1/2, FPR 0; 0.3: TPR 1, FPR 1/2 -> area 0.5*0.75 + 0.5*1
    assert auc_judd(p, f) == pytest.approx(0.875)
    assert auc_judd(np.ones((3, 3)), np.eye(3, dtype=bool)) == pytest.approx(0.5)
    assert nss(np.ones((3, 3)), np.eye(3, dtype=bool)) == 0.0
    empty = np.zeros((2, 2), dtype=bool)
    assert math.isnan(nss(p, empty)) and math.isnan(auc_judd(p, empty))


def test_auc_judd_perfect_and_inverted() -> None:
    p = np.zeros((4, 4))
    p[1, 2] = 1.0
    f = np.zeros((4, 4), dtype=bool)
    f[1, 2] = True
    assert auc_judd(p, f) == pytest.approx(1.0)
    # Thresholds exist only at fixated values: a fixation at the minimum jumps straight to (1, 1).
    assert auc_judd(1 - p, f) == pytest.approx(0.5)


def test_fixation_map_and_bundle() -> None:
    fm = fixation_map([[0.0, 0.0], [1.0, 1.0], [0.6, 0.1], [1.5, 0.5]], (4, 5))
    assert fm.sum() == 3 and fm[0, 0] and fm[3, 4] and fm[0, 3]
    rng = np.random.default_rng(0)
    out = saliency_metrics(rng.random((4, 5)), rng.random((4, 5)), fm)
    assert set(out) == {"cc", "kld", "sim", "spearman", "nss", "auc_judd"}
    with pytest.raises(ValueError, match="fixation_map"):
        nss(np.ones((3, 3)), fm)


def test_localization_masks_and_scores() -> None:
    m = ellipse_mask((0.0, 0.0, 1.0, 1.0), (200, 200))
    assert m.mean() == pytest.approx(math.pi / 4, abs=0.01)
    assert box_mask((0.0, 0.0, 0.5, 0.5), (4, 4)).sum() == 4
    tiny = ellipse_mask((0.51, 0.51, 0.52, 0.52), (4, 4))
    assert tiny.sum() == 1 and tiny[2, 2]
    att = np.zeros((4, 4))
    att[0, 1], att[3, 3] = 3.0, 1.0
    inside = box_mask((0.0, 0.0, 0.5, 0.5), (4, 4))
    assert attention_mass(att, inside) == pytest.approx(0.75)
    assert pointing_game(att, inside) == 1.0 and pointing_game(att, ~inside) == 0.0
    assert math.isnan(pointing_game(att, np.zeros((4, 4), dtype=bool)))
    ell = [{"box": (0, 0, 1, 1), "labels": ["effusion"]}, {"box": (0, 0, 0.1, 0.1), "labels": ["nodule"]}]
    assert ellipses_for_labels(ell, ["nodule", "edema"]) == [(0, 0, 0.1, 0.1)]
