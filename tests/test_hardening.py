"""Hostile and careless input (issue 14): every case failed before its fix and passes now.

- outputs of ``predict`` never collide and ``failed.json`` describes the latest run only;
- a small file declaring a huge image is refused from its header before decoding, everywhere;
- one read from file to model input: the same real JPEG, PNG and DICOM give the same
  probabilities through ``predict``, ``report`` and the viewer API;
- bad run files (thresholds, pickled state or weights) give one line and exit 2, never a
  traceback and never the advice to disable ``weights_only``.
"""

# ruff: noqa: F811 - pytest passes the imported ``run`` fixture by parameter name

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gazecxr.cli import main
from gazecxr.data.images import ImageReadError, load_image, load_resized
from hostile import write_bomb_png
from hostile_pickle import Hostile
from image_files import png


def one_line_exit_2(result) -> str:  # noqa: ANN001 - click Result
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


# --------------------------------------------------------------------------- predict outputs


def test_predict_outputs_never_collide_and_count_what_was_written(run: Path, tmp_path: Path) -> None:
    """`predict x.png x_2.jpg b/x.png`: before, b/x.png's result overwrote x_2.jpg's (named x_2)
    and the command still said "3 of 3 images predicted"."""
    a = png(tmp_path / "in" / "x.png", 0.2)
    b = tmp_path / "in" / "x_2.jpg"
    Image.open(png(tmp_path / "tmp" / "b.png", 0.5)).save(b)
    c = png(tmp_path / "in" / "b" / "x.png", 0.8)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["predict", "--run", str(run), str(a), str(b), str(c), "--out", str(out)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["input"] for m in manifest] == [str(a), str(b), str(c)]
    names = [m["outputs"]["json"] for m in manifest]
    assert len(set(names)) == 3 and sorted(
        p.name for p in out.glob("*.json") if p.name != "manifest.json"
    ) == sorted(names)
    for m, path in zip(manifest, (a, b, c), strict=True):
        record = json.loads((out / m["outputs"]["json"]).read_text())
        assert record["image_path"] == str(path)  # each file holds its own input's result
        for key in ("attention", "overlay"):
            assert (out / m["outputs"][key]).is_file()
    assert "3 of 3 images predicted" in res.output


def test_failed_json_describes_the_latest_run_only(run: Path, tmp_path: Path) -> None:
    good = png(tmp_path / "good.png", 0.4)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["predict", "--run", str(run), str(good), str(bad), "--out", str(out)])
    assert res.exit_code == 1 and "1 of 2 images predicted" in res.output
    assert [f["path"] for f in json.loads((out / "failed.json").read_text())] == [str(bad)]
    res = CliRunner().invoke(main, ["predict", "--run", str(run), str(good), "--out", str(out)])
    assert res.exit_code == 0 and not (out / "failed.json").exists()  # no stale failures left behind
    # The manifest is the folder's: every input ever predicted into it, each as it last ended.
    entries = {m["input"]: "outputs" in m for m in json.loads((out / "manifest.json").read_text())}
    assert entries == {str(good.resolve()): True, str(bad.resolve()): False}


# --------------------------------------------------------------------------- decompression bombs


def test_bomb_refused_from_the_header_before_decoding(run: Path, tmp_path: Path) -> None:
    bomb = write_bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200_000
    for read in (lambda: load_image(bomb), lambda: load_resized(bomb, 64)):
        with pytest.raises(ImageReadError, match="12000 x 12000 pixels .* above the limit of 50 MP"):
            read()
    assert load_image(bomb, draft_size=64, max_pixels=None).shape == (12000, 12000)  # a real image
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["predict", "--run", str(run), str(bomb), "--out", str(out)])
    assert (
        res.exit_code == 1 and "above the limit" in json.loads((out / "failed.json").read_text())[0]["reason"]
    )
    res = CliRunner().invoke(main, ["report", "--run", str(run), str(bomb)])
    assert res.exit_code != 0 and "above the limit" in res.output and "Traceback" not in res.output
    # The limit is configurable: a run may allow less.
    small = png(tmp_path / "small.png", 0.5, (300, 300))
    res = CliRunner().invoke(
        main, ["predict", "--run", str(run), str(small), "--out", str(out), "--max-pixels", "1000"]
    )
    assert res.exit_code == 1 and "above the limit of 0 MP" in res.output


