"""Training loop: run-directory contents, logs, schedule, checkpoints, exact resume after a kill.

Helpers (``write_tiny_tree``, ``TINY``, ``train_tiny``) are imported by the evaluate / predict /
ablate / DDP tests: a tiny MIMIC-Eye-format tree of noise images (tests/data_fixtures.py) and a
64 px, 2-epoch configuration that trains in seconds.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from gazecxr.cli import main
from gazecxr.config import load_config
from gazecxr.schema import ConfigError
from gazecxr.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gazecxr.train.runtime import lr_factor
from gazecxr.train.trainer import train_run
from tiny_runs import REPO, TINY, write_tiny_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def cli_run(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "cli"
    args = [
        "train",
        "--data",
        str(tree),
        "--config",
        str(REPO / "configs" / "synthetic.yaml"),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(main, ["-q", *args, *TINY])
    assert result.exit_code == 0, result.output
    return out


def test_lr_schedule_warmup_then_cosine() -> None:
    total, warm = 100, 10
    lrs = [lr_factor(s, total, warm) for s in range(total)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10], strict=True))
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.5, abs=1e-9)  # cosine mid-point
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False)) and lrs[-1] < 0.001


def test_seeded_rng_seeds_and_restores_the_cpu_generator_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample's seeded block draws what ``torch.manual_seed`` would give, restores the global
    stream, and queues no lazy seeding call for accelerators not initialised (each formats the
    whole stack: 1.9 s of a profiled demo run, once per decoded sample)."""
    import traceback

    from gazecxr.train.loader import seeded_rng

    stacks = []
    real = traceback.format_stack
    monkeypatch.setattr(traceback, "format_stack", lambda *a, **k: stacks.append(1) or real(*a, **k))

    torch.manual_seed(3)
    expected_after = torch.rand(2)
    torch.manual_seed(7)
    expected_inside = torch.rand(4)
    torch.manual_seed(3)
    stacks.clear()
    for _ in range(5):
        with seeded_rng(7):
            inside = torch.rand(4)
    assert torch.equal(inside, expected_inside)
    assert torch.equal(torch.rand(2), expected_after)
    assert not stacks


def test_train_cli_writes_a_complete_run(cli_run: Path) -> None:
    for name in (
        "config.yaml",
        "run.json",
        "metrics.json",
        "thresholds.json",
        "log.csv",
        "epochs.csv",
        "checkpoint_last.safetensors",
        "checkpoint_last.state.pt",
        "checkpoint_best.safetensors",
    ):
        assert (cli_run / name).is_file(), name
    assert list((cli_run / "tb").glob("events.out.tfevents.*"))
    # Checkpoints load without unpickling code.
    state = torch.load(cli_run / "checkpoint_last.state.pt", weights_only=True)
    assert state["progress"]["done"] and state["progress"]["epoch"] == 2
    weights = load_file(str(cli_run / "checkpoint_best.safetensors"))
    assert any(k.startswith("head.") for k in weights)
    thresholds = json.loads((cli_run / "thresholds.json").read_text())
    assert len(thresholds["labels"]) == 8 and set(thresholds["thresholds"]) == set(thresholds["labels"])
    assert all(0.0 <= t <= 1.0 for t in thresholds["thresholds"].values())
    metrics = json.loads((cli_run / "metrics.json").read_text())["train"]
    assert metrics["epochs_run"] == 2 and 1 <= metrics["best_epoch"] <= 2
    assert 0.0 <= metrics["best_val_macro_auroc"] <= 1.0
    run = json.loads((cli_run / "run.json").read_text())
    assert run["seed"] == 0 and "train" in run["command"]
    assert run["device"] == "cpu" and run["amp_dtype"] is None
    # The split is recorded, grouped by patient (no patient in two splits).
    splits = pd.read_csv(cli_run / "splits.csv", dtype=str)
    assert set(splits["split"]) == {"train", "validate", "test"}
    assert (splits.groupby("subject_id")["split"].nunique() == 1).all()


