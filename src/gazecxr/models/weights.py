"""Loading user-supplied weight files (safetensors or a plain state dict) without unpickling code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from gazecxr.errors import InputError, tensor_file_refusal


class WeightsError(InputError):
    """A weights file is missing, unreadable, or does not fit the module; the message says why."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read ``*.safetensors`` or a ``torch.save``-d dict of tensors with ``weights_only=True``.

    A dict that wraps the weights under ``state_dict`` or ``model`` (common training checkpoints)
    is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path} (model.weights)")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"{path}: not a readable safetensors file ({exc}) (model.weights)") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure is reported with the path, in one line
        raise WeightsError(tensor_file_refusal(path, exc) + " (model.weights)") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a mapping of parameter names to tensors")
    return dict(obj)


def _strip_prefixes(state: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """Drop wrapper prefixes (``module.`` from DDP, ``backbone.`` from a GazeCXR checkpoint)."""
    for prefix in ("module.", "backbone.", "model."):
        if not any(k in expected for k in state) and any(k.startswith(prefix) for k in state):
            state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    return state


def load_into(
    module: nn.Module, path: str | Path, ignore_prefixes: Iterable[str] = (), what: str = "backbone"
) -> None:
    """Load the weights file ``path`` into ``module`` strictly.

    Args:
        module: target module.
        path: ``.safetensors`` or torch state-dict file.
        ignore_prefixes: source keys to drop silently (e.g. an ImageNet classifier ``_fc.``).
        what: name of the target in error messages.

    Raises:
        WeightsError: file missing/unreadable, or any missing, unexpected or mis-shaped key (the
            message lists them, so the user can see whether the file is for another architecture).
    """
    target = module.state_dict()
    state = _strip_prefixes(read_state_dict(path), set(target))
    state = {k: v for k, v in state.items() if not any(k.startswith(p) for p in ignore_prefixes)}
    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
        for k in sorted(set(state) & set(target))
        if state[k].shape != target[k].shape
    ]
    if missing or unexpected or shapes:

        def show(items: list[str]) -> str:
            return ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")

        parts = [f"{path} does not fit the {what} ({type(module).__name__}):"]
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {show(shapes)}")
        parts.append("check model.backbone (and model.vit.* for a ViT) matches the file's architecture")
        raise WeightsError("\n  ".join(parts))
    module.load_state_dict(state, strict=True)
