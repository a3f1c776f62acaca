"""Rule-based labeler: negation, uncertainty, regions, sections; agreement with IU MeSH."""

from __future__ import annotations

import pytest

from gazecxr.vocab.labeler import label_report


def _by_name(text):
    return {f.name: f for f in label_report(text)}


@pytest.mark.parametrize(
    "text",
    [
        "No pneumothorax.",
        "There is no evidence of pneumothorax.",
        "Pneumothorax is not seen.",
        "Negative for pneumothorax or effusion.",
        "No focal consolidation, pleural effusion or pneumothorax.",
    ],
)
def test_negated_pneumothorax_is_not_a_pneumothorax(text):
    f = _by_name(text)["Pneumothorax"]
    assert f.status == "negated" and not f.asserted


def test_statuses_certainty_and_regions():
    got = _by_name(
        "Small right pleural effusion. Possible left basilar atelectasis. Findings suspicious for "
        "pneumonia in the right upper lobe. Pneumothorax is unlikely. Bibasilar opacities."
    )
    assert got["Pleural abnormality"].status == "present"
    assert got["Pleural abnormality"].regions == ("right lung",)
    assert (got["Atelectasis"].status, got["Atelectasis"].certainty) == ("uncertain", "possibly")
    assert got["Atelectasis"].regions == ("left lower lung zone",)
    assert got["Consolidation"].certainty == "suspicious for"
    assert got["Consolidation"].regions == ("right upper lung zone",)
    assert (got["Pneumothorax"].status, got["Pneumothorax"].certainty) == ("negated", "unlikely")
    assert got["Lung opacity"].regions == ("left lower lung zone", "right lower lung zone")


def test_negation_scope_ends_at_but():
    got = _by_name("No pleural effusion, but there is left lower lobe consolidation.")
    assert got["Pleural abnormality"].status == "negated"
    assert got["Consolidation"].status == "present"
    assert got["Consolidation"].regions == ("left lower lung zone",)


def test_ignore_phrases_and_mimic_sections():
    assert "High lung volume / emphysema" not in _by_name("Subcutaneous emphysema in the left chest wall.")
    mimic = (
        "FINAL REPORT\n INDICATION: r/o pneumonia.\n COMPARISON: none.\n FINDINGS: Heart is enlarged. "
        "No effusion.\n IMPRESSION: Cardiomegaly."
    )
    got = _by_name(mimic)
    assert "Consolidation" not in got  # the indication is not a finding
    assert got["Enlarged cardiac silhouette"].status == "present"
    assert got["Pleural abnormality"].status == "negated"


def test_labeler_agrees_with_mesh_on_iu_reports(shared_data):
    from gazecxr.report.evaluate import labeler_vs_mesh
    from gazecxr.report.iu import read_iu_reports
    from gazecxr.vocab.dictionary import load_dictionary

    reports = read_iu_reports(shared_data / "iu_xray" / "indiana_reports.csv")
    res = labeler_vs_mesh(reports, load_dictionary())
    assert res["n_reports"] > 2500
    assert res["micro_f1"] >= 0.85
    assert res["per_finding"]["Pneumothorax"]["fp"] <= 2  # hundreds of "no pneumothorax" are not positives


def test_list_items_keep_their_own_locations():
    got = _by_name(
        "Consolidation in the left lung base, pleural effusion in the right lung, right upper lobe nodule."
    )
    assert got["Consolidation"].regions == ("left lower lung zone",)
    assert got["Pleural abnormality"].regions == ("right lung",)
    assert got["Lung nodule or mass"].regions == ("right upper lung zone",)
