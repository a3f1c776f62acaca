"""Sweeps beyond one machine: an ablation as one command per run, for any cluster scheduler.

``gazecxr ablate ... --plan DIR`` writes, instead of training anything:

- ``DIR/commands.txt``: one line per (variant, seed), ``gazecxr ablate ... --only VARIANT:SEED``:
  trains (resuming an interrupted run) and evaluates that one run, or does nothing when it is
  finished, exactly as the local ``ablate`` does. Lines are independent and can run anywhere
  that sees ``--data`` and ``--out`` (a shared file system).
- ``DIR/slurm.sbatch``: a SLURM job array over those lines (``sbatch DIR/slurm.sbatch``; edit the
  resources). Any other scheduler runs line ``k`` of ``commands.txt`` as task ``k``.
- ``DIR/collect.sh``: the same ``ablate`` command without ``--plan``: once the runs are done it
  reuses them all and writes ``ablation.{md,json}`` (rerunnable; finished runs are never retrained).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

SLURM_TEMPLATE = """#!/usr/bin/env bash
# GazeCXR ablation as a SLURM job array: one task per line of commands.txt ({n} runs).
# Edit the resources for your cluster; every task resumes its run if it was interrupted.
#SBATCH --job-name=gazecxr-ablate
#SBATCH --array=1-{n}
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:1
#SBATCH --time=04:00:00
#SBATCH --output={plan}/logs/%A_%a.out
set -euo pipefail
line=$(sed -n "${{SLURM_ARRAY_TASK_ID}}p" {commands})
echo "$line"
eval "$line"
"""


def ablate_command(
    ablation_file: Path,
    data_root: Path,
    out: Path,
    seeds: int,
    overrides: Sequence[str],
    extra: Sequence[str] = (),
) -> list[str]:
    """argv of ``gazecxr ablate`` for these settings (absolute paths, so it runs from anywhere)."""
    return [
        "gazecxr",
        "ablate",
        "--data",
        str(Path(data_root).resolve()),
        "--config",
        str(Path(ablation_file).resolve()),
        "--seeds",
        str(seeds),
        "--out",
        str(Path(out).resolve()),
        *extra,
        *overrides,
    ]


def write_plan(
    plan: Path,
    ablation_file: Path,
    data_root: Path,
    out: Path,
    seeds: int,
    tasks: Sequence[tuple[str, int]],
    variants: Sequence[str],
    overrides: Sequence[str],
) -> Path:
    """Write ``commands.txt``, ``slurm.sbatch`` and ``collect.sh`` into ``plan``; returns ``commands.txt``."""
    plan = Path(plan).resolve()
    (plan / "logs").mkdir(parents=True, exist_ok=True)
    lines = [
        shlex.join(ablate_command(ablation_file, data_root, out, seeds, overrides, ["--only", f"{v}:{s}"]))
        for v, s in tasks
    ]
    commands = plan / "commands.txt"
    commands.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (plan / "slurm.sbatch").write_text(
        SLURM_TEMPLATE.format(n=len(lines), plan=shlex.quote(str(plan)), commands=shlex.quote(str(commands))),
        encoding="utf-8",
    )
    collect = ablate_command(
        ablation_file, data_root, out, seeds, overrides, ["--variants", ",".join(variants)]
    )
    (plan / "collect.sh").write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n" + shlex.join(collect) + "\n", encoding="utf-8"
    )
    return commands


def parse_only(value: str, known: Sequence[str], seeds: int) -> tuple[str, int]:
    """``VARIANT:SEED`` of ``--only`` -> (variant, seed), validated against the ablation."""
    from gazecxr.schema import ConfigError

    variant, sep, seed = value.rpartition(":")
    if not sep or not seed.isdigit():
        raise ConfigError(f"--only {value!r}: expected VARIANT:SEED, e.g. full:0")
    if variant not in known:
        raise ConfigError(f"--only {value!r}: unknown variant {variant!r}; known: {', '.join(known)}")
    if not 0 <= int(seed) < seeds:
        raise ConfigError(f"--only {value!r}: seed {seed} is outside 0..{seeds - 1} (--seeds {seeds})")
    return variant, int(seed)
