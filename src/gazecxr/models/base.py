"""The Stage-1 network interface every backbone implements (:class:`GazeCXRNet`)."""

from __future__ import annotations

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
