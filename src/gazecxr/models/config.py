"""Configuration of the Stage-1 networks (choices where the paper is silent: docs/method-choices.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gazecxr.schema import Section


class ViTConfig(Section):
    patch_size: int = 16
    dim: int = 192
    depth: int = 6
    heads: int = 3
    mlp_ratio: float = 4.0
    attention_map: Literal["gaze_token", "rollout"] = "gaze_token"
    modality_dropout: float = 0.5  # probability of feeding the null gaze embedding during training


class ModelConfig(Section):
    backbone: Literal["efficientnet_lite0", "vit", "densenet121"] = "efficientnet_lite0"
    pretrained: bool = True  # offline ImageNet weights where the backbone has them
    weights: str | None = None  # local safetensors / state-dict file loaded into the backbone
    embed_dim: int = 128
    dropout: float = 0.1
    # CNNs: output stride of the attention grid. 16 gives 14x14 at 224 px and 8x8 at 128 px (the
    # stride-32 map is 7x7 / 4x4, too coarse to compare with gaze); the stride-32 features are
    # upsampled and fused into it, so the pooled feature still sees the deepest layer.
    attention_stride: Literal[16, 32] = 16
    # CNNs: `per_class` pools each label through its own softmax map (the exported attention is
    # their probability-weighted mixture); `shared` pools every label through one map.
    attention: Literal["per_class", "shared"] = "per_class"
    head_dim: int = Field(
        256, description="channels of the fused feature map that the attention pools (CNNs)"
    )
    # CNNs: layout of feature maps and conv weights. `channels_last` (NHWC) is about 2x faster to
    # train on CPU and faster on GPU; `contiguous` (NCHW) is the layout before it, kept to measure
    # against (benchmarks/bench_train_speed.py). Same results to float tolerance.
    memory_format: Literal["channels_last", "contiguous"] = "channels_last"
    bn_momentum: float = 0.1  # BatchNorm running-statistics momentum (PyTorch convention)
    # CNNs: freeze the stem and the first N trunk blocks (ImageNet's generic edge and texture
    # filters): no gradient, eval-mode BatchNorm, and with data.augment false their output is
    # computed once per image and shared by every run of the process (gazecxr.models.frozen).
    # EfficientNet-Lite0: 16 blocks, at most 10 (5 = through the stride-8 stage); DenseNet-121:
    # 4 dense blocks, at most 2. Measured effect: docs/training.md ("Frozen early blocks").
    freeze_blocks: int = Field(0, ge=0)
    # CNNs: backward of the stride-1 5 x 5 depthwise convolutions on small CPU maps. `aten` is
    # oneDNN's; `tiled` computes the same gradients (float tolerance) from its fast 3 x 3 kernels,
    # about 4x faster on 4 x 4 maps (gazecxr.models.depthwise; docs/training.md).
    depthwise_grad: Literal["aten", "tiled"] = "aten"
    vit: ViTConfig = ViTConfig()
    text_encoder: Literal["minilm", "trainable", "none"] = "minilm"
    text_buckets: int = 1 << 15  # hashed word/bigram vocabulary of the `trainable` text encoder
    gaze_encoder: Literal["bigru", "none"] = "bigru"
    gaze_hidden: int = 64  # hidden size per direction of the fixation bi-GRU
    gaze_stride: int = 4  # consecutive fixations merged (strided conv) per GRU step; 1 = one step each

    @model_validator(mode="after")
    def _freeze_needs_a_cnn(self) -> ModelConfig:
        if self.freeze_blocks and self.backbone == "vit":
            raise ValueError(
                "model.freeze_blocks applies to the CNN backbones (efficientnet_lite0, densenet121), not vit"
            )
        return self
