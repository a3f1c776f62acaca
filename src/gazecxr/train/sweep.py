"""Sweeps beyond one machine: an ablation as one task per run, for any cluster scheduler.

``gazecxr ablate ... --plan DIR`` writes, instead of training anything:

- ``DIR/ablation.yaml`` + ``DIR/experiment.yaml``: the ablation's variants and its experiment
  config, resolved (``base:`` inheritance applied), so the plan does not depend on the checkout,
  the working directory or a later edit of the original files;
- ``DIR/tasks.jsonl``: one JSON array per (variant, seed), the argv of ``ablate ... --only
  VARIANT:SEED`` run by the Python that wrote the plan (``sys.executable -m gazecxr.cli``), with
  absolute paths: trains (resuming an interrupted run) and evaluates that one run, or does nothing
  when it is finished, exactly as the local ``ablate`` does. Tasks are data, never evaluated by a
  shell; ``python -m gazecxr.train.sweep DIR/tasks.jsonl K`` executes task ``K`` (1-based);
- ``DIR/commands.txt``: the same tasks as shell-quoted lines, for reading or for a scheduler that
  wants a command line (every argument is free of control characters: overrides and variant names
  holding one are refused when parsed, so a line is always one task);
- ``DIR/slurm.sbatch``: a SLURM job array over the tasks (``sbatch DIR/slurm.sbatch``; edit the
  resources); any other scheduler runs task ``k`` the same way;
- ``DIR/collect.sh``: the same ``ablate`` without ``--only``: once the runs are done it reuses
  them all and writes ``ablation.{md,json}`` (rerunnable; finished runs are never retrained).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

SLURM_TEMPLATE = """#!/usr/bin/env bash
# GazeCXR ablation as a SLURM job array: one task per line of tasks.jsonl ({n} runs), run by the
# Python installation that wrote this plan. Edit the resources for your cluster; every task
# resumes its run if it was interrupted.
#SBATCH --job-name=gazecxr-ablate
#SBATCH --array=1-{n}
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:1
#SBATCH --time=04:00:00
#SBATCH --output={logs}/%A_%a.out
set -euo pipefail
exec {python} -m gazecxr.train.sweep {tasks} "$SLURM_ARRAY_TASK_ID"
"""


def ablate_command(
    ablation_file: Path,
    data_root: Path,
    out: Path,
    seeds: range,
    overrides: Sequence[str],
    extra: Sequence[str] = (),
) -> list[str]:
    """argv of ``ablate`` for these settings, run by this Python installation, with absolute
    paths, so that it runs from any directory and with any PATH."""
    return [
        sys.executable,
        "-m",
        "gazecxr.cli",
        "ablate",
        "--data",
        str(Path(data_root).resolve()),
        "--config",
        str(Path(ablation_file).resolve()),
        "--seeds",
        str(len(seeds)),
        *(["--first-seed", str(seeds.start)] if seeds.start else []),
        "--out",
        str(Path(out).resolve()),
        *extra,
        *overrides,
    ]


def write_plan(
    plan: Path,
    spec: dict,
    experiment: dict,
    data_root: Path,
    out: Path,
    seeds: range,
    tasks: Sequence[tuple[str, int]],
    variants: Sequence[str],
    overrides: Sequence[str],
) -> Path:
    """Write the plan files (module docstring) into ``plan``; returns ``tasks.jsonl``.

    Args:
        spec: the ablation file's ``baseline`` and ``variants`` (its ``experiment`` is replaced).
        experiment: the resolved experiment config as a mapping (written as experiment.yaml).
    """
    import yaml

    plan = Path(plan).resolve()
    (plan / "logs").mkdir(parents=True, exist_ok=True)
    (plan / "experiment.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False), encoding="utf-8")
    ablation = plan / "ablation.yaml"
    ablation.write_text(
        yaml.safe_dump({**spec, "experiment": "experiment.yaml"}, sort_keys=False), encoding="utf-8"
    )
    argvs = [
        ablate_command(ablation, data_root, out, seeds, overrides, ["--only", f"{v}:{s}"]) for v, s in tasks
    ]
    jsonl = plan / "tasks.jsonl"
    jsonl.write_text("".join(json.dumps(a) + "\n" for a in argvs), encoding="utf-8")
    (plan / "commands.txt").write_text("".join(shlex.join(a) + "\n" for a in argvs), encoding="utf-8")
    (plan / "slurm.sbatch").write_text(
        SLURM_TEMPLATE.format(
            n=len(argvs),
            logs=shlex.quote(str(plan / "logs")),
            python=shlex.quote(sys.executable),
            tasks=shlex.quote(str(jsonl)),
        ),
        encoding="utf-8",
    )
    collect = ablate_command(ablation, data_root, out, seeds, overrides, ["--variants", ",".join(variants)])
    (plan / "collect.sh").write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\nexec " + shlex.join(collect) + "\n", encoding="utf-8"
    )
    return jsonl


def task_argv(tasks: Path, k: int) -> list[str]:
    """argv of task ``k`` (1-based) of a plan's ``tasks.jsonl``; ValueError naming the file when
    there is no such task or it is not a list of strings."""
    lines = Path(tasks).read_text(encoding="utf-8").splitlines()
    if not 1 <= k <= len(lines):
        raise ValueError(f"{tasks}: no task {k} (it holds {len(lines)})")
    argv = json.loads(lines[k - 1])
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise ValueError(f"{tasks}: task {k} is not a list of arguments")
    return argv


def main(args: Sequence[str]) -> None:
    """``python -m gazecxr.train.sweep TASKS K``: replace this process by task K of TASKS."""
    if len(args) != 2 or not args[1].isdigit():
        sys.exit("usage: python -m gazecxr.train.sweep DIR/tasks.jsonl K   (K: task number, from 1)")
    try:
        argv = task_argv(Path(args[0]), int(args[1]))
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    print(shlex.join(argv), flush=True)
    os.execv(argv[0], argv)


def parse_only(value: str, known: Sequence[str], seeds: range) -> tuple[str, int]:
    """``VARIANT:SEED`` of ``--only`` -> (variant, seed), validated against the ablation."""
    from gazecxr.schema import ConfigError

    variant, sep, seed = value.rpartition(":")
    if not sep or not seed.isdigit():
        raise ConfigError(f"--only {value!r}: expected VARIANT:SEED, e.g. full:0")
    if variant not in known:
        raise ConfigError(f"--only {value!r}: unknown variant {variant!r}; known: {', '.join(known)}")
    if int(seed) not in seeds:
        raise ConfigError(
            f"--only {value!r}: seed {seed} is outside {seeds.start}..{seeds.stop - 1} "
            f"(--seeds {len(seeds)}, --first-seed {seeds.start})"
        )
    return variant, int(seed)


if __name__ == "__main__":
    main(sys.argv[1:])