def test_every_loss_term_is_logged(cli_run: Path) -> None:
    with (cli_run / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and {
        "step",
        "epoch",
        "lr",
        "loss",
        "cls",
        "gaze",
        "gaze_mse",
        "gaze_kl",
        "gaze_cc",
        "gaze_com",
        "lambda_gaze",
        "trust_mean",
        "nce_text",
        "nce_gaze",
        "temperature",
    } <= set(rows[0])
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps)
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    # The curriculum ramps lambda_gaze from 0 (ramp of 1 epoch, no warm-up).
    lam = [float(r["lambda_gaze"]) for r in rows]
    assert lam[0] < lam[-1] == pytest.approx(1.0)
    with (cli_run / "epochs.csv").open() as f:
        epochs = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in epochs] == [1, 2]


def test_new_run_refuses_existing_directory_and_resume_checks_config(cli_run: Path, tree: Path) -> None:
    cfg = load_config(REPO / "configs" / "synthetic.yaml", TINY)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train_run(cfg, tree, cli_run)
    other = load_config(REPO / "configs" / "synthetic.yaml", [*TINY, "train.lr=0.5"])
    with pytest.raises(ConfigError, match="train.lr"):
        train_run(other, tree, cli_run, resume=True)
    # A finished run resumes as a no-op; the CLI finds the data root in run.json.
    before = (cli_run / "checkpoint_last.safetensors").stat().st_mtime_ns
    train_run(cfg, tree, cli_run, resume=True)
    result = CliRunner().invoke(main, ["-q", "train", "--resume", str(cli_run)])
    assert result.exit_code == 0, result.output
    assert (cli_run / "checkpoint_last.safetensors").stat().st_mtime_ns == before


def test_hostile_run_files_give_one_line(cli_run: Path, tree: Path, tmp_path: Path) -> None:
    """train --resume on a run whose state file holds a pickle, and model.weights= a pickle:
    refused in one line with exit 2 (before: a traceback advising weights_only=False)."""
    from hostile_pickle import Hostile

    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    torch.save({"optimizer": Hostile()}, run / "checkpoint_last.state.pt")
    result = CliRunner().invoke(main, ["-q", "train", "--resume", str(run)])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "checkpoint_last.state.pt" in line and "pickled Python objects" in line
    assert "weights_only=False" not in result.output
    weights = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(1), "x": Hostile()}, weights)
    args = ["-q", "train", "--data", str(tree), "--config", str(REPO / "configs" / "synthetic.yaml")]
    result = CliRunner().invoke(
        main, [*args, "--out", str(tmp_path / "new"), *TINY, f"model.weights={weights}"]
    )
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "weights.pt" in line and "pickled Python objects" in line and "weights_only=False" not in line


