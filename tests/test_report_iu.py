"""IU MeSH parsing and the report-eval systems."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gazecxr.report.evaluate import Retriever, keyword_list
from gazecxr.report.iu import IUReport, mesh_regions, mesh_to_findings, read_iu_reports
from gazecxr.vocab.dictionary import load_dictionary


def test_mesh_locations_become_regions():
    assert mesh_regions(["lung", "base", "left"]) == ("left lower lung zone",)
    assert mesh_regions(["base"]) == ("left lower lung zone", "right lower lung zone")
    assert mesh_regions(["lung", "upper lobe", "bilateral"]) == (
        "left upper lung zone",
        "right upper lung zone",
    )
    assert mesh_regions(["lingula"]) == ("left mid lung zone",)
    assert mesh_regions(["right"]) == ("right lung",)
    got = mesh_to_findings(
        "Pulmonary Atelectasis/base/left;Cardiomegaly/mild;Fractures, Bone/ribs/right;Calcinosis"
    )
    assert got == {
        "Atelectasis": ("left lower lung zone",),
        "Enlarged cardiac silhouette": (),
        "Acute fracture": ("right lung",),
    }


def test_keyword_list_baseline():
    d = load_dictionary()
    assert keyword_list({}, d) == "No finding."
    text = keyword_list(
        {"Atelectasis": ("left lower lung zone", "right lower lung zone"), "Enlarged cardiac silhouette": ()},
        d,
    )
    assert text == "Bibasilar atelectasis, cardiomegaly."


def test_retrieval_never_returns_the_query_itself():
    a = IUReport(1, "normal", "Clear lungs.", "", {})
    b = IUReport(2, "normal", "Lungs are clear.", "", {})
    c = IUReport(3, "Cardiomegaly", "Cardiomegaly.", "", {"Enlarged cardiac silhouette": ()})
    r = Retriever([a, b, c])
    assert r.retrieve(a).uid == 2
    assert r.retrieve(b).uid == 1
    assert r.retrieve(IUReport(9, "", "", "", {"Enlarged cardiac silhouette": ()})).uid == 3


def test_read_iu_reports_names_missing_columns(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("uid,findings\n1,x\n")
    with pytest.raises(ValueError, match=r"r\.csv: missing columns \['MeSH', 'impression'\]"):
        read_iu_reports(bad)


def test_report_eval_cli_on_iu(shared_data, tmp_path):
    from gazecxr.cli import main

    csv = shared_data / "iu_xray" / "indiana_reports.csv"
    out = tmp_path / "eval.json"
    res = CliRunner().invoke(
        main,
        [
            "report-eval",
            "--reports",
            str(csv),
            "--retrieval-corpus",
            str(csv),
            "--json",
            str(out),
            "--bertscore-model",
            "none",
            "--limit",
            "150",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert "ORACLE" in data["note"]
    assert set(data["systems"]) == {"template", "keyword_list", "retrieval"}
    for row in data["systems"].values():
        assert set(row) == {
            "rouge_1",
            "rouge_2",
            "rouge_l",
            "bertscore_f1",
            "keyword_recall",
            "keyword_precision",
            "label_f1_micro",
            "hallucination_rate",
            "n_reports",
        }
        assert row["n_reports"] == 150
    t = data["systems"]["template"]
    assert t["hallucination_rate"] == 0.0 and t["keyword_recall"] >= 0.9
    assert t["rouge_l"] >= 1.5 * data["systems"]["keyword_list"]["rouge_l"]
    assert set(data["labeler"]) >= {"micro_f1", "macro_f1", "per_finding"}
    assert out.with_suffix(".md").read_text().count("| template |") == 1
