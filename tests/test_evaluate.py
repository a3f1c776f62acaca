"""``gazecxr evaluate``: metrics at saved thresholds, patient-bootstrap CIs, gaze and Grad-CAM map scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gazecxr.cli import main
from gazecxr.train.evaluate import load_predictions
from gazecxr.train.inference import score_map, upsample_maps
from tiny_runs import train_tiny, write_tiny_tree

SALIENCY = {"cc", "kld", "nss", "sim", "auc_judd", "spearman"}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("eval")
    tree = write_tiny_tree(base / "tree")
    run = train_tiny(tree, base / "run")
    out_json = base / "eval.json"
    result = CliRunner().invoke(
        main,
        [
            "-q",
            "evaluate",
            "--run",
            str(run),
            "--data",
            str(tree),
            "--split",
            "test",
            "--json",
            str(out_json),
        ],
    )
    assert result.exit_code == 0, result.output
    return run, json.loads(out_json.read_text())


def test_evaluate_on_a_non_dataset_root_gives_one_line(evaluated: tuple[Path, dict], tmp_path: Path) -> None:
    run, _ = evaluated
    (tmp_path / "notdata").mkdir()
    result = CliRunner().invoke(main, ["evaluate", "--run", str(run), "--data", str(tmp_path / "notdata")])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "notdata" in line and "not a dataset root" in line and "patient_*" in line


def test_classification_metrics_at_saved_thresholds_with_patient_cis(evaluated: tuple[Path, dict]) -> None:
    run, res = evaluated
    saved = json.loads((run / "thresholds.json").read_text())["thresholds"]
    assert res["thresholds"] == saved
    cls = res["classification"]
    assert set(cls["point"]["per_class"]) == set(res["labels"])
    assert {"auroc", "f1", "precision", "recall", "accuracy"} <= set(cls["point"]["macro"])
    assert cls["bootstrap_unit"].startswith("patient")
    for name in ("macro/f1", "macro/precision", "macro/recall", "macro/accuracy"):
        ci = cls["ci"][name]
        assert ci["lo"] <= ci["value"] + 1e-12 and ci["value"] <= ci["hi"] + 1e-12, (name, ci)


def test_gaze_and_gradcam_maps_scored_and_readings_without_gaze_counted(evaluated: tuple[Path, dict]) -> None:
    run, res = evaluated
    counts = res["counts"]
    assert counts["with_gaze"] + counts["without_gaze"] == counts["readings"] > 0
    assert counts["with_gaze"] > 0
    for kind in ("attention", "gradcam"):
        scores = res["maps"][kind]
        assert SALIENCY <= set(scores), kind
        assert scores["cc"]["n"] == counts["with_gaze"]
        assert -1 <= scores["cc"]["mean"] <= 1 and 0 <= scores["auc_judd"]["mean"] <= 1
    pred = load_predictions(run / "predictions_test.npz")
    assert pred["probs"].shape == (counts["readings"], len(res["labels"]))
    headline = json.loads((run / "metrics.json").read_text())["eval_test"]
    assert headline["macro_f1"] == res["classification"]["point"]["macro"]["f1"]
    assert headline["attention_cc"] == res["maps"]["attention"]["cc"]["mean"]


def test_map_scoring_prefers_the_map_that_matches_gaze() -> None:
    size = 32
    gaze = np.zeros((size, size))
    gaze[0:8, 0:8] = 1.0  # the area of attention cell (0, 0) on the 32 px grid
    gaze /= gaze.sum()
    fixations = np.array([[0.1, 0.1], [0.15, 0.12]])
    on = torch.zeros(1, 4, 4)
    on[0, 0, 0] = 1.0  # attention on the gazed-at corner
    off = torch.zeros(1, 4, 4)
    off[0, 3, 3] = 1.0
    up_on, up_off = upsample_maps(on, size)[0].numpy(), upsample_maps(off, size)[0].numpy()
    assert up_on.sum() == pytest.approx(1.0)
    good, bad = score_map(up_on, gaze, fixations), score_map(up_off, gaze, fixations)
    assert good["cc"] > 0.5 > bad["cc"]
    assert good["nss"] > bad["nss"] and good["auc_judd"] > bad["auc_judd"] and good["kld"] < bad["kld"]


def test_evaluate_reports_a_missing_run_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path), "--data", str(tmp_path)])
    assert result.exit_code != 0 and "config.yaml" in result.output and "Traceback" not in result.output


def test_a_run_works_from_anywhere_and_says_where_its_data_went(tmp_path: Path, monkeypatch) -> None:
    """A run trained with relative paths records its data absolutely: evaluate and resume work
    from another directory and after the run folder moved; when the data moved, one line names
    the recorded root and --data, which points the run elsewhere."""
    import shutil

    import yaml

    from tiny_runs import REPO, TINY

    write_tiny_tree(tmp_path / "work" / "tree")
    monkeypatch.chdir(tmp_path / "work")
    args = ["-q", "train", "--data", "tree", "--config", str(REPO / "configs" / "synthetic.yaml")]
    res = CliRunner().invoke(main, [*args, "--out", "run", *TINY, "train.epochs=1"])
    assert res.exit_code == 0, res.output
    tree = (tmp_path / "work" / "tree").resolve()
    assert yaml.safe_load(Path("run/config.yaml").read_text())["data"]["root"] == str(tree)
    assert json.loads(Path("run/run.json").read_text())["data_root"] == str(tree)
    (tmp_path / "else").mkdir()
    shutil.move(str(tmp_path / "work" / "run"), tmp_path / "else" / "moved")  # the run folder moves
    monkeypatch.chdir(tmp_path / "else")
    assert CliRunner().invoke(main, ["-q", "evaluate", "--run", "moved", "--no-gradcam"]).exit_code == 0
    resumed = CliRunner().invoke(main, ["-q", "train", "--resume", "moved"])  # finished: nothing to do
    assert resumed.exit_code == 0, resumed.output
    shutil.move(str(tree), tmp_path / "else" / "tree2")  # now the data moves
    lost = CliRunner().invoke(main, ["evaluate", "--run", "moved", "--no-gradcam"])
    assert lost.exit_code == 2 and "Traceback" not in lost.output
    assert str(tree) in lost.output and "--data" in lost.output
    assert CliRunner().invoke(main, ["-q", "train", "--resume", "moved"]).exit_code == 2
    found = CliRunner().invoke(main, ["-q", "evaluate", "--run", "moved", "--data", "tree2", "--no-gradcam"])
    assert found.exit_code == 0, found.output


def test_an_unreadable_test_image_is_listed_never_replaced(
    evaluated: tuple[Path, dict], tmp_path: Path
) -> None:
    """Before, the dataset served the next reading instead: one reading missing and another
    scored twice (the bootstrap sampled it twice). Now it is listed in skipped_readings."""
    import shutil

    import pandas as pd

    run, full = evaluated
    tree = tmp_path / "tree"
    shutil.copytree(run.parent / "tree", tree, ignore=shutil.ignore_patterns(".gazecxr-cache"))
    splits = pd.read_csv(run / "splits.csv", dtype=str)
    victim = splits[splits["split"] == "test"].iloc[0]
    image = next(tree.rglob(f"{victim['dicom_id']}.jpg"))
    image.write_bytes(image.read_bytes()[:150])  # truncated JPEG
    out_json = tmp_path / "eval.json"
    args = ["-q", "evaluate", "--run", str(run), "--data", str(tree), "--json", str(out_json), "--no-gradcam"]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = json.loads(out_json.read_text())
    lost = set(
        splits.loc[(splits["split"] == "test") & (splits["dicom_id"] == victim["dicom_id"]), "reading_id"]
    )
    assert set(result["skipped_readings"]) == lost and result["counts"]["skipped_unreadable"] == len(lost)
    assert result["counts"]["readings"] == full["counts"]["readings"] - len(lost)
    ids = load_predictions(run / "predictions_test.npz")["reading_ids"].tolist()
    assert len(ids) == len(set(ids)) == result["counts"]["readings"] and not lost & set(ids)


def test_a_standalone_release_that_moved_is_found_again_with_data(tmp_path: Path, monkeypatch) -> None:
    """REFLACX next to MIMIC-CXR-JPG: the run records both roots; after the download moved,
    --data ROOT is enough (the recorded cxr_root is gone, so it is searched beside ROOT again).
    Before, the stale absolute cxr_root made every --data fail."""
    import shutil

    from gazecxr.synth.config import SynthConfig
    from gazecxr.synth.writer import write_cohort
    from tiny_runs import REPO, TINY

    write_cohort(
        tmp_path / "dl", SynthConfig(studies=60, seed=3, image_size=128), layout="reflacx", workers=1
    )
    monkeypatch.chdir(tmp_path)
    args = [
        "-q",
        "train",
        "--data",
        "dl/reflacx-xray-localization/1.0.0",
        "--config",
        str(REPO / "configs" / "synthetic.yaml"),
    ]
    res = CliRunner().invoke(
        main, [*args, "--out", "run", *TINY, "train.epochs=1", "data.cxr_root=dl/mimic-cxr-jpg/2.0.0"]
    )
    assert res.exit_code == 0, res.output
    shutil.move(str(tmp_path / "dl"), tmp_path / "moved")
    moved = str(tmp_path / "moved" / "reflacx-xray-localization" / "1.0.0")
    found = CliRunner().invoke(main, ["-q", "evaluate", "--run", "run", "--data", moved, "--no-gradcam"])
    assert found.exit_code == 0, found.output
