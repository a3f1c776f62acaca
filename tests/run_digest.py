"""A digest of a tiny training run: its weights, thresholds and metrics, bit for bit.

Proof that a refactor changed no behaviour: ``tests/golden/tiny_run_digest.json`` was recorded by
``python tests/run_digest.py --write`` on the code before the architecture redesign (issue 15),
re-recorded after the channels-last change (2026-12-02, equal to float tolerance, not bit for
bit), and ``tests/test_architecture.py`` retrains the same run and compares.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# Fields of metrics.json that depend on the machine or the clock, not on the computation.
VOLATILE = ("seconds", "time", "throughput", "images_per_s", "host", "date", "started", "finished", "wall")


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
    from test_train import train_tiny, write_tiny_tree

    tree = write_tiny_tree(workdir / "tree")
    return train_tiny(tree, workdir / "run")


if __name__ == "__main__":
    # Prints the digest; with --write, records it as the golden file (only on the reference code).
    with tempfile.TemporaryDirectory() as tmp:
        digest = run_digest(tiny_run(Path(tmp)))
    if "--write" in sys.argv:
        (TESTS / "golden" / "tiny_run_digest.json").write_text(json.dumps(digest, indent=2) + "\n")
    print(json.dumps(digest, indent=2))
