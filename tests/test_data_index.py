"""The per-reading index: layouts, labels, cache, and every bad-input case of issue 3."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from data_fixtures import Tree, write_mimic_eye, write_standalone
from gazecxr.data.config import DataConfig
from gazecxr.data.index import DatasetIndex, DatasetRootError, build_index
from gazecxr.data.labels import reflacx_findings


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return write_mimic_eye(tmp_path / "tree")


def index(root: Path, **cfg) -> DatasetIndex:
    return build_index(root, DataConfig(**cfg), use_cache=False)


def kinds(idx: DatasetIndex) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in idx.problems:
        out.setdefault(p.kind, []).append(f"{p.path}: {p.detail}")
    return out


def row(idx: DatasetIndex, reading_id: str):
    return idx.readings.set_index("reading_id").loc[reading_id]


def test_fixture_tree_reads_cleanly(tree: Tree) -> None:
    idx = index(tree.root)
    assert idx.layout == "mimic-eye" and idx.problems == []
    st = idx.stats()
    assert (st["patients"], st["images"], st["reflacx_readings"], st["reflacx_readings_discarded"]) == (
        6,
        6,
        5,
        1,
    )
    assert (
        st["reflacx_readings_with_fixations"],
        st["eyegaze_images"],
        st["eyegaze_images_with_fixations"],
    ) == (4, 3, 3)
    assert st["fixations_total"] == sum(len(r.fixations) for r in tree.reflacx + tree.eyegaze)
    assert st["fixations_outside_image"] == len(tree.reflacx)  # one deliberate off-image fixation each
    for reading in tree.reflacx:
        r = row(idx, reading.reading_id)
        assert (r["subject_id"], r["study_id"], r["dicom_id"]) == (
            reading.subject,
            reading.study,
            reading.dicom,
        )
        assert (r["height"], r["width"], r["view"]) == (tree.height, tree.width, "PA")
        np.testing.assert_array_equal(idx.reading_fixations(int(r["row"]))[:, :2], reading.fixations[:, :2])
        assert r["first_word_time"] == 3.0 and r["trust"] > 0


def test_label_harmonisation_per_source(tree: Tree) -> None:
    idx = index(tree.root)
    phase1 = row(idx, tree.reflacx[0].reading_id)  # P1..: its nodule is in the phase-1 "Mass" column
    assert phase1["phase"] == 1
    assert phase1["lab:Lung nodule or mass"] == 1.0  # Mass (certainty 4) merged
    assert phase1["lab:Pulmonary edema"] == 0.0  # certainty 2 < threshold 3
    assert phase1["lab:Support devices"] == 1.0  # boolean column
    assert math.isnan(phase1["lab:Hiatal hernia"])  # no phase-1 column: unknown, masked
    assert math.isnan(phase1["chx:Edema"])  # CheXpert -1 (uncertain) is unknown
    assert math.isnan(phase1["egd:CHF"])
    phase2 = row(idx, tree.reflacx[1].reading_id)
    assert (
        phase2["phase"] == 2
        and phase2["lab:Hiatal hernia"] == 0.0
        and phase2["lab:Lung nodule or mass"] == 1.0
    )
    lowered = index(tree.root, certainty_threshold=2)
    assert row(lowered, tree.reflacx[0].reading_id)["lab:Pulmonary edema"] == 1.0
    chf = row(idx, tree.eyegaze[0].reading_id)  # patient 1: CHF, granular edema + enlarged heart
    assert (chf["egd:CHF"], chf["egd:Normal"]) == (1.0, 0.0)
    assert chf["lab:Pulmonary edema"] == 1.0 and chf["lab:Enlarged cardiac silhouette"] == 1.0
    assert chf["lab:Consolidation"] == 0.0 and math.isnan(chf["lab:Pneumothorax"])


def test_reflacx_phase_merge_table() -> None:
    rec = {
        "Mass": "1",
        "Nodule": "3",
        "Emphysema": "5",
        "Pleural thickening": "0",
        "Pleural effusion": "4",
        "Lung nodule or mass": "",
        "Support devices": "False",
    }
    got = reflacx_findings(rec, threshold=3)
    assert got["Lung nodule or mass"] == 1.0 and got["High lung volume / emphysema"] == 1.0
    assert got["Pleural abnormality"] == 1.0 and got["Support devices"] == 0.0
    assert math.isnan(got["Atelectasis"])


def test_side_data_ellipses_chest_box_report_anatomy(tree: Tree) -> None:
    idx = index(tree.root)
    extra = idx.extras[int(row(idx, tree.reflacx[0].reading_id)["row"])]
    assert (
        extra["ellipses"][0]["labels"] == ["Lung nodule or mass"] and extra["ellipses"][0]["certainty"] == 4
    )
    assert extra["chest_box"] == [10, 12, 90, 108]
    assert extra["words"][0] == ["the", 3.0, 3.2] and extra["text"] == "the lungs show a nodule."
    assert extra["report"]["findings"] == "The lungs are clear. No effusion."
    assert extra["report"]["indication"] == "___ with dyspnea"
    eg = idx.extras[int(row(idx, tree.eyegaze[0].reading_id)["row"])]
    assert len(eg["anatomy_boxes"]) == 17 and eg["anatomy_boxes"]["right lung"] == [5, 10, 50, 80]
    assert eg["text"] == "heart is enlarged" and eg["words"][1] == ["enlarged", 4.7, 5.2]


def test_cache_reused_and_invalidated_on_change(tree: Tree, tmp_path: Path) -> None:
    cfg = DataConfig(cache_dir=str(tmp_path / "cache"))
    first = build_index(tree.root, cfg)
    second = build_index(tree.root, cfg)
    assert not first.from_cache and second.from_cache
    assert second.readings.drop(columns=[]).equals(first.readings)
    np.testing.assert_array_equal(second.fixations, first.fixations)
    path = next(tree.root.glob("patient_*/REFLACX/main_data/*/fixations.csv"))
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join(lines[:-3]) + b"\r\n")  # two fixations fewer
    os.utime(path, ns=(1, 1))
    third = build_index(tree.root, cfg)
    assert not third.from_cache and third.stats()["fixations_total"] == first.stats()["fixations_total"] - 2
    # The default cache lives in a hidden folder of the root, which the fingerprint ignores.
    build_index(tree.root)
    assert build_index(tree.root).from_cache and (tree.root / ".gazecxr-cache" / "index.json").is_file()


def test_a_moved_tree_does_not_reuse_its_cached_paths(tree: Tree, tmp_path: Path) -> None:
    before = build_index(tree.root)
    assert before.readings["image_path"].str.startswith(str(tree.root)).all()
    moved = tree.root.rename(tmp_path / "moved")  # its .gazecxr-cache travels with it
    after = build_index(moved)
    assert not after.from_cache
    assert after.readings["image_path"].str.startswith(str(moved)).all()
    assert all(Path(p).is_file() for p in after.readings["image_path"])


def test_missing_side_files_are_reported(tree: Tree) -> None:
    main = (
        tree.root
        / f"patient_{tree.reflacx[0].subject}"
        / "REFLACX"
        / "main_data"
        / tree.reflacx[0].reading_id
    )
    (main / "chest_bounding_box.csv").unlink()
    (main / "transcription.txt").unlink()
    ell = main / "anomaly_location_ellipses.csv"
    ell.write_bytes(ell.read_bytes().replace(b"\r\n20,", b"\r\nabc,"))  # a non-numeric xmin
    eg = tree.eyegaze[0]
    next(tree.root.glob(f"patient_{eg.subject}/CXR-DICOM/s*.txt")).unlink()
    idx = index(tree.root)
    missing = kinds(idx)["missing_file"]
    assert len(missing) == 3
    assert sum(m.startswith(f"patient_{tree.reflacx[0].subject}/REFLACX/") for m in missing) == 2
    assert any(m.startswith(f"patient_{eg.subject}/CXR-DICOM/") for m in missing)
    r = row(idx, tree.reflacx[0].reading_id)
    assert r["fix_count"] == 30 and idx.extras[int(r["row"])]["chest_box"] is None
    assert idx.extras[int(r["row"])]["ellipses"] == [] and "ellipse" in kinds(idx)["bad_value"][0]
    assert (
        row(idx, eg.reading_id)["report_path"] == ""
        and idx.extras[int(row(idx, eg.reading_id)["row"])]["report"] == {}
    )


def test_discarded_reading_keeps_labels_but_no_gaze(tree: Tree) -> None:
    idx = index(tree.root)
    discarded = idx.readings[idx.readings["discarded"]]
    assert len(discarded) == 1
    r = discarded.iloc[0]
    assert r["fix_count"] == 0 and r["trust"] == 0.0 and r["lab:Lung nodule or mass"] == 1.0
    assert idx.problems == []  # its absent gaze files are expected, not problems


def test_empty_and_header_only_csvs(tree: Tree) -> None:
    a, b = tree.reflacx[0], tree.reflacx[1]
    base = tree.root / f"patient_{a.subject}" / "REFLACX" / "main_data"
    (base / a.reading_id / "fixations.csv").write_bytes(b"")
    header = (base / b.reading_id / "fixations.csv").read_bytes().split(b"\r\n")[0]
    (base / b.reading_id / "fixations.csv").write_bytes(header + b"\r\n")
    ell = base / b.reading_id / "anomaly_location_ellipses.csv"
    ell.write_bytes(ell.read_bytes().split(b"\r\n")[0] + b"\r\n")  # a normal reading: no ellipse
    idx = index(tree.root)
    k = kinds(idx)
    assert len(k["empty_csv"]) == 1 and a.reading_id in k["empty_csv"][0]
    assert len(k["header_only"]) == 1 and b.reading_id in k["header_only"][0]
    assert row(idx, a.reading_id)["fix_count"] == 0 and row(idx, b.reading_id)["fix_count"] == 0
    assert idx.extras[int(row(idx, b.reading_id)["row"])]["ellipses"] == []


def test_crlf_and_unnamed_index_column_are_read(tree: Tree) -> None:
    meta = next(tree.root.glob("patient_*/REFLACX/metadata.csv"))
    assert meta.read_text().startswith(",id,")  # MIMIC-Eye's pandas index column
    assert b"\r\n" in next(tree.root.glob("patient_*/REFLACX/main_data/*/fixations.csv")).read_bytes()
    meta.write_bytes(meta.read_bytes().replace(b"\n", b"\r\n"))
    idx = index(tree.root)
    assert idx.problems == [] and "Unnamed: 0" not in idx.readings.columns


def test_egd_calibration_rows_never_merged_into_a_radiograph(tree: Tree, tmp_path: Path) -> None:
    """Calibration screens interleaved between images (ids 5 characters short of the next image's,
    and one over-long id) are dropped and counted; every image's fixations, heatmap and
    silent / reporting split equal those of the same release without them. Before, a truncated id
    was "repaired" into the image it prefixes."""
    from gazecxr.gaze.config import GazeConfig
    from gazecxr.gaze.fixations import reading_heatmap

    with_cal = write_standalone(tree, tmp_path / "with")
    without = write_standalone(tree, tmp_path / "without", calibration=False)
    assert with_cal.calibration_rows == 4 * (len(tree.eyegaze) - 1) + 3
    a, b = index(with_cal.egd), index(without.egd)
    assert b.problems == [] and b.stats()["calibration_rows"] == 0
    assert a.stats()["calibration_rows"] == with_cal.calibration_rows
    (problem,) = [p for p in a.problems if p.kind == "calibration_rows"]  # reported once
    assert problem.path == "fixations.csv" and problem.count == with_cal.calibration_rows
    assert "calibration screen" in problem.detail and "never merged" in problem.detail
    assert [p.kind for p in a.problems] == ["calibration_rows"]
    assert a.stats()["fixations_total"] == b.stats()["fixations_total"]
    for reading in tree.eyegaze:
        ra, rb = (int(row(i, reading.reading_id)["row"]) for i in (a, b))
        np.testing.assert_array_equal(a.reading_fixations(ra), b.reading_fixations(rb))
        for phase in ("all", "silent", "reporting"):
            cfg = GazeConfig(phase=phase)
            fa, sa = a.selected_fixations(ra, cfg)
            fb, sb = b.selected_fixations(rb, cfg)
            assert sa == sb
            size = (tree.height, tree.width)
            np.testing.assert_array_equal(
                reading_heatmap(fa, size, (16, 16), cfg), reading_heatmap(fb, size, (16, 16), cfg)
            )


def test_dicom_id_in_one_table_and_not_another(tree: Tree) -> None:
    reading = tree.reflacx[0]
    meta = tree.root / f"patient_{reading.subject}" / "CXR-JPG" / "cxr_meta.csv"
    meta.write_text(meta.read_text().replace(reading.dicom, "ffffffff" + reading.dicom[8:]))
    eg = tree.eyegaze[0]
    fix = tree.root / f"patient_{eg.subject}" / "EyeGaze" / "fixations.csv"
    calibration = "calibration-" + "9" * 40
    lines = fix.read_text().splitlines()
    lines.append(lines[-1].replace(eg.dicom, calibration))
    fix.write_text("\n".join(lines) + "\n")
    idx = index(tree.root)
    mismatch = kinds(idx)["dicom_id_mismatch"]
    assert any(reading.dicom in m and "cxr_meta" not in m.split(":")[0] for m in mismatch)
    assert any(calibration in m for m in kinds(idx)["calibration_rows"])
    assert idx.stats()["calibration_rows"] == 1
    # The reading is still indexed: study from the REFLACX image path, size from its metadata.
    assert row(idx, reading.reading_id)["study_id"] == reading.study


def test_missing_image_skips_reading_with_report(tree: Tree) -> None:
    reading = tree.eyegaze[1]
    next(tree.root.glob(f"patient_{reading.subject}/CXR-JPG/s*/*.jpg")).unlink()
    idx = index(tree.root)
    assert reading.reading_id not in set(idx.readings["reading_id"])
    (problem,) = kinds(idx)["missing_image"]
    assert problem.startswith(f"patient_{reading.subject}/CXR-JPG/") and "skipped" in problem


def test_not_a_dataset_root(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "empty", tmp_path / "absent"):
        with pytest.raises(DatasetRootError) as err:
            build_index(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_standalone_releases_open_as_physionet_ships_them(tree: Tree, tmp_path: Path) -> None:
    """REFLACX with metadata_phase_*.csv inside main_data/ (the release root or main_data/ given as
    ROOT), EGD-CXR with calibration rows, MIMIC-CXR-JPG tables as .csv.gz: the same readings,
    labels and fixations as the MIMIC-Eye tree they were cut from."""
    rel = write_standalone(tree, tmp_path / "sa")
    assert (rel.reflacx / "main_data" / "metadata_phase_1.csv").is_file()
    assert not list(rel.reflacx.glob("metadata*")) and list(rel.cxr.glob("*.csv.gz"))
    eye = index(tree.root).readings.set_index("reading_id")
    cols = ["subject_id", "study_id", "dicom_id", "fix_count", "official_split", "discarded"]
    for root, layout, source in (
        (rel.reflacx, "reflacx", "reflacx"),
        (rel.reflacx / "main_data", "reflacx", "reflacx"),
        (rel.egd, "egd", "eyegaze"),
    ):
        idx = index(root)
        assert idx.layout == layout
        assert [p.kind for p in idx.problems] == ([] if source == "reflacx" else ["calibration_rows"])
        got = idx.readings.set_index("reading_id")
        want = eye[eye["source"] == source]
        assert sorted(got.index) == sorted(want.index)
        labels = [c for c in got.columns if c.startswith(("lab:", "chx:", "egd:"))]
        assert got.loc[want.index, cols + labels].equals(want[cols + labels])
        for rid in want.index:
            np.testing.assert_array_equal(
                idx.reading_fixations(int(got.loc[rid, "row"])),
                index(tree.root).reading_fixations(int(eye.loc[rid, "row"])),
            )
    st = index(rel.reflacx).stats()
    assert (
        st["reflacx_readings"],
        st["reflacx_readings_discarded"],
        st["reflacx_readings_with_fixations"],
    ) == (5, 1, 4)
    assert st["fixations_total"] == sum(len(r.fixations) for r in tree.reflacx)
    assert index(rel.egd).stats()["fixations_total"] == sum(len(r.fixations) for r in tree.eyegaze)
    # Which placement was found is reported; main_data/ as ROOT reads the release above it.
    assert "main_data/metadata_phase_*.csv" in index(rel.reflacx).placement
    sub = index(rel.reflacx / "main_data")
    assert sub.root == rel.reflacx.resolve() and "given as the root" in sub.placement
    with pytest.raises(DatasetRootError, match="cxr_root"):
        build_index(rel.reflacx, DataConfig(cxr_root=str(tmp_path)), use_cache=False)
    assert index(rel.reflacx, cxr_root=str(rel.cxr)).problems == []


def test_reflacx_metadata_placements_beside_main_data(tree: Tree, tmp_path: Path) -> None:
    """Metadata beside main_data/ (per phase, or one concatenated metadata.csv) still opens."""
    rel = write_standalone(tree, tmp_path / "sa")
    n = len(index(rel.reflacx).readings)
    for f in sorted((rel.reflacx / "main_data").glob("metadata_phase_*.csv")):
        f.rename(rel.reflacx / f.name)
    idx = index(rel.reflacx)
    assert len(idx.readings) == n and idx.placement.startswith("metadata_phase_*.csv beside main_data/")
    meta = tree.root.glob("patient_*/REFLACX/metadata.csv")
    lines = [m.read_text().splitlines() for m in meta]
    for f in rel.reflacx.glob("metadata_phase_*.csv"):
        f.unlink()
    body = [lines[0][0]] + [ln for part in lines for ln in part[1:]]
    (rel.reflacx / "metadata.csv").write_text("\n".join(body) + "\n")
    idx = index(rel.reflacx)
    assert len(idx.readings) == n and idx.placement == "metadata.csv beside main_data/"


def test_invalid_and_blank_fixation_rows_are_dropped_and_counted(tree: Tree) -> None:
    eg = tree.eyegaze[0]
    path = tree.root / f"patient_{eg.subject}" / "EyeGaze" / "fixations.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("FPOGV")] = "0"  # the tracker marked this fixation invalid
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    rx = tree.reflacx[1]
    fix = tree.root / f"patient_{rx.subject}" / "REFLACX" / "main_data" / rx.reading_id / "fixations.csv"
    rows = fix.read_bytes().split(b"\r\n")
    parts = rows[1].split(b",")
    parts[2] = parts[3] = b""
    rows[1] = b",".join(parts)
    fix.write_bytes(b"\r\n".join(rows))
    master = tree.root / f"patient_{eg.subject}" / "EyeGaze" / "master_sheet.csv"
    master.write_text(master.read_text().replace(",40,40,300,300,", ",,40,300,300,"))
    idx = index(tree.root)
    assert (
        row(idx, eg.reading_id)["fix_dropped"] == 1
        and row(idx, eg.reading_id)["fix_count"] == len(eg.fixations) - 1
    )
    assert row(idx, rx.reading_id)["fix_dropped"] == 1 and row(idx, rx.reading_id)["fix_count"] == 29
    assert idx.stats()["fixations_dropped_invalid"] == 2
    k = kinds(idx)
    assert len(k["blank_fixations"]) == 1 and "pads missing" in k["bad_value"][0]


def test_every_label_set_resolves_to_index_columns(tree: Tree) -> None:
    from gazecxr.data.labels import LABEL_SETS, label_columns

    columns = set(index(tree.root).readings.columns)
    for name, labels in LABEL_SETS.items():
        cols = label_columns(name)
        assert len(cols) == len(labels) and set(cols) <= columns, name
    with pytest.raises(KeyError, match="choose one of"):
        label_columns("nonexistent")


def test_eyegaze_angular_resolution_from_display_geometry(tree: Tree) -> None:
    from gazecxr.gaze.config import GazeConfig

    idx = index(tree.root)
    r = int(row(idx, tree.eyegaze[0].reading_id)["row"])
    assert np.isnan(idx.reading_fixations(r)[:, 4:6]).all()  # not recorded by EyeGaze
    sel, _ = idx.selected_fixations(r, GazeConfig(eyegaze_screen_px_per_deg=40.0))
    top, bottom, left, right = 40, 40, 300, 300  # data_fixtures.PADS
    np.testing.assert_allclose(sel[:, 4], 40.0 * tree.width / (1920 - left - right), rtol=1e-6)
    np.testing.assert_allclose(sel[:, 5], 40.0 * tree.height / (1080 - top - bottom), rtol=1e-6)
    fallback, _ = idx.selected_fixations(r, GazeConfig(eyegaze_screen_px_per_deg=None))
    assert np.isnan(fallback[:, 4]).all()  # sigma_px applies
