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
        class_attention: ``(B, C, h, w)`` one pooling map per label, each summing to 1, for heads
            that pool every label through its own map (``model.attention = per_class``); then
            ``attention`` is their mixture weighted by the predicted probabilities, and the gaze
            loss supervises their mixture weighted by the labels present
            (:func:`gazecxr.losses.gaze.label_weighted_attention`). ``None`` for a shared map.
        text_embedding, text_rows: ``(K, D)`` embeddings of the non-blank report / transcript texts
            and ``(K,)`` the rows of the batch they belong to (training with an image-text term;
            :meth:`gazecxr.models.base.GazeCXRNet.forward_batch`); None otherwise.
        gaze_embedding, gaze_rows: ``(G, D)`` embeddings of the fixation sequences of the readings
            with valid gaze and at least one fixation, and their ``(G,)`` rows; None otherwise.
    """

    logits: torch.Tensor
    attention: torch.Tensor
    embedding: torch.Tensor
    class_attention: torch.Tensor | None = None
    text_embedding: torch.Tensor | None = None
    text_rows: torch.Tensor | None = None
    gaze_embedding: torch.Tensor | None = None
    gaze_rows: torch.Tensor | None = None