def test_weights_files_get_the_users_umask_not_owner_only(tmp_path: Path) -> None:
    """safetensors' own save_file writes 0600; a lab's shared runs must stay readable to its group."""
    import os
    import stat

    from gazecxr.anatomy.localiser import Localiser
    from gazecxr.train.checkpoint import read_checkpoint_weights, save_weights

    old = os.umask(0o022)
    try:
        save_weights(tmp_path / "w.safetensors", {"a": torch.arange(3.0)}, {"step": "1"})
        Localiser.load().save(tmp_path / "loc")
    finally:
        os.umask(old)
    for path in (tmp_path / "w.safetensors", tmp_path / "loc" / "localiser.safetensors"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    tensors, meta = read_checkpoint_weights(tmp_path / "w.safetensors")
    assert tensors["a"].tolist() == [0.0, 1.0, 2.0] and meta == {"kind": "gazecxr-checkpoint", "step": "1"}
    assert not list(tmp_path.glob("**/*.tmp"))


def test_checkpoint_pair_from_different_steps_is_refused(tmp_path: Path) -> None:
    w = {"a": torch.ones(2)}
    save_checkpoint(tmp_path, "ck", w, {"x": 1}, tag="5")
    save_checkpoint(tmp_path, "other", w, {"x": 1}, tag="6")
    (tmp_path / "other.state.pt").replace(tmp_path / "ck.state.pt")
    with pytest.raises(CheckpointError, match="different steps"):
        load_checkpoint(tmp_path, "ck")
    (tmp_path / "ck.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="ck.safetensors"):
        load_checkpoint(tmp_path, "ck")


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from tiny_runs import train_tiny_resumable
    kill_at = int(sys.argv[3])
    def hook(step):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no clean-up, no final checkpoint
    train_tiny_resumable(sys.argv[1], sys.argv[2], hook if kill_at else None)
    """
)


def _run_script(tree: Path, out: Path, kill_at: int) -> subprocess.CompletedProcess:
    code = KILL_SCRIPT.format(tests=str(Path(__file__).parent))
    return subprocess.run(
        [sys.executable, "-c", code, str(tree), str(out), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_resume_after_kill_mid_epoch_gives_bit_identical_weights(tree: Path, tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _run_script(tree, straight, 0).returncode == 0
    steps_per_epoch = (
        torch.load(straight / "checkpoint_last.state.pt", weights_only=True)["progress"]["global_step"] // 2
    )
    assert steps_per_epoch >= 4, "tree too small for a mid-epoch kill"
    # Kill in epoch 2, one step after its mid-epoch checkpoint (so that step is lost and redone).
    kill_at = steps_per_epoch + 3
    res = _run_script(tree, killed, kill_at)
    assert res.returncode == -9, res.stderr[-2000:]
    state = torch.load(killed / "checkpoint_last.state.pt", weights_only=True)
    assert state["progress"]["epoch"] == 1 and state["progress"]["step_in_epoch"] == 2  # mid-epoch checkpoint
    res = _run_script(tree, killed, 0)
    assert res.returncode == 0, res.stderr[-2000:]
    a = load_file(str(straight / "checkpoint_last.safetensors"))
    b = load_file(str(killed / "checkpoint_last.safetensors"))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert (straight / "thresholds.json").read_text() == (killed / "thresholds.json").read_text()
    # The best checkpoint, and the optimizer, scheduler, scaler, progress and RNG state too.
    best_a = load_file(str(straight / "checkpoint_best.safetensors"))
    best_b = load_file(str(killed / "checkpoint_best.safetensors"))
    assert best_a.keys() == best_b.keys() and all(torch.equal(best_a[k], best_b[k]) for k in best_a)
    sa = torch.load(straight / "checkpoint_last.state.pt", weights_only=True)
    sb = torch.load(killed / "checkpoint_last.state.pt", weights_only=True)
    assert sa.keys() == sb.keys()
    for key in ("scheduler", "progress", "world_size", "scaler"):
        assert sa[key] == sb[key], key
    assert sa["optimizer"]["param_groups"] == sb["optimizer"]["param_groups"]  # lr, betas, steps
    assert sa["optimizer"]["state"].keys() == sb["optimizer"]["state"].keys()
    for k, st in sa["optimizer"]["state"].items():
        for name, value in st.items():
            other = sb["optimizer"]["state"][k][name]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other, (k, name)

    def same(x, y) -> bool:  # noqa: ANN001 - nested RNG state (tensors, tuples, ints)
        if torch.is_tensor(x):
            return torch.is_tensor(y) and torch.equal(x, y)
        if isinstance(x, list | tuple | dict):
            items = x.items() if isinstance(x, dict) else enumerate(x)
            return type(x) is type(y) and len(x) == len(y) and all(same(v, y[i]) for i, v in items)
        return x == y

    assert same(sa["rng"], sb["rng"])
    # The step log has no duplicated rows after the resume.
    with (killed / "log.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == sorted(set(steps))
    # The saved LR schedule is read back: a checkpoint whose schedule is not this resume's is refused.
    sb["scheduler"]["total_steps"] += 1
    sb["progress"]["done"] = False
    torch.save(sb, killed / "checkpoint_last.state.pt")
    res = _run_script(tree, killed, 0)
    assert res.returncode != 0 and "LR schedule" in res.stderr, res.stderr[-2000:]
