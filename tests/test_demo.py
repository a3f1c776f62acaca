"""End-to-end smoke test of ``gazecxr demo`` (hidden ``--tiny`` profile: seconds, numbers meaningless).

The demo runs as a real ``gazecxr`` process (as ``make demo`` does), once per test session: the
browser tests reuse its cohort, runs and index.html through the ``tiny_demo`` fixture (conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli_process import gazecxr, run_tiny_demo
from gazecxr.cli import main


@pytest.mark.slow
def test_summary_contract(tiny_demo: dict[str, Any]) -> None:
    """What scripts read: headline, per variant the seed means, per-seed values and the paired CI."""
    assert tiny_demo["synthetic"] is True and "mechanism only" in tiny_demo["note"]
    assert tiny_demo["headline"] == "full" and tiny_demo["seeds"] == 2
    variants = tiny_demo["variants"]
    assert list(variants) == ["baseline", "full", "full_shuffled"]
    for name, v in variants.items():
        for key in ("macro_auroc", "macro_f1", "attention_cc", "pointing_game"):
            assert key in v and len(v["per_seed"][key]) == 2, (name, key)
            seeds = [x for x in v["per_seed"][key] if x is not None]
            if v[key] is not None:  # the mean is the mean of the per-seed values
                assert v[key] == pytest.approx(sum(seeds) / len(seeds), abs=1e-6)
        for run in v["runs"]:
            assert (
                Path(run, "checkpoint_best.safetensors").is_file() and Path(run, "eval_test.json").is_file()
            )
        if name == "baseline":
            assert "paired_vs_baseline" not in v
        else:
            for metric in ("macro_auroc", "macro_f1"):
                d = v["paired_vs_baseline"][metric]
                assert d["lo"] <= d["diff"] <= d["hi"]
    cohort = tiny_demo["cohort"]
    assert cohort["readings_per_split"]["test"] > 0 and cohort["labels"]
    assert {"cohort", "train_and_evaluate", "reports", "html", "total"} <= set(tiny_demo["timings_s"])
    assert tiny_demo["verdict"][0].startswith("The gaze-supervised model (full) is ")
    assert Path(tiny_demo["ablation"]).is_file()


@pytest.mark.slow
def test_index_html_is_self_contained(tiny_demo: dict[str, Any]) -> None:
    page = Path(tiny_demo["index_html"]).read_text(encoding="utf-8")
    for section in ("summary", "seeds", "per-class", "roc", "maps", "studies", "details"):
        assert f'id="{section}"' in page
    assert page.count('<article class="study"') >= 5
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert tiny_demo["verdict"][0].replace("&", "&amp;") in page.replace("&#x27;", "'")


@pytest.mark.slow
def test_rerun_reuses_cohort_runs_and_evaluations(tiny_demo: dict[str, Any]) -> None:
    again = run_tiny_demo(Path(tiny_demo["out"]))
    assert again["cohort"]["reused"] is True
    assert again["variants"] == tiny_demo["variants"]
    # Finished runs and their evaluations are read back, not recomputed.
    assert again["timings_s"]["train_and_evaluate"] < tiny_demo["timings_s"]["train_and_evaluate"]


@pytest.mark.slow
def test_demo_run_works_with_predict_and_report(tiny_demo: dict[str, Any], tmp_path: Path) -> None:
    run = tiny_demo["variants"]["full"]["runs"][0]
    image = next(Path(tiny_demo["cohort"]["root"]).glob("patient_*/CXR-JPG/s*/*.jpg"))
    proc = gazecxr("-q", "predict", "--run", run, str(image), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads((tmp_path / f"{image.stem}.json").read_text(encoding="utf-8"))
    assert set(record["probabilities"]) == set(tiny_demo["cohort"]["labels"])
    anatomy = record["anatomy"]
    assert anatomy["source"] in {"model", "atlas"} and len(anatomy["boxes"]) == 17
    assert set(anatomy["confidence"]) == set(anatomy["boxes"]) == set(anatomy["region_source"])
    proc = gazecxr("-q", "report", "--run", run, str(image))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPRESSION" in proc.stdout


def test_demo_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "cohort-tiny" / "synthetic").mkdir(parents=True)
    (tmp_path / "cohort-tiny" / "synthetic" / "cohort.json").write_text(
        json.dumps({"config": {"studies": 1}})
    )
    result = CliRunner().invoke(main, ["-q", "demo", "--tiny", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "other than a demo cohort" in result.output and "Traceback" not in result.output


def test_demo_rewrites_its_own_cohort_from_another_generator_version(tmp_path: Path) -> None:
    from gazecxr.demo.pipeline import ensure_cohort
    from gazecxr.demo.profiles import PROFILES
    from gazecxr.synth.tables import GENERATOR_VERSION

    stale = tmp_path / "cohort-tiny"
    (stale / "synthetic").mkdir(parents=True)
    (stale / "old-file").write_text("left by an earlier version")
    facts = {"generator": "gazecxr.synth", "generator_version": GENERATOR_VERSION - 1, "config": {}}
    (stale / "synthetic" / "cohort.json").write_text(json.dumps(facts))
    root, written, reused = ensure_cohort(stale, PROFILES["tiny"], seed=0)
    assert not reused and written["generator_version"] == GENERATOR_VERSION
    assert not (root / "old-file").exists()
