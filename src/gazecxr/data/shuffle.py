"""The shuffled-gaze control as a batch transform: each reading supervised with another's gaze.

The trainer applies :func:`shuffle_gaze` once per batch, before the forward pass (a ViT's gaze token
then sees the same shuffled fixations the loss uses), when ``loss.gaze.shuffle`` is set; the
objective never shuffles. Keys are those of :func:`gazecxr.data.dataset.collate`.
"""

from __future__ import annotations

from typing import Any

import torch

SOURCE = "gaze_source"  # batch key shuffle_gaze adds: index of the sample whose gaze is used
GAZE_KEYS = (
    "gaze_heatmap",
    "fixations",
    "fixations_len",
    "trust",
    "gaze_valid",
    "gaze_label_heatmaps",
    "gaze_label_valid",
)


def derangement(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation of ``range(n)`` without fixed points (a random n-cycle), ``n >= 2``."""
    if n < 2:
        raise ValueError("a derangement needs at least 2 elements")
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


def shuffle_gaze(batch: dict[str, Any], generator: torch.Generator | None = None) -> dict[str, Any]:
    """Shuffled-gaze control: each sample with valid gaze gets another valid sample's gaze.

    Heatmap, fixations, fixation count and trust move together (trust belongs to the reading whose
    gaze it is). With a single valid sample in the batch there is no other gaze: it is marked
    invalid (weight 0) rather than keeping its own. Returns a new dict with ``gaze_source (B,)``
    (the source index; -1 where no gaze) added; the input is not modified.
    """
    valid = batch["gaze_valid"].bool().cpu()
    idx = valid.nonzero().flatten()
    source = torch.full((valid.numel(),), -1, dtype=torch.long)
    out = dict(batch)
    if idx.numel() >= 2:
        source[idx] = idx[derangement(idx.numel(), generator)]
        src = source.clamp_min(0)
        for key in GAZE_KEYS:
            if key in batch:
                value = batch[key]
                out[key] = torch.where(
                    valid.to(value.device).view(-1, *([1] * (value.ndim - 1))),
                    value[src.to(value.device)],
                    value,
                )
    elif idx.numel() == 1:
        i = int(idx[0])
        out["gaze_valid"] = batch["gaze_valid"].clone()
        out["gaze_valid"][i] = False
        for key in ("trust", "fixations_len", "gaze_heatmap", "gaze_label_valid"):
            if key in batch:
                out[key] = batch[key].clone()
                out[key][i] = 0
    out[SOURCE] = source
    return out
