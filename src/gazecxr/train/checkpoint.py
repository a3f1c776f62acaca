"""Checkpoints that load without unpickling code.

A checkpoint is two files written atomically (temporary file + ``os.replace``):

- ``<name>.safetensors``: model (and objective) parameters and buffers, with metadata
  ``{"tag": ..., "kind": "gazecxr-checkpoint"}``;
- ``<name>.state.pt``: optimiser state, schedule position, RNG states of every process, AMP scaler
  and trainer bookkeeping, saved with ``torch.save`` from tensors and plain Python values only, so
  that ``torch.load(weights_only=True)`` reads it.

Both carry the same ``tag`` (global step); :func:`load_checkpoint` refuses a pair whose tags differ
(a kill between the two renames), naming both files.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from gazecxr.config import load_config, to_dict
from gazecxr.errors import InputError, tensor_file_refusal
from gazecxr.experiment import ExperimentConfig
from gazecxr.runinfo import write_tensors_atomic
from gazecxr.schema import ConfigError
from gazecxr.train.rundir import STATE_SUFFIX, WEIGHTS_SUFFIX, RunDir


class CheckpointError(InputError):
    """A checkpoint file is missing, unreadable or inconsistent; the message names the file."""


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a flat tensor dict as safetensors, atomically. Shared storage is copied apart."""
    path = Path(path)
    flat = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    write_tensors_atomic(path, flat, {"kind": "gazecxr-checkpoint", **metadata})


def read_checkpoint_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file written by :func:`save_weights`: (tensors, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint weights not found")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
        return load_file(str(path)), metadata
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    torch.save(state, _tmp(path))
    os.replace(_tmp(path), path)


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: training state not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is reported with the path
        raise CheckpointError(tensor_file_refusal(path, exc)) from None


def rng_state() -> dict[str, Any]:
    """RNG states of torch (CPU + CUDA), NumPy's global generator and Python's ``random``.

    Stored as tensors / ints / tuples only, so ``weights_only`` loading works.
    """
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # noqa: NPY002 - the global generator is what third-party code draws from
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": (
            np_name,
            torch.from_numpy(np_keys.astype(np.int64)),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        ),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002 - the global generator is what third-party code draws from
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def save_checkpoint(
    run_dir: Path, name: str, weights: dict[str, torch.Tensor], state: dict[str, Any] | None, tag: str
) -> None:
    """Write ``<name>.safetensors`` (+ ``<name>.state.pt`` when ``state`` is given) with a shared tag."""
    if state is not None:
        save_state(run_dir / f"{name}{STATE_SUFFIX}", {**state, "tag": tag})
    save_weights(run_dir / f"{name}{WEIGHTS_SUFFIX}", weights, {"tag": tag})


def load_checkpoint(
    run_dir: Path, name: str, with_state: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Read a checkpoint pair; checks that weights and state belong to the same step."""
    weights_path = run_dir / f"{name}{WEIGHTS_SUFFIX}"
    weights, meta = read_checkpoint_weights(weights_path)
    if not with_state:
        return weights, None
    state_path = run_dir / f"{name}{STATE_SUFFIX}"
    state = load_state(state_path)
    if state.get("tag") != meta.get("tag"):
        raise CheckpointError(
            f"{weights_path} (tag {meta.get('tag')}) and {state_path} (tag {state.get('tag')}) "
            "come from different steps; delete both to restart, or keep the older pair"
        )
    return weights, state


# --------------------------------------------------------------------------- module state

OBJECTIVE_PREFIX = "objective."  # objective parameters (e.g. InfoNCE temperature) in a checkpoint


def unique_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state_dict`` without aliases: a tensor registered under two names (e.g. a backbone also
    reachable as ``model.backbone``) is kept under its first name only."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for k, v in module.state_dict().items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset()) if v.numel() else (id(v), 0)
        if key not in seen:
            seen.add(key)
            out[k] = v
    return out


def load_unique_state(module: torch.nn.Module, weights: Mapping[str, torch.Tensor], source: str) -> None:
    """Load weights saved by :func:`unique_state`; the key sets must match exactly."""
    expected = set(unique_state(module))
    missing, unexpected = sorted(expected - set(weights)), sorted(set(weights) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not fit the model: missing {missing[:5]} ({len(missing)}), "
            f"unexpected {unexpected[:5]} ({len(unexpected)})"
        )
    try:
        module.load_state_dict(dict(weights), strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise CheckpointError(f"{source} does not fit the model: {exc}") from None


def module_weights(model: torch.nn.Module, objective: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's and the objective's weights in one flat dict (objective keys prefixed)."""
    weights = unique_state(model)
    weights.update({OBJECTIVE_PREFIX + k: v for k, v in unique_state(objective).items()})
    return weights


def load_module_weights(
    model: torch.nn.Module, objective: torch.nn.Module, weights: Mapping[str, torch.Tensor], source: str
) -> None:
    """Inverse of :func:`module_weights` (key sets must match exactly)."""
    load_unique_state(model, {k: v for k, v in weights.items() if not k.startswith(OBJECTIVE_PREFIX)}, source)
    load_unique_state(
        objective,
        {k[len(OBJECTIVE_PREFIX) :]: v for k, v in weights.items() if k.startswith(OBJECTIVE_PREFIX)},
        source,
    )


# Keys that may differ between the run's saved config and the one given on resume.
RESUME_MUTABLE = (
    "data.root",
    "data.cxr_root",
    "data.num_workers",
    "data.cache_dir",
    "train.device",
    "train.num_threads",
)


def check_resume_config(run_dir: Path, cfg: ExperimentConfig) -> None:
    """A resumed run must use the config it was started with (except device/loader settings)."""
    saved = to_dict(load_config(RunDir(run_dir).config))
    given = to_dict(cfg)

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}": v})
        return out

    a, b = flat(saved), flat(given)
    diff = [k for k in sorted(set(a) | set(b)) if k not in RESUME_MUTABLE and a.get(k) != b.get(k)]
    if diff:
        details = "; ".join(f"{k}: run has {a.get(k)!r}, given {b.get(k)!r}" for k in diff[:8])
        raise ConfigError(
            f"{run_dir / 'config.yaml'}: --resume with a different config ({details}). "
            "Resume without --config (uses the run's config) or start a new --out"
        )
