"""``gazecxr data check``: summary, JSON keys, problems with relative paths, exit status."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from data_fixtures import write_mimic_eye
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
    assert result.exit_code != 0
    assert "not a dataset root" in result.output and len(result.output.strip().splitlines()) == 1
