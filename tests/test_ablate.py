"""``gazecxr ablate``: variants x seeds, table with paired CIs, reuse of finished runs, --variants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gazecxr.cli import main
from gazecxr.schema import ConfigError
from gazecxr.train import ablate
from gazecxr.train.ablate import Sweep, load_spec, run_ablation
from tiny_runs import TINY, write_tiny_tree

REPO = Path(__file__).resolve().parents[1]
FAST = [*TINY, "train.epochs=1", "eval.gradcam=false"]


def test_shipped_ablation_file_has_every_variant_of_the_issue() -> None:
    spec, experiment = load_spec(REPO / "configs" / "ablation.yaml")
    assert experiment == (REPO / "configs" / "synthetic-ablation.yaml").resolve()
    assert set(spec.variants) == {
        "baseline",
        "contrastive",
        "gaze_mse",
        "gaze_kl",
        "gaze_cc",
        "gaze_com",
        "gaze_all",
        "full",
        "full_shuffled",
        "full_no_curriculum",
        "full_no_trust",
        "full_dictation",
        "full_dictation_shuffled",
    }
    assert spec.baseline == "baseline"


def test_unknown_variant_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown variant"):
        Sweep.of(REPO / "configs" / "ablation.yaml", tmp_path, tmp_path / "out", seeds=1, variants=["fulll"])


@pytest.mark.slow
def test_ablation_table_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = write_tiny_tree(tmp_path / "tree")
    out = tmp_path / "ablation"
    args = [
        "-q",
        "ablate",
        "--data",
        str(tree),
        "--config",
        str(REPO / "configs" / "ablation.yaml"),
        "--seeds",
        "2",
        "--out",
        str(out),
        "--variants",
        "baseline,full_shuffled",
        *FAST,
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = json.loads((out / "ablation.json").read_text())
    assert set(table["variants"]) == {"baseline", "full_shuffled"}
    assert table["seed_list"] == [0, 1] and "(seeds 0-1)" in (out / "ablation.md").read_text()
    row = table["variants"]["full_shuffled"]
    assert row["overrides"] == ["loss.gaze.shuffle=true"]
    auroc = row["metrics"]["macro_auroc"]
    assert auroc["n"] == 2 and len(auroc["values"]) == 2 and auroc["sd"] is not None
    for metric in ("auroc", "f1"):
        d = row["paired_vs_baseline"][metric]
        assert d["lo"] <= d["diff"] <= d["hi"] and d["n"] > 0
    assert "paired_vs_baseline" not in table["variants"]["baseline"]
    md = (out / "ablation.md").read_text()
    assert "| full_shuffled |" in md and "ΔAUROC" in md and "± " in md

    # Rerun: finished runs are reused (training must not be called), the table is rewritten.
    def no_training(*_a: object, **_k: object) -> None:
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("gazecxr.train.trainer.train_run", no_training)
    sweep = ablate.Sweep.of(
        REPO / "configs" / "ablation.yaml",
        tree,
        out,
        seeds=2,
        variants=["baseline", "full_shuffled"],
        overrides=FAST,
    )
    assert ablate.run_ablation(sweep)

    # --jobs: the same runs in spawned processes give the same numbers (every run is seeded).
    parallel = tmp_path / "parallel"
    result = CliRunner().invoke(
        main,
        [
            *args[: args.index("--out")],
            "--out",
            str(parallel),
            "--jobs",
            "2",
            *args[args.index("--out") + 2 :],
        ],
    )
    assert result.exit_code == 0, result.output
    again = json.loads((parallel / "ablation.json").read_text())
    for v in ("baseline", "full_shuffled"):
        assert (
            again["variants"][v]["metrics"]["macro_auroc"]["values"]
            == table["variants"][v]["metrics"]["macro_auroc"]["values"]
        )


def test_cluster_plan_is_one_resumable_command_per_run(tmp_path: Path) -> None:
    """--plan writes one `ablate --only VARIANT:SEED` task per run (argv as data), a SLURM array
    over them and the collect command; nothing is trained. A task runs from another directory
    with a PATH that has no gazecxr on it (the plan names this installation's Python and its own
    copy of the configs); a rerun of a finished task is a no-op; collecting gives the table."""
    import shlex
    import subprocess
    import sys

    from gazecxr.train.sweep import task_argv

    tree = write_tiny_tree(tmp_path / "tree")
    out, plan = tmp_path / "abl", tmp_path / "plan"
    base = ["ablate", "--data", str(tree), "--config", "ablation.yaml", "--seeds", "2"]  # a shipped name
    base += ["--out", str(out), "--variants", "baseline,full"]
    res = CliRunner().invoke(main, ["-q", *base, "--plan", str(plan), *FAST])
    assert res.exit_code == 0, res.output
    assert not out.exists() or not any(out.rglob("*.safetensors"))  # nothing trained
    argvs = [task_argv(plan / "tasks.jsonl", k) for k in range(1, 5)]
    assert [a[a.index("--only") + 1] for a in argvs] == ["baseline:0", "full:0", "baseline:1", "full:1"]
    assert [shlex.split(line) for line in (plan / "commands.txt").read_text().splitlines()] == argvs
    for argv in argvs:
        assert argv[:3] == [sys.executable, "-m", "gazecxr.cli"]
        assert argv[argv.index("--config") + 1] == str(plan.resolve() / "ablation.yaml")
    assert (plan / "experiment.yaml").is_file() and "experiment: experiment.yaml" in (
        plan / "ablation.yaml"
    ).read_text()
    sbatch = plan / "slurm.sbatch"
    assert "#SBATCH --array=1-4" in sbatch.read_text() and "eval" not in sbatch.read_text()
    for script in (sbatch, plan / "collect.sh"):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script
    collect = shlex.split((plan / "collect.sh").read_text().splitlines()[-1])[1:]  # after `exec`
    assert "--only" not in collect and "--plan" not in collect and collect[0] == sys.executable
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": "/nonexistent", "HOME": str(tmp_path), "OMP_WAIT_POLICY": "PASSIVE"}
    for k in (1, 2):  # the first seed, as the cluster's tasks 1 and 2 would run it
        done = subprocess.run(
            [sys.executable, "-m", "gazecxr.train.sweep", str(plan / "tasks.jsonl"), str(k)],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    finished = out / "baseline" / "seed0" / "eval_test.json"
    stamp = finished.stat().st_mtime_ns
    assert CliRunner().invoke(main, ["-q", *argvs[0][3:]]).exit_code == 0
    assert finished.stat().st_mtime_ns == stamp  # a finished run is reused, not redone
    bad = CliRunner().invoke(main, ["-q", *base, "--only", "full:7", *FAST])
    assert bad.exit_code != 0 and "outside 0..1" in bad.output
    sweep = Sweep.of(
        REPO / "configs" / "ablation.yaml", tree, out, seeds=1, variants=["baseline", "full"], overrides=FAST
    )
    table = run_ablation(sweep)
    assert "auroc" in table["variants"]["full"]["paired_vs_baseline"]


def test_first_seed_moves_every_run_and_task(tmp_path: Path) -> None:
    """--first-seed K: runs, cluster tasks and --only use seeds K .. K+N-1 (a replication)."""
    from gazecxr.train.sweep import task_argv

    tree = write_tiny_tree(tmp_path / "tree")
    base = ["ablate", "--data", str(tree), "--config", "ablation.yaml", "--seeds", "2", "--first-seed", "3"]
    base += ["--out", str(tmp_path / "abl"), "--variants", "baseline,full"]
    plan = tmp_path / "plan"
    assert CliRunner().invoke(main, ["-q", *base, "--plan", str(plan), *FAST]).exit_code == 0
    argvs = [task_argv(plan / "tasks.jsonl", k) for k in range(1, 5)]
    assert [a[a.index("--only") + 1] for a in argvs] == ["baseline:3", "full:3", "baseline:4", "full:4"]
    assert all(a[a.index("--first-seed") + 1] == "3" for a in argvs)
    bad = CliRunner().invoke(main, ["-q", *base, "--only", "full:0", *FAST])
    assert bad.exit_code != 0 and "outside 3..4" in bad.output
    sweep = Sweep.of(REPO / "configs" / "ablation.yaml", tree, tmp_path / "o", seeds=2, first_seed=5)
    assert list(sweep.seed_list) == [5, 6] and {s for _, s in sweep.tasks} == {5, 6}
    with pytest.raises(ConfigError, match="--first-seed must be >= 0"):
        Sweep.of(REPO / "configs" / "ablation.yaml", tree, tmp_path / "o", seeds=2, first_seed=-1)


@pytest.mark.parametrize(
    "override",
    ["model.name=ok\ntouch PWNED #", "train.epochs=1\r", "name=a\x1b[2J"],
    ids=["newline", "cr", "escape"],
)
def test_a_control_character_in_an_override_is_refused_before_any_plan(tmp_path: Path, override: str) -> None:
    plan = tmp_path / "plan"
    args = ["-q", "ablate", "--data", str(tmp_path), "--config", "ablation.yaml", "--seeds", "1"]
    res = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o"), "--plan", str(plan), override])
    assert res.exit_code != 0 and "control character" in res.output and "Traceback" not in res.output
    assert not (plan / "tasks.jsonl").exists() and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("name", ["ok\ntouch PWNED #", "../../x", "a/b", ".hidden", ""])
def test_a_variant_name_that_is_not_a_plain_word_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "abl.yaml").write_text(
        f"experiment: {REPO / 'configs' / 'synthetic-ablation.yaml'}\nbaseline: baseline\n"
        f"variants:\n  baseline: []\n  {json.dumps(name)}: []\n"
    )
    with pytest.raises(ConfigError, match="variants"):
        load_spec(tmp_path / "abl.yaml")


@pytest.mark.slow
def test_a_bad_input_in_a_parallel_run_is_one_line_naming_the_run(tmp_path: Path) -> None:
    """With --jobs (the demo's default placement) a worker's input error keeps its type: the
    command ends with one line naming the run and the problem, not a traceback."""
    empty = tmp_path / "not-a-dataset"
    empty.mkdir()
    args = ["-q", "ablate", "--data", str(empty), "--config", str(REPO / "configs" / "ablation.yaml")]
    args += ["--seeds", "1", "--jobs", "2", "--variants", "baseline,full", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # click's clean exit, not a raised error
    assert "ablation run" in result.output and str(empty) in result.output
