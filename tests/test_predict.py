"""Image-only inference: ``Predictor`` API and ``gazecxr predict`` (good and bad files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gazecxr.cli import main
from gazecxr.data.images import load_resized
from gazecxr.train.predict import Predictor
from tiny_runs import LABELS


@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "chest.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((150, 120)) * 255).astype(np.uint8)).save(path)
    return path


def test_predict_array_returns_a_valid_prediction(run: Path) -> None:
    predictor = Predictor.from_run(run)
    image = np.random.default_rng(1).random((100, 80)).astype(np.float32)
    pred = predictor.predict_array(image)
    assert pred.labels == LABELS and pred.probabilities.shape == (8,) and pred.thresholds.shape == (8,)
    assert ((pred.probabilities >= 0) & (pred.probabilities <= 1)).all()
    assert pred.attention.shape == predictor.model.attention_grid
    assert pred.attention.min() >= 0 and pred.attention.sum() == pytest.approx(1.0)
    assert pred.image_size == (100, 80) and pred.image_path == ""
    assert pred.positive == [
        n for n, p, t in zip(LABELS, pred.probabilities, pred.thresholds, strict=True) if p >= t
    ]
    with pytest.raises(ValueError, match="grayscale"):
        predictor.predict_array(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        predictor.predict_array(np.full((8, 8), 2.0))


def test_predict_path_matches_the_dataset_preprocessing(run: Path, image_file: Path) -> None:
    predictor = Predictor.from_run(run)
    from_path = predictor.predict_path(image_file)
    from_array = predictor.predict_array(load_resized(image_file, 64), (150, 120))
    assert from_path.image_size == (150, 120) and from_path.image_path == str(image_file)
    np.testing.assert_allclose(from_path.probabilities, from_array.probabilities, rtol=0, atol=1e-6)


def test_predict_cli_processes_good_files_and_reports_bad_ones(
    run: Path, image_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    missing = tmp_path / "missing.png"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["predict", "--run", str(run), str(bad), str(image_file), str(missing), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert str(bad) in result.output and str(missing) in result.output and "not found" in result.output
    manifest = {m["input"]: m for m in json.loads((out / "manifest.json").read_text())}
    assert set(manifest) == {str(bad), str(image_file), str(missing)}
    assert "not found" in manifest[str(missing)]["failed"]
    record = json.loads((out / manifest[str(image_file)]["outputs"]["json"]).read_text())
    assert set(record["probabilities"]) == set(LABELS)
    assert set(record["positive"]) <= set(LABELS)
    attention = np.load(record["attention_map"])
    assert attention.sum() == pytest.approx(1.0)
    per_label = np.load(record["attention_per_label"])  # the default head has one map per label
    assert per_label.shape == (len(LABELS), *attention.shape)
    assert np.allclose(per_label.sum((1, 2)), 1.0)
    overlay = Image.open(record["overlay"])
    assert overlay.mode == "RGB" and overlay.size == (120, 150)
    failed = json.loads((out / "failed.json").read_text())
    assert {f["path"] for f in failed} == {str(bad), str(missing)}


def test_predict_cli_without_a_run_fails_cleanly(tmp_path: Path, image_file: Path) -> None:
    result = CliRunner().invoke(
        main, ["predict", "--run", str(tmp_path), str(image_file), "--out", str(tmp_path)]
    )
    assert result.exit_code != 0 and "config.yaml" in result.output and "Traceback" not in result.output
