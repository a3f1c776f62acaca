"""Hostile and careless data, round 2 (issue 21): what `data check` says it handles, training
handles too."""

# ruff: noqa: F811 - pytest passes the imported ``run`` fixture by parameter name

from __future__ import annotations

import json
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gazecxr.cli import main
from gazecxr.data import outputs
from gazecxr.data.index import build_index
from image_files import png
from tiny_runs import train_tiny, write_tiny_tree


def test_non_finite_fixation_times_are_dropped_counted_and_training_runs(tmp_path: Path) -> None:
    """Before: NaN / inf fixation times crashed training (`FloatingPointError: loss is nan`, with
    the advice to lower the learning rate) although `data check` said they "get no weight"."""
    tree = write_tiny_tree(tmp_path / "tree")
    poisoned = 0
    for path in sorted(tree.glob("patient_*/REFLACX/main_data/*/fixations.csv")):
        lines = path.read_text().splitlines()
        for row, value in ((1, "nan"), (2, "inf"), (3, "-inf")):
            parts = lines[row].split(",")
            parts[row % 2] = value  # start or end time
            lines[row] = ",".join(parts)
            poisoned += 1
        path.write_text("\r\n".join(lines) + "\r\n")
    idx = build_index(tree, use_cache=False)
    bad = [p for p in idx.problems if p.kind == "bad_time"]
    assert sum(p.count for p in bad) == poisoned
    assert np.isfinite(idx.fixations[:, :4]).all()
    run = train_tiny(tree, tmp_path / "run", "train.epochs=1")
    assert (run / "checkpoint_best.safetensors").is_file()
    record = json.loads((run / "run.json").read_text())
    assert record["data_problems"] >= len(bad) and not math.isnan(
        json.loads((run / "metrics.json").read_text())["train"]["best_val_macro_auroc"]
    )


# --------------------------------------------------------------------------- predict's outputs


def _predict(run: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["-q", "predict", "--run", str(run), *args])


@pytest.mark.parametrize("verb", ["predict", "anatomy locate"])
def test_inputs_named_like_the_manifest_or_an_outputs_never_destroy_a_file(
    run: Path, tmp_path: Path, verb: str
) -> None:
    """Before: `manifest.png` / `failed.png` had their result overwritten by the manifest, and
    `predict d/a.png d/a_overlay.png --out d` replaced the user's a_overlay.png, then predicted it.
    `anatomy locate` had its own copy of the old output code: the same folder logic now serves both."""
    d = tmp_path / "d"
    d.mkdir()
    a, overlay_named = png(d / "a.png", 0.4), png(d / "a_overlay.png", 0.7)
    manifest_named, failed_named = png(d / "manifest.png", 0.5), png(d / "failed.png", 0.6)
    before = overlay_named.read_bytes()
    args = ["-q", *verb.split(), *(["--run", str(run)] if verb == "predict" else [])]
    res = CliRunner().invoke(
        main, [*args, str(a), str(overlay_named), str(manifest_named), str(failed_named), "--out", str(d)]
    )
    assert res.exit_code == 0, res.output
    assert overlay_named.read_bytes() == before  # the input is untouched
    entries = json.loads((d / "manifest.json").read_text())
    assert isinstance(entries, list) and len(entries) == 4 and all("outputs" in e for e in entries)
    written = [name for e in entries for name in e["outputs"].values()]
    assert len(written) == len(set(written)) and not {"manifest.json", "failed.json", "a_overlay.png"} & set(
        written
    )
    for e in entries:  # each result file is the one its input made
        assert isinstance(json.loads((d / e["outputs"]["json"]).read_text()), dict)


