"""The synthetic MIMIC-Eye cohort: layout, determinism, labels, drawn findings, gaze alignment."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gazecxr.cli import main
from gazecxr.data.anatomy import REGIONS
from gazecxr.synth import SynthConfig, write_cohort
from gazecxr.synth.tables import (
    CXR_META_COLUMNS,
    EYEGAZE_GAZE_COLUMNS,
    MASTER_COLUMNS,
    REFLACX_FIXATION_COLUMNS,
    REFLACX_GAZE_COLUMNS,
)

FORMAT_DOC = Path(__file__).resolve().parents[2] / "shared" / "docs" / "mimic-eye-format.md"
SMALL = {"studies": 24, "seed": 3, "image_size": 256, "workers": 1}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    cfg = SynthConfig.model_validate({**SMALL, "readers": {"discarded_fraction": 0.1, "zoom_fraction": 0.6}})
    write_cohort(out, cfg)
    return out


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_has_every_file(cohort: Path) -> None:
    patients = sorted(cohort.glob("patient_*"))
    assert patients and all(len(p.name) == len("patient_") + 8 for p in patients)
    seen_reflacx = seen_eyegaze = False
    for p in patients:
        for name in ("cxr_meta", "cxr_chexpert", "cxr_negbio", "cxr_split"):
            assert (p / "CXR-JPG" / f"{name}.csv").is_file()
        for row in _rows(p / "CXR-JPG" / "cxr_meta.csv"):
            img = p / "CXR-JPG" / f"s{row['study_id']}" / f"{row['dicom_id']}.jpg"
            with Image.open(img) as im:
                assert im.mode == "L" and im.size == (int(row["Columns"]), int(row["Rows"]))
            assert (p / "CXR-DICOM" / f"s{row['study_id']}.txt").is_file()
        if (p / "REFLACX").is_dir():
            seen_reflacx = True
            for row in _rows(p / "REFLACX" / "metadata.csv"):
                main_dir = p / "REFLACX" / "main_data" / row["id"]
                assert (main_dir / "anomaly_location_ellipses.csv").is_file()
                assert (main_dir / "chest_bounding_box.csv").is_file()
                gaze_files = ["fixations.csv", "timestamps_transcription.csv", "transcription.txt"]
                discarded = row["eye_tracking_data_discarded"] == "True"
                for f in gaze_files:
                    assert (main_dir / f).is_file() != discarded, (row["id"], f)
                assert (p / "REFLACX" / "gaze_data" / row["id"] / "gaze.csv").is_file() != discarded
        if (p / "EyeGaze").is_dir():
            seen_eyegaze = True
            for f in ("master_sheet.csv", "fixations.csv", "eye_gaze.csv", "bounding_boxes.csv"):
                assert (p / "EyeGaze" / f).is_file()
            for row in _rows(p / "EyeGaze" / "master_sheet.csv"):
                tdir = p / "EyeGaze" / "audio_segmentation_transcripts" / row["dicom_id"]
                for f in (
                    "transcript.json",
                    "left_lung.png",
                    "right_lung.png",
                    "mediastanum.png",
                    "aortic_knob.png",
                ):
                    assert (tdir / f).is_file()
    assert seen_reflacx and seen_eyegaze
    sheets = cohort / "spreadsheets"
    for rel in (
        "cxr_meta.csv",
        "cxr_meta_with_stay_id_only.csv",
        "CXR-JPG/cxr_chexpert.csv",
        "CXR-JPG/cxr_negbio.csv",
        "CXR-JPG/cxr_split.csv",
        "REFLACX/metadata.csv",
        "EyeGaze/bounding_boxes.csv",
        "EyeGaze/fixations.csv",
        "EyeGaze/eye_gaze.csv",
        "EyeGaze/master_sheet_with_updated_stayId.csv",
    ):
        assert (sheets / rel).is_file(), rel


def test_columns_match_format_document(cohort: Path) -> None:
    if not FORMAT_DOC.is_file():
        pytest.skip(f"{FORMAT_DOC} is absent")
    doc = FORMAT_DOC.read_text(encoding="utf-8")
    assert "`,dicom_id,subject_id,study_id," in doc
    meta_doc = doc.split("`cxr_meta.csv`: `")[1].split("`")[0].split(",")
    assert meta_doc == ["", *CXR_META_COLUMNS]
    fix_doc = doc.split("`fixations.csv`: `")[1].split("`")[0].split(",")
    assert fix_doc == REFLACX_FIXATION_COLUMNS
    gaze_doc = doc.split("`gaze.csv` (raw samples): `")[1].split("`")[0].rstrip(",").split(",")
    assert (
        REFLACX_GAZE_COLUMNS[: len(gaze_doc)] == gaze_doc
        and REFLACX_GAZE_COLUMNS[len(gaze_doc) :] == fix_doc[-8:]
    )
    eg_doc = doc.split("`SESSION_ID,")[1].split("`")[0]
    assert EYEGAZE_GAZE_COLUMNS == ["SESSION_ID", *eg_doc.split(",")]
    master_doc = doc.split("`dicom_id,path,")[1].split("`")[0]
    assert master_doc.startswith("study_id,patient_id,") and master_doc.endswith("cxr_exam_indication")
    assert MASTER_COLUMNS[:11] == ["dicom_id", "path", *master_doc.split(",")[:9]]
    tail = master_doc.split("dx9_icd,")[1].split(",")  # the document abbreviates dx1..dx9 with "..."
    assert MASTER_COLUMNS[MASTER_COLUMNS.index("dx9_icd") + 1 :] == tail
    # Files as written.
    p = next(p for p in sorted(cohort.glob("patient_*")) if (p / "REFLACX").is_dir())
    assert _header(p / "CXR-JPG" / "cxr_meta.csv") == ["", *CXR_META_COLUMNS]
    rid = _rows(p / "REFLACX" / "metadata.csv")[0]["id"]
    ell = p / "REFLACX" / "main_data" / rid / "anomaly_location_ellipses.csv"
    assert _header(ell)[:5] == ["xmin", "ymin", "xmax", "ymax", "certainty"]
    assert b"\r\n" in ell.read_bytes()  # REFLACX byte copies end lines with CRLF


def test_same_seed_gives_identical_tree(cohort: Path, tmp_path: Path) -> None:
    cfg = SynthConfig.model_validate(
        {**SMALL, "workers": 2, "readers": {"discarded_fraction": 0.1, "zoom_fraction": 0.6}}
    )
    write_cohort(tmp_path / "again", cfg)
    assert _tree_hash(cohort) == _tree_hash(tmp_path / "again")


def test_ground_truth_and_cohort_json(cohort: Path) -> None:
    gts = [
        json.loads(line) for line in (cohort / "synthetic" / "ground_truth.jsonl").read_text().splitlines()
    ]
    meta = _rows(cohort / "spreadsheets" / "cxr_meta.csv")
    assert {g["dicom_id"] for g in gts} == {r["dicom_id"] for r in meta}
    for g in gts:
        H, W = g["image_size"]
        for f in g["findings"]:
            x0, y0, x1, y1 = f["box"]
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
            assert set(f["regions"]) <= set(REGIONS)
        if g["view"] != "LATERAL":
            assert set(g["regions"]) == set(REGIONS)
    info = json.loads((cohort / "synthetic" / "cohort.json").read_text())
    assert info["seed"] == SMALL["seed"] and info["counts"]["images"] == len(gts)
    assert info["gaze"]["reflacx_off_image"] + info["gaze"]["eyegaze_off_image"] > 0


def test_cli_writes_and_rejects_unknown_keys(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("confounder:\n  strenght: 0.9\n")
    result = runner.invoke(main, ["synth", str(tmp_path / "x"), "--config", str(bad)])
    assert result.exit_code != 0 and "confounder.strenght" in result.output and str(bad) in result.output
    out = tmp_path / "cli"
    result = runner.invoke(
        main,
        [
            "synth",
            str(out),
            "--studies",
            "3",
            "--seed",
            "1",
            "--image-size",
            "128",
            "--no-confounders",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    info = json.loads((out / "synthetic" / "cohort.json").read_text())
    assert info["counts"]["studies"] == 3 and info["config"]["confounder"]["enabled"] is False
    again = runner.invoke(main, ["synth", str(out), "--studies", "3"])
    assert again.exit_code != 0 and "--overwrite" in again.output
