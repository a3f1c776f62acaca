"""Our saliency metrics against pysaliency (an independent implementation of the MIT / Tuebingen
benchmark definitions; dev extra, pinned 0.2.22).

pysaliency 0.2.22's package ``__init__`` imports ``pkg_resources`` (gone from current setuptools)
and torch eagerly, and its ROC code calls ``np.trapz`` (removed in numpy 2.4). Its metric modules
(``metrics.py``, ``numba_utils.py``) need neither the ``__init__`` nor more than ``np.trapz``, so
they are loaded directly, with ``np.trapz`` pointed at ``np.trapezoid`` (the same rule) for the
test; when even that fails the test skips, saying why.

Where the definitions differ on purpose (docs/method-choices.md): a map summing to 0 (ours NaN,
pysaliency a uniform map) and CC of a constant G (ours 0, pysaliency NaN) are left out; NSS is
compared over fixated pixels (ours averages over the set F of fixated pixels, pysaliency over
fixations, so each pixel is given once).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest

from gazecxr.metrics import saliency as S

N_MAPS = 60


@pytest.fixture(scope="module")
def peer() -> types.SimpleNamespace:
    spec = importlib.util.find_spec("pysaliency")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pysaliency is not installed (dev extra: pip install -e '.[dev]')")
    saved = sys.modules.get("pysaliency")
    package = types.ModuleType("pysaliency")  # the modules below only, not the package __init__
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["pysaliency"] = package
    try:
        metrics = importlib.import_module("pysaliency.metrics")
        numba_utils = importlib.import_module("pysaliency.numba_utils")
    except Exception as exc:  # any import failure of the peer is a skip, with its reason
        pytest.skip(f"pysaliency's metric modules cannot be imported here: {type(exc).__name__}: {exc}")
    finally:
        sys.modules.pop("pysaliency", None)
        if saved is not None:
            sys.modules["pysaliency"] = saved
    return types.SimpleNamespace(metrics=metrics, roc=numba_utils.general_roc_numba)


def _maps(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P, G and a fixation map; every 4th P has ties (quantised), every 10th is constant."""
    h, w = int(rng.integers(6, 30)), int(rng.integers(6, 30))
    p = rng.gamma(0.7, size=(h, w))
    g = rng.gamma(0.5, size=(h, w)) + 0.3 * p
    if k % 4 == 1:
        p = np.round(p * 3) / 3  # many equal values: ties at the thresholds
    if k % 10 == 3:
        p = np.full((h, w), 0.25)
    fixed = np.zeros((h, w), dtype=bool)
    fixed[rng.integers(0, h, 12), rng.integers(0, w, 12)] = True
    return p, g, fixed


def test_cc_kld_sim_nss_auc_judd_agree_with_pysaliency(peer: types.SimpleNamespace, monkeypatch) -> None:
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    rng = np.random.default_rng(0)
    worst = dict.fromkeys(("cc", "kld", "sim", "nss", "auc_judd"), 0.0)
    for k in range(N_MAPS):
        p, g, fixed = _maps(rng, k)
        ys, xs = np.nonzero(fixed)
        theirs = {
            "cc": peer.metrics.CC(p, g),
            "kld": peer.metrics.MIT_KLDiv(p, g),  # its second map is the empirical one, as our G
            "sim": peer.metrics.SIM(p, g),
            "nss": float(np.mean(peer.metrics.NSS(p, xs, ys))),
            "auc_judd": peer.roc(p[fixed], p[~fixed], judd=1)[0],
        }
        ours = {
            "cc": S.cc(p, g),
            "kld": S.kld(p, g),
            "sim": S.sim(p, g),
            "nss": S.nss(p, fixed),
            "auc_judd": S.auc_judd(p, fixed),
        }
        for name, value in theirs.items():
            assert np.isfinite(value), (k, name)
            worst[name] = max(worst[name], abs(ours[name] - value))
    assert max(worst.values()) < 1e-12, worst


def test_a_constant_map_scores_as_chance(peer: types.SimpleNamespace, monkeypatch) -> None:
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    p, g = np.full((8, 8), 2.0), np.random.default_rng(1).random((8, 8))
    fixed = np.zeros((8, 8), dtype=bool)
    fixed[2, 3] = fixed[5, 1] = True
    assert S.auc_judd(p, fixed) == pytest.approx(peer.roc(p[fixed], p[~fixed], judd=1)[0]) == 0.5
    assert S.cc(p, g) == peer.metrics.CC(p, g) == 0.0
    assert S.nss(p, fixed) == 0.0 == float(np.mean(peer.metrics.NSS(p, [3, 1], [2, 5])))
