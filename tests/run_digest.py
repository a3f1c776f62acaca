"""A digest of a tiny training run: its weights, thresholds and metrics, bit for bit.

Proof that a refactor changed no behaviour: ``tests/golden/tiny_run_digest.json`` holds the digest
of the same tiny run per machine kind (torch's CPU kernel set and the CPU model). Float kernels
differ between kinds, and a few training steps amplify the last bit into different weights (with
``ATEN_CPU_CAPABILITY=default`` even the best epoch moves), so bit identity is a property of one
machine kind. The first digest was recorded on the code before the architecture redesign (issue
15) and re-recorded after the channels-last change (2026-12-02, equal to float tolerance, not bit
for bit); ``python tests/run_digest.py --write`` adds or replaces this machine kind's entry, run on
reference code only. ``tests/test_architecture.py`` retrains the same run and compares.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# Fields of metrics.json that depend on the machine or the clock, not on the computation.
VOLATILE = ("seconds", "time", "throughput", "images_per_s", "host", "date", "started", "finished", "wall")


GOLDEN = TESTS / "golden" / "tiny_run_digest.json"


def machine_kind() -> dict[str, str]:
    """What decides the float results of a CPU run: torch's kernel set and version, the CPU model."""
    cpu = platform.processor()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": cpu, "torch": torch.__version__}


def _tensor_digest(path: Path) -> str:
    tensors = load_file(str(path))
    h = hashlib.sha1()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _stable(obj):  # noqa: ANN001, ANN202 - JSON value
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in sorted(obj.items()) if not any(w in k for w in VOLATILE)}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def run_digest(run: Path) -> dict[str, str]:
    metrics = _stable(json.loads((run / "metrics.json").read_text()))
    return {
        "checkpoint_best": _tensor_digest(run / "checkpoint_best.safetensors"),
        "checkpoint_last": _tensor_digest(run / "checkpoint_last.safetensors"),
        "thresholds": hashlib.sha1((run / "thresholds.json").read_bytes()).hexdigest(),
        "metrics": hashlib.sha1(json.dumps(metrics, sort_keys=True).encode()).hexdigest(),
    }


def tiny_run(workdir: Path) -> Path:
    sys.path.insert(0, str(TESTS))
    from tiny_runs import train_tiny, write_tiny_tree

    tree = write_tiny_tree(workdir / "tree")
    return train_tiny(tree, workdir / "run")


if __name__ == "__main__":
    # Prints the digest; with --write, records it for this machine kind (only on the reference code).
    with tempfile.TemporaryDirectory() as tmp:
        digest = run_digest(tiny_run(Path(tmp)))
    if "--write" in sys.argv:
        kind = machine_kind()
        golden = json.loads(GOLDEN.read_text())
        golden["machines"] = [m for m in golden["machines"] if m["kind"] != kind]
        golden["machines"].append({"kind": kind, "digest": digest})
        GOLDEN.write_text(json.dumps(golden, indent=2) + "\n")
    print(json.dumps({"kind": machine_kind(), "digest": digest}, indent=2))