def test_an_interrupted_run_leaves_a_true_manifest(run: Path, tmp_path: Path, monkeypatch) -> None:
    """Before: Ctrl-C during predict left the old manifest.json, so new results were unlisted."""
    from gazecxr.train.predict import Predictor

    images = [png(tmp_path / f"i{k}.png", 0.3 + 0.1 * k) for k in range(4)]
    out = tmp_path / "out"
    assert _predict(run, str(images[3]), "--out", str(out)).exit_code == 0  # an older manifest
    real = Predictor.predict_radiograph
    calls = []

    def interrupted(self, radiograph):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, radiograph)

    monkeypatch.setattr(Predictor, "predict_radiograph", interrupted)
    _predict(run, *map(str, images[:3]), "--out", str(out))
    listed = {e["input"] for e in json.loads((out / "manifest.json").read_text()) if "outputs" in e}
    assert listed == {str(p.resolve()) for p in (images[0], images[1], images[3])}


def test_a_failing_rerun_removes_that_inputs_old_outputs(run: Path, tmp_path: Path) -> None:
    image, out = png(tmp_path / "x.png", 0.5), tmp_path / "out"
    assert _predict(run, str(image), "--out", str(out)).exit_code == 0
    assert (out / "x.json").is_file() and (out / "x_overlay.png").is_file()
    image.write_bytes(b"no longer an image")
    assert _predict(run, str(image), "--out", str(out)).exit_code == 1
    assert not any(out.glob("x*")) and json.loads((out / "manifest.json").read_text())[0]["failed"]
    # Given with another input first, the same file's outputs are named differently (relative to
    # the inputs' common folder); a later failure still removes what the manifest listed for it.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    image2, other = png(tmp_path / "a" / "x.png", 0.5), png(tmp_path / "b" / "y.png", 0.6)  # a__x, b__y
    assert _predict(run, str(image2), str(other), "--out", str(out)).exit_code == 0
    listed = next(e for e in json.loads((out / "manifest.json").read_text()) if e["input"] == str(image2))
    assert (out / listed["outputs"]["json"]).is_file()
    image2.write_bytes(b"broken again")
    assert _predict(run, str(image2), "--out", str(out)).exit_code == 1
    assert not any((out / name).exists() for name in listed["outputs"].values())


def _record_many(out: str, who: int) -> None:
    for k in range(40):
        outputs.record(Path(out), {"input": f"/in/{who}-{k}.png", "outputs": {}})


