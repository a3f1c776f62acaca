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
from gazecxr.config import load_config
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.format import (
    CXR_META_COLUMNS,
    EYEGAZE_GAZE_COLUMNS,
    MASTER_COLUMNS,
    REFLACX_FIXATION_COLUMNS,
    REFLACX_GAZE_COLUMNS,
)
from gazecxr.synth import SynthConfig, write_cohort

FORMAT_DOC = Path(__file__).resolve().parents[2] / "shared" / "docs" / "mimic-eye-format.md"
# Small, but with enough discarded, zoomed and phase-1 readings that every code path occurs.
SMALL = {
    "studies": 24,
    "seed": 3,
    "image_size": 256,
    "readers": {"discarded_fraction": 0.1, "zoom_fraction": 0.6, "phase1_fraction": 0.3},
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    cfg = SynthConfig.model_validate(
        {**SMALL, "readers": {"discarded_fraction": 0.1, "zoom_fraction": 0.6, "phase1_fraction": 0.3}}
    )
    write_cohort(out, cfg, workers=1)
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
        {**SMALL, "readers": {"discarded_fraction": 0.1, "zoom_fraction": 0.6, "phase1_fraction": 0.3}}
    )
    write_cohort(tmp_path / "again", cfg, workers=2)
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
    other = tmp_path / "not-a-cohort"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    refused = runner.invoke(main, ["synth", str(other), "--studies", "3", "--overwrite"])
    assert refused.exit_code != 0 and "refusing" in refused.output and (other / "precious.txt").is_file()
    with pytest.raises(FileExistsError, match="is a file"):
        write_cohort(other / "precious.txt", SynthConfig(studies=1))


