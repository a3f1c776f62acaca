"""What every Stage-1 network returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ModelOutput:
    """Output of ``model(image, fixations=None, fixations_len=None)``.

    Attributes:
        logits: ``(B, C)`` raw scores, one per label of the label set.
        attention: ``(B, h, w)`` non-negative spatial attention, each map summing to 1. It is the
            map used for pooling (CNNs) or the gaze token's attention over patches (ViT), i.e. the
            map the gaze loss supervises; ``h, w`` is the backbone's attention grid.
        embedding: ``(B, D)`` image embedding used by the contrastive terms.
    """

    logits: torch.Tensor
    attention: torch.Tensor
    embedding: torch.Tensor