def test_two_runs_into_one_folder_keep_every_entry(tmp_path: Path) -> None:
    """Before: two predict runs into one folder kept only the last writer's manifest."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), who)) for who in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    entries = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(e["input"] for e in entries) == sorted(
        f"/in/{w}-{k}.png" for w in (1, 2) for k in range(40)
    )


# --------------------------------------------------------------------------- data problems


def test_data_problems_that_went_unreported_are_counted(tmp_path: Path) -> None:
    """Before: a patient_* symlink loop, a non-UTF-8 transcription.txt and an inverted chest or
    anatomy box gave 0 problems (and the loop a traceback later)."""
    import os

    tree = write_tiny_tree(tmp_path / "tree")
    os.symlink(tree / "patient_99999998", tree / "patient_99999999")  # a loop of two links
    os.symlink(tree / "patient_99999999", tree / "patient_99999998")
    txt = next(tree.glob("patient_*/REFLACX/main_data/*/transcription.txt"))
    txt.write_bytes(b"caf\xe9 opacity in the right lung\n")  # Latin-1, not UTF-8
    chest = next(tree.glob("patient_*/REFLACX/main_data/*/chest_bounding_box.csv"))
    lines = chest.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    i0, i2 = header.index("xmin"), header.index("xmax")
    row[i0], row[i2] = row[i2], row[i0]  # inverted
    chest.write_text("\r\n".join([lines[0], ",".join(row)]) + "\r\n")
    boxes = next(tree.glob("patient_*/EyeGaze/bounding_boxes.csv"))
    blines = boxes.read_text().splitlines()
    bh = blines[0].split(",")
    br = blines[1].split(",")
    j1, j2 = bh.index("x1"), bh.index("x2")
    br[j1], br[j2] = br[j2], br[j1]
    blines[1] = ",".join(br)
    boxes.write_text("\n".join(blines) + "\n")
    idx = build_index(tree, use_cache=False)
    kinds = {p.kind for p in idx.problems}
    assert {"not_a_folder", "bad_encoding", "bad_box"} <= kinds, kinds
    assert sum(p.kind == "not_a_folder" for p in idx.problems) == 2
    assert sum(p.kind == "bad_box" for p in idx.problems) == 2  # the chest box and the anatomy box
    assert all(e["chest_box"] is None or e["chest_box"][2] > e["chest_box"][0] for e in idx.extras)
    run = train_tiny(tree, tmp_path / "run", "train.epochs=1")
    assert json.loads((run / "run.json").read_text())["data_problems"] == len(idx.problems)


# --------------------------------------------------------------------------- anatomy sources


def _coco(folder: Path, patients: list[str], missing: int = 0) -> Path:
    """A COCO file of lung boxes on phantom-free noise images, one per entry of ``patients``."""
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for k, patient in enumerate(patients):
        name = f"x{k}.png"
        if k >= missing:
            Image.fromarray(rng.integers(0, 255, (96, 96), dtype=np.uint8)).save(folder / "images" / name)
        images.append(
            {"id": k, "file_name": name, "width": 96, "height": 96, "metadata": {"patientid": patient}}
        )
        for cat, x in ((1, 10), (2, 50)):
            annotations.append(
                {"id": 2 * k + cat, "image_id": k, "category_id": cat, "bbox": [x, 10, 36, 70]}
            )
    cats = [{"id": 1, "name": "Right Lung"}, {"id": 2, "name": "Left Lung"}]
    path = folder / "boxes.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    return path


def test_anatomy_train_and_cv_on_too_little_data_is_one_line(tmp_path: Path) -> None:
    """Before: one image, or fewer patients than folds, gave tracebacks."""
    one = _coco(tmp_path / "one", ["a"])
    few = _coco(tmp_path / "few", ["a", "a", "b"])
    fast = ["--set", "epochs=1", "--set", "views=1"]
    res = CliRunner().invoke(
        main, ["anatomy", "train", "--coco", str(one), "--out", str(tmp_path / "m"), *fast]
    )
    assert res.exit_code == 2 and "at least 2" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["anatomy", "cv", "--coco", str(few), *fast])
    assert res.exit_code == 2 and "2 patient(s) for 5-fold" in res.output and "Traceback" not in res.output
    gone = _coco(tmp_path / "gone", ["a", "b", "c"], missing=1)  # its first image is absent
    res = CliRunner().invoke(
        main, ["anatomy", "train", "--coco", str(gone), "--out", str(tmp_path / "g"), *fast]
    )
    # The absent image is skipped and counted; lung boxes alone cannot fit the lung-anchored layout
    # (issue 24), which is one line too.
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert "lung-anchored layout needs every region" in res.output


# --------------------------------------------------------------------------- memory guards


def test_a_dicom_holding_far_more_than_its_header_declares_is_refused_before_reading(tmp_path: Path) -> None:
    """Before: a DICOM declaring 1000 x 1000 but holding 1 GB (sparse on disk) cost 6 GB before
    it was refused."""
    from gazecxr.data.images import ImageReadError, load_image
    from hostile import inflate_pixel_data, write_dicom

    path = write_dicom(tmp_path / "big.dcm", 1000, 1000)  # 2 MB of declared pixels
    assert load_image(path).shape == (1000, 1000)
    inflate_pixel_data(path, 300 * 2**20)  # 300 MiB of pixel data, sparse: nothing is written
    with pytest.raises(ImageReadError, match="refused before reading the pixel data"):
        load_image(path)


def test_a_table_far_beyond_any_release_is_refused_before_parsing(tmp_path: Path) -> None:
    """Before: a 2 GB sparse fixations.csv cost 4.2 GB in data check."""
    from gazecxr.data import tables

    tree = write_tiny_tree(tmp_path / "tree")
    fix = next(tree.glob("patient_*/EyeGaze/fixations.csv"))
    with fix.open("r+b") as fh:
        fh.truncate(tables.MAX_TABLE_BYTES + 1)  # sparse
    idx = build_index(tree, use_cache=False)
    assert [p.kind for p in idx.problems if p.path.endswith("fixations.csv")][:1] == ["too_large"]
