"""Every invalid value that would change a heatmap, a phase split or a label is flagged with its
path, kind and count (issue 11, item 4); nothing is dropped or clipped silently."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from data_fixtures import Tree, write_mimic_eye, write_standalone
from gazecxr.data.config import DataConfig
from gazecxr.data.index import DatasetIndex, build_index


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return write_mimic_eye(tmp_path / "tree")


def index(root: Path) -> DatasetIndex:
    return build_index(root, DataConfig(), use_cache=False)


def problems(idx: DatasetIndex) -> dict[tuple[str, str], int]:
    """(path, kind) -> count."""
    return {(p.path, p.kind): p.count for p in idx.problems}


def edit_csv(path: Path, edit, crlf: bool = False) -> None:
    """Rewrite a CSV through ``edit(header, rows)`` (rows as lists of strings, edited in place)."""
    header, *body = list(csv.reader(io.StringIO(path.read_text())))
    edit(header, body)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n").writerows([header, *body])
    path.write_text(buf.getvalue())


def test_reflacx_fixation_and_word_times_flagged(tree: Tree) -> None:
    rx = tree.reflacx[0]
    folder = tree.root / f"patient_{rx.subject}" / "REFLACX" / "main_data" / rx.reading_id

    def fixations(header, rows):
        s, e = header.index("timestamp_start_fixation"), header.index("timestamp_end_fixation")
        a = header.index("angular_resolution_x_pixels_per_degree")
        rows[1][s] = ""  # NaN start
        rows[3][s] = "-0.4"  # negative start (also earlier than the previous fixation)
        rows[5][e] = str(float(rows[5][s]) - 0.1)  # ends before it starts
        rows[8], rows[9] = rows[9], rows[8]  # out of time order
        rows[10][a] = "0"  # no pixels per degree

    edit_csv(folder / "fixations.csv", fixations, crlf=True)

    def words(header, rows):
        rows[1][1] = "nan"
        rows[3][1] = "-1.0"

    edit_csv(folder / "timestamps_transcription.csv", words, crlf=True)
    got = problems(index(tree.root))
    fix = f"patient_{rx.subject}/REFLACX/main_data/{rx.reading_id}/fixations.csv"
    assert got[(fix, "bad_time")] == 1 and (fix, "nan_timestamp") not in got  # dropped, not kept
    assert got[(fix, "negative_timestamp")] == 1
    assert got[(fix, "end_before_start")] == 1
    assert got[(fix, "decreasing_timestamp")] == 2  # the swap, and the negative start after 0.5 s
    assert got[(fix, "bad_angular_resolution")] == 1
    ts = f"patient_{rx.subject}/REFLACX/main_data/{rx.reading_id}/timestamps_transcription.csv"
    assert got[(ts, "nan_timestamp")] == 1 and got[(ts, "negative_timestamp")] == 1
    assert got[(ts, "decreasing_timestamp")] == 1


def test_eyegaze_nan_duration_and_negative_start_flagged(tree: Tree) -> None:
    eg = tree.eyegaze[0]
    path = tree.root / f"patient_{eg.subject}" / "EyeGaze" / "fixations.csv"

    def edit(header, rows):
        rows[2][header.index("FPOGD")] = ""
        rows[4][header.index("FPOGS")] = "-2.5"

    edit_csv(path, edit)
    idx = index(tree.root)
    got = problems(idx)
    rel = f"patient_{eg.subject}/EyeGaze/fixations.csv"
    assert got[(rel, "bad_time")] == 1 and got[(rel, "negative_timestamp")] == 1
    r = idx.readings.set_index("reading_id").loc[eg.reading_id]
    assert r["fix_dropped"] == 1 and r["fix_count"] == len(eg.fixations) - 1


def test_duplicate_rows_flagged_first_kept(tree: Tree) -> None:
    rx = tree.reflacx[0]
    meta = tree.root / f"patient_{rx.subject}" / "CXR-JPG" / "cxr_meta.csv"
    edit_csv(meta, lambda header, rows: rows.append(list(rows[0])))
    reflacx = tree.root / f"patient_{rx.subject}" / "REFLACX" / "metadata.csv"
    edit_csv(reflacx, lambda header, rows: rows.append(list(rows[0])))
    idx = index(tree.root)
    got = problems(idx)
    assert got[(f"patient_{rx.subject}/CXR-JPG/cxr_meta.csv", "duplicate_row")] == 1
    assert got[(f"patient_{rx.subject}/REFLACX/metadata.csv", "duplicate_reading")] == 1
    assert list(idx.readings["reading_id"]).count(rx.reading_id) == 1


def test_labels_outside_their_range_flagged(tree: Tree) -> None:
    rx, eg = tree.reflacx[0], tree.eyegaze[0]

    def reflacx(header, rows):
        rows[0][header.index("Atelectasis")] = "7"
        rows[0][header.index("Support devices")] = "maybe"

    edit_csv(tree.root / f"patient_{rx.subject}" / "REFLACX" / "metadata.csv", reflacx)
    edit_csv(
        tree.root / f"patient_{rx.subject}" / "CXR-JPG" / "cxr_chexpert.csv",
        lambda header, rows: rows[0].__setitem__(header.index("Edema"), "2.0"),
    )
    edit_csv(
        tree.root / f"patient_{eg.subject}" / "EyeGaze" / "master_sheet.csv",
        lambda header, rows: rows[0].__setitem__(header.index("CHF"), "3"),
    )
    idx = index(tree.root)
    got = problems(idx)
    assert got[(f"patient_{rx.subject}/REFLACX/metadata.csv", "label_out_of_range")] == 2
    assert got[(f"patient_{rx.subject}/CXR-JPG/cxr_chexpert.csv", "label_out_of_range")] == 1
    assert got[(f"patient_{eg.subject}/EyeGaze/master_sheet.csv", "label_out_of_range")] == 1
    r = idx.readings.set_index("reading_id").loc[rx.reading_id]
    assert r["lab:Atelectasis"] != r["lab:Atelectasis"]  # read as unknown (masked), not as present


def test_clean_release_trees_have_no_value_problems(tree: Tree, tmp_path: Path) -> None:
    rel = write_standalone(tree, tmp_path / "sa", calibration=False)
    for root in (tree.root, rel.reflacx, rel.egd):
        assert index(root).problems == []