def test_dicom_declaring_a_huge_image_is_refused(shared_data: Path, tmp_path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(str(shared_data / "real_cxr" / "dicom" / "siim_pneumothorax_sample.dcm"))
    ds.Rows, ds.Columns = 20000, 20000  # the header lies; nothing of that size may be allocated
    path = tmp_path / "huge.dcm"
    ds.save_as(str(path))
    with pytest.raises(ImageReadError, match="20000 x 20000 pixels"):
        load_image(path)


def test_viewer_refuses_a_bomb_upload(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from gazecxr.viewer.app import create_app
    from viewer_stub import LOCAL, MeanAnalyzer

    client = TestClient(create_app(MeanAnalyzer(), max_upload_mb=1), base_url=LOCAL)
    data = write_bomb_png(tmp_path / "bomb.png").read_bytes()
    res = client.post("/api/analyze", files={"file": ("bomb.png", data, "image/png")})
    assert res.status_code == 422 and "above the limit" in res.json()["error"]


# --------------------------------------------------------------------------- one read path


@pytest.mark.realdata
def test_same_file_same_answer_through_predict_report_and_viewer(
    run: Path, shared_data: Path, tmp_path: Path
) -> None:
    """Before, predict decoded JPEGs in reduced draft mode and the viewer at full resolution
    (7 of 44 real JPEGs differed by up to 0.071 in probability)."""
    from fastapi.testclient import TestClient

    from gazecxr.viewer.analyzer import RunAnalyzer
    from gazecxr.viewer.app import create_app
    from viewer_stub import LOCAL

    real = shared_data / "real_cxr"
    files = [
        next(p for p in sorted((real / "images").glob("*.jpg")) if Image.open(p).size[0] > 1000),
        next(iter(sorted((real / "images").glob("*.png")))),
        real / "dicom" / "siim_pneumothorax_sample.dcm",
    ]
    client = TestClient(create_app(RunAnalyzer(run)), base_url=LOCAL)
    for path in files:
        out = tmp_path / path.stem
        res = CliRunner().invoke(main, ["predict", "--run", str(run), str(path), "--out", str(out)])
        assert res.exit_code == 0, res.output
        manifest = json.loads((out / "manifest.json").read_text())
        predicted = json.loads((out / manifest[0]["outputs"]["json"]).read_text())["probabilities"]
        res = CliRunner().invoke(main, ["report", "--run", str(run), str(path), "--format", "json"])
        assert res.exit_code == 0, res.output
        reported = json.loads(res.output)["prediction"]["probabilities"]
        viewed = client.post("/api/analyze", files={"file": (path.name, path.read_bytes(), "image/x")}).json()
        for name, p in predicted.items():
            assert abs(reported[name] - p) <= 1e-5 and abs(viewed["probabilities"][name] - p) <= 1e-5, (
                path,
                name,
            )


# --------------------------------------------------------------------------- bad run files


def _swap(d: dict) -> dict:
    d["labels"][0], d["labels"][1] = d["labels"][1], d["labels"][0]
    return d


def _set_first(value: object):  # noqa: ANN202 - a mutation of the thresholds dict
    def mutate(d: dict) -> dict:
        d["thresholds"][d["labels"][0]] = value
        return d

    return mutate


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: "[" * 100_000, "not valid JSON"),  # nesting deep enough to exhaust the parser
        (_swap, "not the run's own"),  # swapped names would swap the reported probabilities
        (lambda d: {**d, "labels": [d["labels"][0], *d["labels"][:-1]]}, "not the run's own"),  # duplicate
        (lambda d: {**d, "labels": []}, "not the run's own"),
        (lambda d: {**d, "thresholds": {}}, "no threshold for label"),
        (_set_first(7.5), "in [0, 1]"),
        (_set_first(-3), "in [0, 1]"),
        (_set_first(True), "not a number"),
        (_set_first("0.5"), "not a number"),
    ],
    ids=["not-json", "deep", "swapped", "duplicate", "empty", "missing", "7.5", "-3", "true", "string"],
)
def test_bad_thresholds_file_is_one_line_for_predict_and_serve(
    run: Path,
    tmp_path: Path,
    mutate,  # noqa: ANN001 - a function of the thresholds dict
    words: str,
) -> None:
    """Audit (issue 21, item 8): thresholds.json was trusted over the run."""
    broken = tmp_path / "run"
    shutil.copytree(run, broken)
    content = mutate(json.loads((run / "thresholds.json").read_text()))
    (broken / "thresholds.json").write_text(content if isinstance(content, str) else json.dumps(content))
    image = png(tmp_path / "x.png", 0.5)
    line = one_line_exit_2(
        CliRunner().invoke(main, ["predict", "--run", str(broken), str(image), "--out", str(tmp_path / "o")])
    )
    assert words in line and "thresholds.json" in line
    line = one_line_exit_2(CliRunner().invoke(main, ["serve", "--run", str(broken), "--port", "0"]))
    assert words in line


def test_pickled_state_and_weights_are_refused_in_one_line(tmp_path: Path) -> None:
    """Refused before too, but as a traceback whose last line advised ``weights_only=False``
    (CLI cases: tests/test_train.py::test_hostile_run_files_give_one_line)."""
    from gazecxr.models.weights import WeightsError, read_state_dict
    from gazecxr.train.checkpoint import CheckpointError, load_state

    torch.save({"optimizer": Hostile()}, tmp_path / "checkpoint_last.state.pt")
    with pytest.raises(CheckpointError) as err:
        load_state(tmp_path / "checkpoint_last.state.pt")
    assert "pickled Python objects" in str(err.value) and "weights_only=False" not in str(err.value)
    torch.save({"conv.weight": torch.zeros(1), "x": Hostile()}, tmp_path / "weights.pt")
    with pytest.raises(WeightsError) as err:
        read_state_dict(tmp_path / "weights.pt")
    message = str(err.value)
    assert "pickled Python objects" in message and "weights_only=False" not in message and "\n" not in message
