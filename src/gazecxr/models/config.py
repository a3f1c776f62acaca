"""Configuration of the Stage-1 networks."""

from __future__ import annotations

from typing import Literal

from gazecxr.config import Section


class ViTConfig(Section):
    patch_size: int = 16
    dim: int = 192
    depth: int = 6
    heads: int = 3
    attention_map: Literal["gaze_token", "rollout"] = "gaze_token"
    modality_dropout: float = 0.5  # probability of feeding the null gaze embedding during training


class ModelConfig(Section):
    backbone: Literal["efficientnet_lite0", "vit", "densenet121"] = "efficientnet_lite0"
    pretrained: bool = True  # offline ImageNet weights where the backbone has them
    weights: str | None = None  # local safetensors / state-dict file loaded into the backbone
    embed_dim: int = 128
    dropout: float = 0.1
    vit: ViTConfig = ViTConfig()
    text_encoder: Literal["minilm", "trainable", "none"] = "minilm"
    gaze_encoder: Literal["bigru", "none"] = "bigru"
