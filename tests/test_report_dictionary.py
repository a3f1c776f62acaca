"""Dictionary loading/validation, certainty scale and cut-point calibration."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from gazecxr.data.anatomy import REGIONS
from gazecxr.data.labels import FINDINGS
from gazecxr.vocab.dictionary import DEFAULT_PATH, DictionaryError, calibrate_cutpoints, load_dictionary


def test_shipped_dictionary_covers_every_canonical_finding_and_region():
    d = load_dictionary()
    assert set(FINDINGS) <= set(d.findings)
    assert set(d.regions) == set(REGIONS)
    assert [lv.name for lv in d.certainty] == [
        "unlikely",
        "less likely",
        "possibly",
        "suspicious for",
        "consistent with",
    ]
    for f in d.findings.values():
        assert f.why and f.noun
        assert set(f.priors) <= set(REGIONS)


def _write(tmp_path, mutate):
    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    mutate(raw)
    path = tmp_path / "dictionary.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_unknown_region_in_a_finding_is_an_error_naming_it(tmp_path):
    path = _write(
        tmp_path, lambda raw: raw["findings"]["Atelectasis"]["regions"].update({"left kidney": 0.5})
    )
    with pytest.raises(DictionaryError, match=r"findings\.Atelectasis.*unknown region 'left kidney'"):
        load_dictionary(path)


def test_non_canonical_finding_without_extra_flag_is_rejected(tmp_path):
    path = _write(
        tmp_path, lambda raw: raw["findings"].update({"Pneumonia": dict(raw["findings"]["Consolidation"])})
    )
    with pytest.raises(DictionaryError, match="'Pneumonia' is not a canonical finding"):
        load_dictionary(path)


def test_decreasing_cutpoints_are_rejected(tmp_path):
    path = _write(tmp_path, lambda raw: raw["certainty"][4].update({"min_p": 0.05}))
    with pytest.raises(DictionaryError, match="non-decreasing"):
        load_dictionary(path)


def test_certainty_for_follows_cutpoints():
    d = load_dictionary()
    assert d.certainty_for(0.01) is None
    assert d.certainty_for(0.45).name == "possibly"
    assert d.certainty_for(0.99).name == "consistent with"
    d2 = d.with_cutpoints({"possibly": 0.5})
    assert d2.certainty_for(0.45).name == "less likely"
    assert load_dictionary().certainty_for(0.45).name == "possibly"  # the cached original is untouched


def test_calibrate_cutpoints_matches_target_positive_rates():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=20000)
    y = (rng.uniform(size=p.size) < p).astype(float)  # calibrated: P(y=1 | p) = p
    cuts = calibrate_cutpoints(p, y)
    d = load_dictionary()
    values = list(cuts.values())
    assert values == sorted(values)
    for lv in d.certainty:
        above = p >= cuts[lv.name]
        assert y[above].mean() >= lv.target_ppv - 0.01
    # With calibrated probabilities the PPV of "p >= c" is (1 + c) / 2, so c = 2 t - 1 (floored at 0).
    assert cuts["consistent with"] == pytest.approx(2 * 0.8 - 1, abs=0.03)
    # Over-confident scores need higher cut-points than calibrated ones for the same phrase.
    over = calibrate_cutpoints(np.sqrt(p), y)
    assert over["consistent with"] > cuts["consistent with"]
    with pytest.raises(ValueError, match="differ in size"):
        calibrate_cutpoints(p, y[:10])


def test_frame_with_unknown_placeholder_is_rejected(tmp_path):
    path = _write(tmp_path, lambda raw: raw["certainty"][2]["frames"].append("Possible {findng}."))
    with pytest.raises(
        DictionaryError, match=r"certainty 'possibly': frame 'Possible \{findng\}\.' is invalid"
    ):
        load_dictionary(path)