def test_project_loader_reads_tree_without_problems(cohort: Path) -> None:
    runner = CliRunner()
    report = cohort.parent / "check.json"
    result = runner.invoke(
        main, ["data", "check", str(cohort), "--deep", "--no-cache", "--json", str(report)]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(report.read_text())
    assert got["problems"] == [], got["problems"]
    gaze = json.loads((cohort / "synthetic" / "cohort.json").read_text())["gaze"]
    assert got["fixations_total"] == gaze["reflacx_fixations"] + gaze["eyegaze_fixations"]
    assert got["fixations_outside_image"] == gaze["reflacx_off_image"] + gaze["eyegaze_off_image"] > 0
    assert got["fixations_outside_crop"] == gaze["reflacx_outside_crop"]


# --- reports, labels and gaze agree with what was drawn -------------------------------------

TERMS = {  # CheXpert column -> words that name it in our reports and dictations
    "Atelectasis": ("atelectasis",),
    "Cardiomegaly": ("cardiomegaly", "cardiac silhouette"),
    "Consolidation": ("consolidation",),
    "Edema": ("edema",),
    "Lung Lesion": ("nodule", "mass"),
    "Pleural Effusion": ("effusion",),
    "Pneumothorax": ("pneumothorax",),
}
CANONICAL = {
    "Atelectasis": "Atelectasis",
    "Cardiomegaly": "Enlarged cardiac silhouette",
    "Consolidation": "Consolidation",
    "Edema": "Pulmonary edema",
    "Lung Lesion": "Lung nodule or mass",
    "Pleural Effusion": "Pleural abnormality",
    "Pneumothorax": "Pneumothorax",
}


def _sentence_polarity(sentence: str) -> float:
    """A tiny independent labeler: 0.0 negated/unlikely, -1.0 hedged, 1.0 affirmed."""
    s = sentence.lower()
    if s.startswith("no ") or "there is no" in s or "without" in s or "unlikely" in s:
        return 0.0
    if any(h in s for h in ("possible", "suspicious for", "probable", "cannot be excluded")):
        return -1.0
    return 1.0


def _sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [t.strip() for t in flat.replace(":", ".").split(".") if t.strip()]


def _report_label(text: str, column: str) -> float | None:
    found = [_sentence_polarity(s) for s in _sentences(text) if any(t in s.lower() for t in TERMS[column])]
    if not found:
        return None
    return max(found, key=lambda v: {1.0: 2, -1.0: 1, 0.0: 0}[v])


def test_report_wording_matches_chexpert_labels(cohort: Path) -> None:
    seen: set[float] = set()
    gts = {(g["study_id"]): g for g in _ground_truth(cohort) if g["view"] != "LATERAL"}
    for p in sorted(cohort.glob("patient_*")):
        for row in _rows(p / "CXR-JPG" / "cxr_chexpert.csv"):
            text = (p / "CXR-DICOM" / f"s{row['study_id']}.txt").read_text()
            drawn = {f["name"] for f in gts[int(row["study_id"])]["findings"]}
            for column in TERMS:
                value = float(row[column]) if row[column] else None
                assert _report_label(text, column) == value, (p.name, row["study_id"], column, text)
                if value is not None:
                    seen.add(value)
                # Affirmed or hedged in the report <=> drawn in the image.
                assert (value in (1.0, -1.0)) == (CANONICAL[column] in drawn), (row["study_id"], column)
    assert seen == {1.0, 0.0, -1.0}  # every kind of statement occurs in this cohort


def _ground_truth(cohort: Path) -> list[dict]:
    return [
        json.loads(line) for line in (cohort / "synthetic" / "ground_truth.jsonl").read_text().splitlines()
    ]


def test_reflacx_labels_and_ellipses_match_drawn_findings(cohort: Path) -> None:
    gts = {g["dicom_id"]: g for g in _ground_truth(cohort)}
    phases = set()
    for meta in sorted(cohort.glob("patient_*/REFLACX/metadata.csv")):
        for row in _rows(meta):
            phase = 1 if row["id"].startswith("P1") else 2
            phases.add(phase)
            # Phase-correct columns: the other phase's own columns are empty.
            own, other = (
                ("Nodule", "Lung nodule or mass") if phase == 1 else ("Lung nodule or mass", "Nodule")
            )
            assert row[own] != "" and row[other] == ""
            assert row["Atelectasis"] != ""
            ellipses = _rows(meta.parent / "main_data" / row["id"] / "anomaly_location_ellipses.csv")
            drawn = gts[row["dicom_id"]]["findings"]
            for e in ellipses:
                labels = [k for k, v in e.items() if v == "True"]
                assert len(labels) == 1 and float(row[labels[0]]) == float(e["certainty"])
                if int(e["certainty"]) < 3:
                    continue
                # A confident ellipse overlaps the drawn finding it names.
                names = {
                    "Pleural effusion": "Pleural abnormality",
                    "Nodule": "Lung nodule or mass",
                    "Mass": "Lung nodule or mass",
                }
                name = names.get(labels[0], labels[0])
                ex = [float(e[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
                boxes = [f["box"] for f in drawn if f["name"] == name]
                assert any(_iou(ex, b) > 0.3 for b in boxes), (row["id"], name, ex, boxes)
    assert phases == {1, 2}


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_fixations_dwell_on_finding_while_it_is_dictated(cohort: Path) -> None:
    gts = {g["dicom_id"]: g for g in _ground_truth(cohort)}
    during, elsewhere, checked = [], [], 0
    for meta in sorted(cohort.glob("patient_*/REFLACX/metadata.csv")):
        for row in _rows(meta):
            rdir = meta.parent / "main_data" / row["id"]
            if row["eye_tracking_data_discarded"] == "True":
                continue
            words = _rows(rdir / "timestamps_transcription.csv")
            fix = _rows(rdir / "fixations.csv")
            fs = np.array([float(f["timestamp_start_fixation"]) for f in fix])
            fe = np.array([float(f["timestamp_end_fixation"]) for f in fix])
            fx = np.array([float(f["x_position"]) for f in fix])
            fy = np.array([float(f["y_position"]) for f in fix])
            assert fs[0] < float(words[0]["timestamp_start_word"])  # a silent phase precedes dictation
            # Sentences: runs of words up to a "." token.
            sentences, cur = [], []
            for w in words:
                if w["word"] == ".":
                    sentences.append(cur)
                    cur = []
                else:
                    cur.append(w)
            for sent in sentences:
                text = " ".join(w["word"] for w in sent)
                if _sentence_polarity(text) == 0.0:
                    continue
                for column, terms in TERMS.items():
                    boxes = [
                        f["box"] for f in gts[row["dicom_id"]]["findings"] if f["name"] == CANONICAL[column]
                    ]
                    if not boxes or not any(t in text.lower() for t in terms):
                        continue
                    t0, t1 = float(sent[0]["timestamp_start_word"]), float(sent[-1]["timestamp_end_word"])
                    inside = np.zeros(len(fx), dtype=bool)
                    for b in boxes:
                        m = 0.1 * max(b[2] - b[0], b[3] - b[1])
                        inside |= (fx >= b[0] - m) & (fx <= b[2] + m) & (fy >= b[1] - m) & (fy <= b[3] + m)
                    now = (fe > t0) & (fs < t1)
                    during.append(inside[now].mean())
                    elsewhere.append(inside[~now].mean())
                    checked += 1
    assert checked >= 5
    assert np.mean(during) > 0.7 and np.mean(during) > np.mean(elsewhere) + 0.3, (
        np.mean(during),
        np.mean(elsewhere),
    )


def test_shipped_synth_configs_validate(repo_root: Path) -> None:
    files = sorted((repo_root / "configs" / "synth").glob("*.yaml"))
    assert {f.name for f in files} >= {"default.yaml", "no-confounders.yaml", "full-resolution.yaml"}
    sizes = {path.name: load_config(path, model=SynthConfig).image_size for path in files}
    assert sizes["full-resolution.yaml"] > sizes["default.yaml"]  # the files really set their values
    assert not load_config(
        repo_root / "configs/synth/no-confounders.yaml", model=SynthConfig
    ).confounder.enabled


def test_per_patient_tables_follow_the_real_writers(cohort: Path) -> None:
    """Every per-patient table MIMIC-Eye wrote with pandas starts with the unnamed index column;
    the REFLACX metadata columns are in the real order (checked against MIMIC-Eye's builder file:
    phase-1 labels, then the phase-2/3 labels phase 1 lacks); certainties are written as floats."""
    names = [
        "CXR-JPG/cxr_meta.csv",
        "CXR-JPG/cxr_chexpert.csv",
        "CXR-JPG/cxr_negbio.csv",
        "CXR-JPG/cxr_split.csv",
        "REFLACX/metadata.csv",
        "EyeGaze/master_sheet.csv",
        "EyeGaze/fixations.csv",
        "EyeGaze/eye_gaze.csv",
        "EyeGaze/bounding_boxes.csv",
    ]
    seen = set()
    for name in names:
        for path in cohort.glob(f"patient_*/{name}"):
            assert path.read_text().split("\n", 1)[0].startswith(","), path
            seen.add(name)
    assert seen == set(names)
    meta = next(cohort.glob("patient_*/REFLACX/metadata.csv"))
    header = meta.read_text().split("\n", 1)[0]
    assert header.startswith(
        ",id,split,eye_tracking_data_discarded,image,dicom_id,subject_id,image_size_x,image_size_y,"
        "Airway wall thickening,Atelectasis,Consolidation,Emphysema,"
    )
    assert header.endswith(
        "Wide mediastinum,Abnormal mediastinal contour,Acute fracture,Enlarged hilum,Hiatal hernia,"
        "High lung volume / emphysema,Interstitial lung disease,Lung nodule or mass,Pleural abnormality"
    )
    row = next(r for r in _rows(meta))
    assert any(v in ("0.0", "1.0", "2.0", "3.0", "4.0", "5.0") for v in row.values())


@pytest.mark.parametrize("layout", ["reflacx", "egd"])
def test_standalone_release_layouts_read_like_the_mimic_eye_tree(tmp_path: Path, layout: str) -> None:
    """`gazecxr synth --layout reflacx|egd`: the release as PhysioNet ships it next to
    MIMIC-CXR-JPG; the same readings, labels and fixations as the MIMIC-Eye tree of the same seed,
    EGD calibration rows counted and kept out of every radiograph."""
    from gazecxr.data.index import build_index

    cfg = {"studies": 30, "seed": 2, "image_size": 128, "readers": {"calibration_every": 5}}
    eye = write_cohort(tmp_path / "eye", SynthConfig.model_validate(cfg), workers=1).out
    rel = write_cohort(tmp_path / layout, SynthConfig.model_validate(cfg), workers=1, layout=layout)
    info = rel.cohort["releases"]
    root = rel.out / info["root"]
    assert (rel.out / info["cxr_root"] / "files").is_dir() and list(
        (rel.out / info["cxr_root"]).glob("*.csv.gz")
    )
    assert (
        not (rel.out / ".mimic-eye-build").exists()
        and (rel.out / "synthetic" / "ground_truth.jsonl").is_file()
    )
    if layout == "reflacx":
        assert sorted(p.name for p in (root / "main_data").glob("metadata_phase_*.csv")) == [
            f"metadata_phase_{k}.csv" for k in (1, 2, 3)
        ]
    a = build_index(eye, use_cache=False)
    b = build_index(root, use_cache=False)
    assert b.layout == layout
    source = "reflacx" if layout == "reflacx" else "eyegaze"
    want = a.readings[a.readings["source"] == source].set_index("reading_id")
    got = b.readings.set_index("reading_id")
    assert sorted(got.index) == sorted(want.index)
    cols = ["subject_id", "study_id", "dicom_id", "fix_count", "discarded", "official_split"]
    cols += [c for c in got.columns if c.startswith(("lab:", "chx:", "egd:"))]
    assert got.loc[want.index, cols].equals(want[cols])
    for rid in want.index:
        np.testing.assert_array_equal(
            b.reading_fixations(int(got.loc[rid, "row"])), a.reading_fixations(int(want.loc[rid, "row"]))
        )
    if layout == "egd":
        assert info["calibration_rows"] > 0
        assert b.stats()["calibration_rows"] == info["calibration_rows"]
        assert [p.kind for p in b.problems] == ["calibration_rows"]
    else:
        assert b.problems == []
        discarded = got[got["discarded"]].index
        assert len(discarded) and all(not any((root / "gaze_data" / r).iterdir()) for r in discarded)


def test_no_confounder_cohort_differs_only_by_the_marker(tmp_path: Path) -> None:
    base = {"studies": 8, "seed": 5, "image_size": 128, "confounder": {"p_negative": 0.5, "p_positive": 1.0}}
    with_c = write_cohort(tmp_path / "with", SynthConfig.model_validate(base), workers=1).out
    cfg = SynthConfig.model_validate({**base, "confounder": {**base["confounder"], "enabled": False}})
    without = write_cohort(tmp_path / "without", cfg, workers=1).out
    a, b = _tree_hash(with_c), _tree_hash(without)
    assert set(a) == set(b)
    gts = {g["dicom_id"]: g for g in _ground_truth(with_c)}
    marked = {d for d, g in gts.items() if g["confounders"]}
    assert marked and all(not g["confounders"] for g in _ground_truth(without))
    differ = {Path(k).stem for k in a if a[k] != b[k] and k.endswith(".jpg")}
    assert differ == marked
    for d in marked:  # the change is confined to the marker's box
        g = gts[d]
        rel = f"patient_{g['subject_id']}/CXR-JPG/s{g['study_id']}/{d}.jpg"
        diff = np.abs(
            np.asarray(Image.open(with_c / rel), dtype=float)
            - np.asarray(Image.open(without / rel), dtype=float)
        )
        inside = np.zeros(diff.shape, dtype=bool)
        for marker in g["confounders"]:  # each marker sits at its finding's own place
            x0, y0, x1, y1 = (int(v) for v in marker["box"])
            inside[max(0, y0 - 8) : y1 + 8, max(0, x0 - 8) : x1 + 8] = True
        assert diff[inside].sum() > 0.95 * diff.sum()
        assert len({tuple(m["box"]) for m in g["confounders"]}) == len(g["confounders"])
    # Tables, reports and gaze are the same.
    same = [k for k in a if k.endswith((".csv", ".txt", ".json")) and "synthetic/" not in k]
    assert all(a[k] == b[k] for k in same)


def test_eyegaze_fixations_follow_transcript_phrases(cohort: Path) -> None:
    gts = {g["dicom_id"]: g for g in _ground_truth(cohort)}
    during, elsewhere = [], []
    for p in sorted(cohort.glob("patient_*/EyeGaze")):
        fix = _rows(p / "fixations.csv")
        for row in _rows(p / "master_sheet.csv"):
            d = row["dicom_id"]
            mine = [f for f in fix if f["DICOM_ID"] == d]
            t0 = 120.0 * (int(mine[0]["MEDIA_ID"]) - 1)  # session time of the image onset
            fs = np.array([float(f["FPOGS"]) - t0 for f in mine])
            fe = fs + np.array([float(f["FPOGD"]) for f in mine])
            ox = np.array([int(f["X_ORIGINAL"]) for f in mine])
            oy = np.array([int(f["Y_ORIGINAL"]) for f in mine])
            phrases = json.loads((p / "audio_segmentation_transcripts" / d / "transcript.json").read_text())
            for ph in phrases["time_stamped_text"]:
                if _sentence_polarity(ph["phrase"]) == 0.0:
                    continue
                for column, terms in TERMS.items():
                    boxes = [f["box"] for f in gts[d]["findings"] if f["name"] == CANONICAL[column]]
                    if not boxes or not any(t in ph["phrase"].lower() for t in terms):
                        continue
                    inside = np.zeros(len(ox), dtype=bool)
                    for b in boxes:
                        m = 0.1 * max(b[2] - b[0], b[3] - b[1])
                        inside |= (ox >= b[0] - m) & (ox <= b[2] + m) & (oy >= b[1] - m) & (oy <= b[3] + m)
                    now = (fe > ph["begin_time"]) & (fs < ph["end_time"])
                    during.append(inside[now].mean())
                    elsewhere.append(inside[~now].mean())
    assert len(during) >= 2
    assert np.mean(during) > 0.7 and np.mean(during) > np.mean(elsewhere) + 0.3, (
        np.mean(during),
        np.mean(elsewhere),
    )


def test_fast_csv_path_writes_the_same_bytes_as_the_csv_module(tmp_path: Path) -> None:
    import io
    import random

    from gazecxr.synth.csvfmt import write_csv

    rnd = random.Random(0)
    cells = ["1.0", "", "a,b", 'x"y', "l\nm", " s ", "txt", "-1"]
    for _ in range(200):
        header = [f"c{i}" for i in range(rnd.randint(1, 5))]
        rows = [[rnd.choice(cells) for _ in header] for _ in range(rnd.randint(0, 4))]
        for crlf in (False, True):
            for index in (False, True):
                write_csv(tmp_path / "t.csv", header, rows, index=index, crlf=crlf, start=3)
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
                w.writerow(["", *header] if index else header)
                w.writerows([[str(3 + i), *r] for i, r in enumerate(rows)] if index else rows)
                assert (tmp_path / "t.csv").read_bytes() == buf.getvalue().encode()
