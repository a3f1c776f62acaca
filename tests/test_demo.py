"""End-to-end smoke test of ``gazecxr demo`` (hidden ``--tiny`` profile: seconds, numbers meaningless).

The session fixture :func:`tiny_demo` is shared with the browser tests (cohort, two trained runs,
index.html), so the expensive part runs once per test session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gazecxr.cli import main


def _invoke_demo(out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["-q", "demo", "--tiny", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Study report:" in result.output and "macro AUROC" in result.output
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the tiny demo once; returns summary.json (with ``out`` added)."""
    out = tmp_path_factory.mktemp("demo")
    summary = _invoke_demo(out)
    summary["out"] = str(out)
    return summary


@pytest.mark.slow
def test_summary_contract(tiny_demo: dict[str, Any]) -> None:
    assert tiny_demo["synthetic"] is True and "mechanism only" in tiny_demo["note"]
    for name in ("baseline", "full"):
        variant = tiny_demo["variants"][name]
        for key in ("run", "macro_auroc", "macro_f1", "attention_cc"):
            assert key in variant, (name, key)
        assert Path(variant["run"], "checkpoint_best.safetensors").is_file()
        assert Path(variant["run"], "eval_test.json").is_file()
    cohort = tiny_demo["cohort"]
    assert cohort["readings_per_split"]["test"] > 0 and cohort["labels"]
    timings = tiny_demo["timings_s"]
    assert {"cohort", "train_baseline", "train_full", "reports", "total"} <= set(timings)
    assert tiny_demo["verdict"]  # the comparison is always spelled out


@pytest.mark.slow
def test_index_html_is_self_contained(tiny_demo: dict[str, Any]) -> None:
    page = Path(tiny_demo["index_html"]).read_text(encoding="utf-8")
    for section in ("summary", "metrics", "roc", "ablation", "studies"):
        assert f'id="{section}"' in page
    assert page.count('<article class="study"') >= 6
    assert "http://" not in page and "https://" not in page and "<script" not in page


@pytest.mark.slow
def test_rerun_reuses_cohort_and_runs(tiny_demo: dict[str, Any]) -> None:
    again = _invoke_demo(Path(tiny_demo["out"]))
    assert again["cohort"]["reused"] is True
    for name in ("baseline", "full"):
        assert again["variants"][name]["macro_auroc"] == tiny_demo["variants"][name]["macro_auroc"]
    # Finished runs are returned by train_run without training again.
    assert again["timings_s"]["train_full"] < max(5.0, 0.5 * tiny_demo["timings_s"]["train_full"])


@pytest.mark.slow
def test_demo_runs_work_with_predict(tiny_demo: dict[str, Any], tmp_path: Path) -> None:
    from gazecxr.train.predict import Predictor

    run = tiny_demo["variants"]["full"]["run"]
    image = next(Path(tiny_demo["cohort"]["root"]).glob("patient_*/CXR-JPG/s*/*.jpg"))
    pred = Predictor.from_run(run).predict_path(image)
    assert pred.labels == tiny_demo["cohort"]["labels"]
    result = CliRunner().invoke(main, ["-q", "predict", "--run", run, str(image), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_demo_refuses_a_different_cohort_in_the_same_folder(tmp_path: Path) -> None:
    (tmp_path / "cohort" / "synthetic").mkdir(parents=True)
    (tmp_path / "cohort" / "synthetic" / "cohort.json").write_text(json.dumps({"config": {"studies": 1}}))
    result = CliRunner().invoke(main, ["-q", "demo", "--tiny", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "holds a different synthetic cohort" in result.output and "Traceback" not in result.output
