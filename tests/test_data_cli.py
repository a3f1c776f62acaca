"""``gazecxr data check``: summary, JSON keys, problems with relative paths, exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_fixtures import write_mimic_eye, write_standalone
from gazecxr.cli import main

REQUIRED_KEYS = {
    "patients",
    "images",
    "reflacx_readings",
    "reflacx_readings_with_fixations",
    "eyegaze_images",
    "eyegaze_images_with_fixations",
    "fixations_total",
    "fixations_outside_image",
    "calibration_rows",
    "placement",
    "problems",
}


def test_check_writes_json_and_lists_problems(tmp_path: Path) -> None:
    tree = write_mimic_eye(tmp_path / "tree")
    (tree.root / "synthetic").mkdir()  # the synthetic cohort's ground truth is ignored silently
    (tree.root / "synthetic" / "ground_truth.jsonl").write_text("{}\n")
    (tree.root / "cohort.json").write_text("{}")
    img = next(tree.root.glob(f"patient_{tree.eyegaze[0].subject}/CXR-JPG/s*/*.jpg"))
    img.write_bytes(img.read_bytes()[:300])  # truncated: only the deep check decodes images
    out = tmp_path / "check.json"
    result = CliRunner().invoke(main, ["data", "check", str(tree.root), "--json", str(out), "--deep"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert REQUIRED_KEYS <= set(report)
    assert (report["patients"], report["images"], report["reflacx_readings"], report["eyegaze_images"]) == (
        6,
        6,
        5,
        3,
    )
    assert report["fixations_outside_image"] == len(tree.reflacx) and report["gaze_blink_samples"] == len(
        tree.reflacx
    )
    assert report["images_unreadable"] == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "unreadable_image" and problem["path"] == img.relative_to(tree.root).as_posix()
    assert "unreadable_image" in result.output and "fixations_outside_image" in result.output


def test_check_rejects_non_dataset_root(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a dataset root" in result.output and len(result.output.strip().splitlines()) == 1


def test_check_opens_the_releases_as_a_new_user_types_it(tmp_path: Path, monkeypatch) -> None:
    """`gazecxr data check reflacx-xray-localization/1.0.0 --cxr-root mimic-cxr-jpg/2.0.0` from the
    download folder (relative paths), the release's main_data/ as ROOT, and EGD-CXR."""
    rel = write_standalone(write_mimic_eye(tmp_path / "tree"), tmp_path / "dl")
    monkeypatch.chdir(rel.reflacx.parent.parent)  # physionet.org/files
    for root, reflacx in (
        ("reflacx-xray-localization/1.0.0", 5),
        ("reflacx-xray-localization/1.0.0/main_data", 5),
        ("egd-cxr/1.0.0", 0),
    ):
        out = tmp_path / "check.json"
        args = ["data", "check", root, "--cxr-root", "mimic-cxr-jpg/2.0.0", "--no-cache", "--json", str(out)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        report = json.loads(out.read_text())
        assert report["reflacx_readings"] == reflacx and report["images"] == 3
        if reflacx:
            assert "main_data/metadata_phase_*.csv" in report["placement"] and report["problems"] == []
        else:
            assert report["calibration_rows"] == rel.calibration_rows
            assert [p["kind"] for p in report["problems"]] == ["calibration_rows"]
        assert report["placement"] in result.output


@pytest.mark.parametrize("verb", ["train", "ablate"])
def test_training_verbs_on_a_non_dataset_root_give_one_line(
    tmp_path: Path, repo_root: Path, verb: str
) -> None:
    """A --data that is not a dataset root: one line naming the root and what was looked for,
    exit 2, no traceback (evaluate: tests/test_evaluate.py)."""
    (tmp_path / "notdata").mkdir()
    config = repo_root / "configs" / ("synthetic.yaml" if verb == "train" else "ablation.yaml")
    args = [
        verb,
        "--data",
        str(tmp_path / "notdata"),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "run"),
    ]
    result = CliRunner().invoke(main, [*args, *(["--seeds", "1"] if verb == "ablate" else [])])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "notdata" in lines[0] and "not a dataset root" in lines[0], lines
    assert "patient_*" in lines[0] and "Traceback" not in result.output
