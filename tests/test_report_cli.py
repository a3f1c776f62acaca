"""``gazecxr report`` (image and synthetic-cohort modes) and ``gazecxr label``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gazecxr.cli import main
from gazecxr.report.synthetic_eval import score_report
from gazecxr.report.writers import StatedFinding
from tiny_runs import LABELS, REPO, write_untrained_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained run with low thresholds, so that its ~0.5 probabilities are stated."""
    return write_untrained_run(tmp_path_factory.mktemp("report_run"), dict.fromkeys(LABELS, 0.2))


def test_label_command_outputs_json_with_negation():
    res = CliRunner().invoke(main, ["label", "No pneumothorax. Right lower lobe consolidation."])
    assert res.exit_code == 0, res.output
    got = {f["name"]: f for f in json.loads(res.output)}
    assert got["Pneumothorax"]["status"] == "negated"
    assert got["Consolidation"]["status"] == "present" and got["Consolidation"]["regions"] == [
        "right lower lung zone"
    ]
    assert CliRunner().invoke(main, ["label"]).exit_code == 2  # no text: usage error


def test_report_command_on_a_real_radiograph(run, shared_data):
    image = shared_data / "real_cxr" / "nih" / "00027426_000.png"
    res = CliRunner().invoke(main, ["-q", "report", "--run", str(run), str(image), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    rep = out["report"]
    # A real NIH radiograph (not of the localiser's training collection): the localiser places the regions.
    assert rep["anatomy_source"] == "model" and len(rep["region_mass"]) == 17
    assert out["prediction"]["anatomy"]["confidence"]["right lung"] >= 0.5
    assert rep["findings"] and all(f["name"] in LABELS for f in rep["findings"])
    assert all(s["source"] == "template" for s in rep["sentences"])
    bad = CliRunner().invoke(main, ["-q", "report", "--run", str(run), str(REPO / "pyproject.toml")])
    assert bad.exit_code == 1 and "pyproject.toml" in bad.output


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tree"
    res = CliRunner().invoke(
        main, ["-q", "synth", str(out), "--studies", "16", "--image-size", "128", "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    return out


def test_report_command_on_a_synthetic_cohort(run, tree, tmp_path):
    summary = tmp_path / "regions.json"
    res = CliRunner().invoke(
        main, ["-q", "report", "--run", str(run), "--cohort", str(tree), "--json", str(summary)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(summary.read_text())
    test_images = [
        json.loads(line) for line in (tree / "synthetic" / "ground_truth.jsonl").read_text().splitlines()
    ]
    test_images = [r for r in test_images if r["split"] == "test" and r["view"] != "LATERAL"]
    assert data["n_reports"] == data["n_images"] == len(test_images) > 0
    reports = summary.with_suffix(".reports.jsonl").read_text().splitlines()
    assert len(reports) == len(test_images)
    assert set(data) >= {"attention", "prior_only", "per_finding"}


def test_score_report_region_side_and_ellipse_hits():
    from gazecxr.report.generate import Report

    rep = Report(
        [
            StatedFinding("Atelectasis", "consistent with", ("left lower lung zone",)),
            StatedFinding("Pneumothorax", "possibly", ("right upper lung zone",)),
            StatedFinding("Enlarged cardiac silhouette", "consistent with", ()),
        ],
        [],
        [],
        "template",
        "dataset",
    )
    truth = {
        "findings": [
            {"name": "Atelectasis", "regions": ["left lower lung zone", "left lung"]},
            {"name": "Pneumothorax", "regions": ["left upper lung zone"]},
            {"name": "Enlarged cardiac silhouette", "regions": ["cardiac silhouette"]},
        ]
    }
    boxes = {"left lower lung zone": (0.5, 0.6, 0.9, 0.9), "right upper lung zone": (0.1, 0.1, 0.5, 0.4)}
    ellipses = [((0.6, 0.7, 0.8, 0.8), {"Atelectasis"}), ((0.6, 0.1, 0.8, 0.3), {"Pneumothorax"})]
    locate = {"Atelectasis": True, "Pneumothorax": True, "Enlarged cardiac silhouette": False}
    rows = {r["finding"]: r for r in score_report(rep, truth, boxes, ellipses, locate)}
    assert set(rows) == {"Atelectasis", "Pneumothorax"}  # the heart is not placed by the report
    assert (
        rows["Atelectasis"]["region_hit"],
        rows["Atelectasis"]["side_hit"],
        rows["Atelectasis"]["ellipse_hit"],
    ) == (True, True, True)
    assert (
        rows["Pneumothorax"]["region_hit"],
        rows["Pneumothorax"]["side_hit"],
        rows["Pneumothorax"]["ellipse_hit"],
    ) == (False, False, False)


def test_report_command_names_an_unloadable_run(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    res = CliRunner().invoke(main, ["-q", "report", "--run", str(tmp_path), str(image)])
    assert res.exit_code == 2 and str(tmp_path) in res.output and "no config.yaml" in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_calibrate_stores_cutpoints_that_later_reports_use(run, tree, shared_data, tmp_path):
    res = CliRunner().invoke(main, ["-q", "report", "--run", str(run), "--calibrate", str(tree)])
    assert res.exit_code == 0, res.output
    record = json.loads((run / "report_cutpoints.json").read_text())
    assert record["split"] == "validate" and record["n_labels"] > 0
    cuts = list(record["cutpoints"].values())
    assert len(cuts) == 5 and cuts == sorted(cuts)
    image = shared_data / "real_cxr" / "nih" / "00027426_000.png"
    out = CliRunner().invoke(main, ["-q", "report", "--run", str(run), str(image), "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["report"]["cutpoints"] == record["cutpoints"]
    (run / "report_cutpoints.json").unlink()  # leave the shared run as the other tests expect it
