"""The Stage-1 network interface every backbone implements (:class:`GazeCXRNet`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gazecxr.models.config import ModelConfig
from gazecxr.models.encoders import FixationEncoder, build_text_encoder
from gazecxr.models.output import ModelOutput
from gazecxr.models.weights import load_into

# ImageNet statistics, for backbones whose weights expect torchvision-style input.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GazeCXRNet(nn.Module):
    """Common interface of every Stage-1 network.

    Subclasses set ``backbone`` (the module ``model.weights`` loads into), ``cam_layer`` (a module
    whose output is the Grad-CAM target, ``(B, D, h, w)`` or ``(B, h*w, D)``) and implement
    :meth:`forward` and :attr:`attention_grid`.

    Args:
        cfg: model configuration.
        num_labels: number of output labels ``C``.
        image_size: input side ``S`` in pixels (inputs must be ``(B, 1, S, S)``).
    """

    backbone: nn.Module
    cam_layer: nn.Module
    # Source-file keys ignored when loading ``model.weights`` (e.g. an ImageNet classifier).
    weights_ignore: tuple[str, ...] = ()

    def __init__(self, cfg: ModelConfig, num_labels: int, image_size: int) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        self.cfg = cfg
        self.num_labels = num_labels
        self.image_size = image_size
        self.gaze_encoder = (
            FixationEncoder(cfg.embed_dim, cfg.gaze_hidden, cfg.gaze_stride)
            if cfg.gaze_encoder == "bigru"
            else None
        )
        self.text_encoder = build_text_encoder(cfg.text_encoder, cfg.embed_dim, cfg.text_buckets)

    @property
    def attention_grid(self) -> tuple[int, int]:
        """``(h, w)`` of :attr:`ModelOutput.attention`."""
        raise NotImplementedError

    def _check_image(self, image: torch.Tensor) -> None:
        s = self.image_size
        if image.ndim != 4 or image.shape[1] != 1 or tuple(image.shape[-2:]) != (s, s):
            raise ValueError(
                f"expected a grayscale batch (B, 1, {s}, {s}) in [0, 1], got {tuple(image.shape)}; "
                f"the model was built for data.image_size={s}"
            )

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Report / transcript strings (B) -> ``(B, D)`` text embeddings (training only)."""
        if self.text_encoder is None:
            raise RuntimeError(
                "model.text_encoder=none: set it to minilm or trainable, or loss.contrastive.image_text=0"
            )
        return self.text_encoder(texts)

    def encode_fixations(self, fixations: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Fixation sequences ``(B, T, 4)`` + lengths ``(B,)`` -> ``(B, D)`` (zeros where length 0)."""
        if self.gaze_encoder is None:
            raise RuntimeError("model.gaze_encoder=none: set it to bigru, or loss.contrastive.image_gaze=0")
        return self.gaze_encoder(fixations, lengths)

    def forward_batch(
        self, batch: dict[str, Any], texts: bool = False, fixations: bool = False
    ) -> ModelOutput:
        """The training forward of a collated batch: :meth:`forward` of ``batch["image"]`` (with its
        fixations when the batch has them: a ViT's gaze token), then :func:`embed_pairs`."""
        out = self(batch["image"], fixations=batch.get("fixations"), fixations_len=batch.get("fixations_len"))
        return embed_pairs(self, out, batch, texts, fixations)

    def load_backbone_weights(self, path: str) -> None:
        """Load a local weights file into :attr:`backbone` (strict; clear error on mismatch)."""
        load_into(self.backbone, path, self.weights_ignore, what=f"{self.cfg.backbone} backbone")

    def forward(
        self,
        image: torch.Tensor,
        fixations: torch.Tensor | None = None,
        fixations_len: torch.Tensor | None = None,
    ) -> ModelOutput:
        raise NotImplementedError


def embed_pairs(
    encoders: Any, out: ModelOutput, batch: dict[str, Any], texts: bool, fixations: bool
) -> ModelOutput:
    """``out`` with the pair embeddings the contrastive terms compare with ``out.embedding``.

    Args:
        encoders: has ``encode_text(list[str])`` and ``encode_fixations(fixations, lengths)`` (a
            :class:`GazeCXRNet`).
        batch: as present ``text`` (B strings), ``fixations (B, T, 4)``, ``fixations_len (B,)``,
            ``gaze_valid (B,)``.
        texts: embed the non-blank texts (``text_embedding (K, D)``, ``text_rows (K,)``; the
            embedding only when K >= 2: InfoNCE needs negatives).
        fixations: embed the fixation sequences of the readings with valid gaze and at least one
            fixation (``gaze_embedding``, ``gaze_rows``; likewise from 2 readings).
    """
    dev = out.embedding.device
    if texts:
        strings = batch.get("text") or [""] * out.embedding.shape[0]
        rows = [i for i, s in enumerate(strings) if s and s.strip()]
        out.text_rows = torch.tensor(rows, dtype=torch.long, device=dev)
        out.text_embedding = encoders.encode_text([strings[i] for i in rows]) if len(rows) >= 2 else None
    lengths = batch.get("fixations_len")
    if fixations and lengths is not None:
        keep = (batch["gaze_valid"].to(dev).bool() & (lengths.to(dev) > 0)).nonzero().flatten()
        out.gaze_rows = keep
        out.gaze_embedding = (
            encoders.encode_fixations(batch["fixations"].to(dev)[keep], lengths.to(dev)[keep])
            if keep.numel() >= 2
            else None
        )
    return out
