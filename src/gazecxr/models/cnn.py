"""Attention-pooling CNNs: a CNN trunk (EfficientNet-Lite0, DenseNet-121) + :class:`AttentionPoolHead`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.models.base import IMAGENET_MEAN, IMAGENET_STD, GazeCXRNet
from gazecxr.models.config import ModelConfig
from gazecxr.models.depthwise import use_tiled_depthwise
from gazecxr.models.frozen import PrefixCache, freeze, state_digest
from gazecxr.models.output import ModelOutput
from gazecxr.schema import ConfigError


class AttentionPoolHead(nn.Module):
    """Fuses stride-16 and stride-32 features and pools them with softmax attention maps.

    The attention logits come from a small conv on the fused map; the pooled vectors (attention-
    weighted means of the fused features) feed the classifier and the embedding, so a supervised
    map is exactly the one that decides what the classifier sees.

    With ``per_class`` each label ``c`` has its own map ``A_c`` and logit ``w_c . pool(A_c)``:
    pulling the attention toward a reading's gaze then moves the pooling of the labels present in
    that reading instead of every label's (a single shared map is ``per_class=False``). The
    exported map is the mixture ``sum_c p_c A_c / sum_c p_c`` with the predicted probabilities
    ``p`` (detached): where the model looked for what it found.

    Args:
        c16, c32: channels of the stride-16 / stride-32 feature maps.
        dim: fused channels.
        num_labels, embed_dim, dropout: classifier outputs, embedding size, dropout before the classifier.
        stride: 16 (fuse both, attention on the stride-16 grid) or 32 (stride-32 features only).
        bn_momentum: BatchNorm momentum.
        per_class: one attention map per label (True) or one shared map (False).
    """

    def __init__(
        self,
        c16: int,
        c32: int,
        dim: int,
        num_labels: int,
        embed_dim: int,
        dropout: float,
        stride: int,
        bn_momentum: float,
        per_class: bool = True,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.per_class = per_class

        def lateral(c: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c, dim, 1, bias=False), nn.BatchNorm2d(dim, momentum=bn_momentum))

        self.lat32 = lateral(c32)
        self.lat16 = lateral(c16) if stride == 16 else None
        self.cam = nn.Identity()  # Grad-CAM target: the fused map that is pooled
        hidden = max(dim // 4, 8)
        self.att = nn.Sequential(
            nn.Conv2d(dim, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden, momentum=bn_momentum),
            nn.SiLU(),
            nn.Conv2d(hidden, num_labels if per_class else 1, 1),
        )
        # Zero-initialised scores: training starts from average pooling (uniform attention).
        nn.init.zeros_(self.att[-1].weight)
        nn.init.zeros_(self.att[-1].bias)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_labels)
        self.embed = nn.Linear(dim, embed_dim)

    def forward(
        self, f16: torch.Tensor, f32: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``f16 (B, c16, h, w)``, ``f32 (B, c32, h', w')`` -> logits ``(B, C)``, attention
        ``(B, h, w)``, embedding ``(B, E)``, per-label maps ``(B, C, h, w)`` (None when shared)."""
        x = self.lat32(f32)
        if self.lat16 is not None:
            x = self.lat16(f16) + F.interpolate(x, size=f16.shape[-2:], mode="bilinear", align_corners=False)
        x = self.cam(F.silu(x))
        b, d, h, w = x.shape
        att = torch.softmax(self.att(x).flatten(2), dim=-1)  # (B, M, h*w), M = C or 1
        pooled = torch.bmm(att, x.flatten(2).transpose(1, 2))  # (B, M, d)
        embedding = self.embed(pooled.mean(1))
        if not self.per_class:
            return self.fc(self.drop(pooled[:, 0])), att.view(b, h, w), embedding, None
        logits = (self.drop(pooled) * self.fc.weight).sum(-1) + self.fc.bias
        p = torch.sigmoid(logits.detach())
        mixture = torch.bmm((p / p.sum(1, keepdim=True).clamp_min(1e-12))[:, None], att).view(b, h, w)
        return logits, mixture, embedding, att.view(b, -1, h, w)


def _efficientnet_lite0() -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None selects dynamic "same" padding, valid for any input size.
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    del net._fc  # the ImageNet classifier is not used (its keys are ignored on load)
    _static_same_padding(net)
    return net


def _static_same_padding(net: nn.Module) -> None:
    """Give every stride-1 "same"-padded conv of the port its padding inside the convolution.

    The port pads every conv with a separate ``F.pad`` (TF "same"). For stride 1, an odd kernel
    and dilation 1 that padding is ``(k - 1) / 2`` on each side whatever the input size, so the
    convolution's own zero padding gives the same result (float tolerance) without the extra
    copy of every feature map and its backward (44 of the 49 convs of Lite0; training step
    measured in benchmarks/bench_train_speed.py). Stride-2 convs pad asymmetrically and keep
    ``F.pad``. Parameter names and shapes are unchanged, so weight files load as before.
    """
    from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding

    for m in net.modules():
        if (
            isinstance(m, Conv2dDynamicSamePadding)
            and tuple(m.stride) == (1, 1)
            and tuple(m.dilation) == (1, 1)
            and all(k % 2 == 1 for k in m.kernel_size)
        ):
            m.padding = tuple((k - 1) // 2 for k in m.kernel_size)
            m.__class__ = nn.Conv2d  # the plain convolution's forward, with that padding


def _lite0_prefix(net: nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    """Stem and blocks ``0 .. k-1`` of EfficientNet-Lite0."""
    x = net._swish(net._bn0(net._conv_stem(x)))
    rate = net._global_params.drop_connect_rate or 0.0
    for idx in range(k):
        x = net._blocks[idx](x, drop_connect_rate=rate * idx / len(net._blocks))
    return x


def _lite0_features(net: nn.Module, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocks ``k ..`` from the prefix output ``x``: the stride-16 map after block 10 (112 ch) and
    the stride-32 map after the head conv (1280 ch)."""
    rate = net._global_params.drop_connect_rate or 0.0
    n = len(net._blocks)
    f16 = x
    for idx in range(k, n):
        x = net._blocks[idx](x, drop_connect_rate=rate * idx / n)
        if idx == 10:
            f16 = x
    return f16, net._swish(net._bn1(net._conv_head(x)))


def _lite0_prefix_modules(net: nn.Module, k: int) -> list[nn.Module]:
    return [net._conv_stem, net._bn0, *net._blocks[:k]]


def _densenet121() -> nn.Module:
    from monai.networks.nets import DenseNet121

    net = DenseNet121(spatial_dims=2, in_channels=3, out_channels=1)
    del net.class_layers
    return net


# DenseNet-121 as a stem and four "blocks" (a dense block with the transition after it); the
# stride-16 map is the output of dense block 3, before its transition.
_DENSE_STEM = ("conv0", "norm0", "relu0", "pool0")
_DENSE_BLOCKS = (
    ("denseblock1", "transition1"),
    ("denseblock2", "transition2"),
    ("denseblock3",),
    ("transition3", "denseblock4", "norm5"),
)


def _densenet121_prefix_modules(net: nn.Module, k: int) -> list[nn.Module]:
    names = [*_DENSE_STEM, *(name for block in _DENSE_BLOCKS[:k] for name in block)]
    return [getattr(net.features, name) for name in names]


def _densenet121_prefix(net: nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    """Stem (conv0 .. pool0) and blocks ``0 .. k-1``."""
    for module in _densenet121_prefix_modules(net, k):
        x = module(x)
    return x


def _densenet121_features(net: nn.Module, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocks ``k ..`` from the prefix output ``x``: the stride-16 map after dense block 3 and
    the stride-32 map after norm5 (1024 ch each)."""
    f16 = x
    for idx in range(k, len(_DENSE_BLOCKS)):
        for name in _DENSE_BLOCKS[idx]:
            x = getattr(net.features, name)(x)
        if idx == 2:
            f16 = x
    return f16, F.relu(x)


@dataclass(frozen=True)
class CNNTrunk:
    """A CNN feature extractor the attention head sits on, as a stem, numbered blocks and the rest.

    Attributes:
        make: builds the trunk module (no classifier).
        prefix: ``(trunk, x (B, 3, S, S), k) -> map``: the stem and blocks ``0 .. k-1``.
        features: ``(trunk, prefix map, k) -> (stride-16 map, stride-32 map)``: blocks ``k ..``.
        prefix_modules: ``(trunk, k) -> modules`` of the stem and blocks ``0 .. k-1`` (those
            ``model.freeze_blocks = k`` freezes).
        max_frozen: the largest ``k`` that leaves the block making the stride-16 map trainable.
        channels16, channels32: channels of the two maps.
        mean, std: per-channel input normalisation the trunk's weights expect.
        weights_ignore: source-file keys dropped when loading weights (e.g. a classifier).
    """

    make: Callable[[], nn.Module]
    prefix: Callable[[nn.Module, torch.Tensor, int], torch.Tensor]
    features: Callable[[nn.Module, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
    prefix_modules: Callable[[nn.Module, int], list[nn.Module]]
    max_frozen: int
    channels16: int
    channels32: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights_ignore: tuple[str, ...]

    def maps(self, net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole trunk: ``x (B, 3, S, S)`` -> (stride-16 map, stride-32 map)."""
        return self.features(net, self.prefix(net, x, 0), 0)


CNN_TRUNKS: dict[str, CNNTrunk] = {
    # EfficientNet-Lite (TF) preprocessing: (x*255 - 127) / 128, i.e. about 2x - 1.
    "efficientnet_lite0": CNNTrunk(
        _efficientnet_lite0,
        _lite0_prefix,
        _lite0_features,
        _lite0_prefix_modules,
        10,
        112,
        1280,
        (0.5,) * 3,
        (0.5,) * 3,
        ("_fc.",),
    ),
    "densenet121": CNNTrunk(
        _densenet121,
        _densenet121_prefix,
        _densenet121_features,
        _densenet121_prefix_modules,
        2,
        1024,
        1024,
        IMAGENET_MEAN,
        IMAGENET_STD,
        ("class_layers.",),
    ),
}


class AttentionPoolCNN(GazeCXRNet):
    """CNN trunk + :class:`AttentionPoolHead` (``efficientnet_lite0`` or ``densenet121``).

    With ``model.freeze_blocks = k > 0`` the stem and the first ``k`` blocks are frozen: no
    gradient, always in eval mode (BatchNorm on the statistics it was loaded with, no
    drop-connect), run under ``no_grad``. :attr:`prefix_cache` (set by the trainer, see
    :mod:`gazecxr.models.frozen`) then serves their output for images seen before.
    """

    def __init__(self, cfg: ModelConfig, num_labels: int, image_size: int) -> None:
        super().__init__(cfg, num_labels, image_size)
        trunk = CNN_TRUNKS[cfg.backbone]
        if cfg.freeze_blocks > trunk.max_frozen:
            raise ConfigError(
                f"model.freeze_blocks={cfg.freeze_blocks}: {cfg.backbone} can freeze at most "
                f"{trunk.max_frozen} blocks (its stride-16 map, which the attention pools, must stay trainable)"
            )
        self._trunk, self.weights_ignore = trunk, trunk.weights_ignore
        self.backbone = trunk.make()
        if cfg.depthwise_grad == "tiled":
            use_tiled_depthwise(self.backbone)
        self.register_buffer("mean", torch.tensor(trunk.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(trunk.std).view(1, 3, 1, 1), persistent=False)
        self.head = AttentionPoolHead(
            trunk.channels16,
            trunk.channels32,
            cfg.head_dim,
            num_labels,
            cfg.embed_dim,
            cfg.dropout,
            cfg.attention_stride,
            cfg.bn_momentum,
            per_class=cfg.attention == "per_class",
        )
        self.cam_layer = self.head.cam
        self.freeze_blocks = cfg.freeze_blocks
        self.frozen_modules = (
            trunk.prefix_modules(self.backbone, cfg.freeze_blocks) if cfg.freeze_blocks else []
        )
        freeze(self.frozen_modules)
        self.prefix_cache: PrefixCache | None = None
        with torch.no_grad():
            f16, f32 = trunk.maps(self.backbone.eval(), torch.zeros(1, 3, image_size, image_size))
        self.train()
        self._grid = tuple((f16 if cfg.attention_stride == 16 else f32).shape[-2:])
        # Channels-last (NHWC) convolutions are what oneDNN and cuDNN run fastest, depthwise ones
        # above all: with the input converted too, a CPU training step of Lite0 at 128 px takes
        # about half the time (benchmarks/bench_train_speed.py). Weights loaded later are copied
        # into these tensors and keep their layout; saved checkpoints are written contiguous.
        self._memory_format = (
            torch.channels_last if cfg.memory_format == "channels_last" else torch.contiguous_format
        )
        self.to(memory_format=self._memory_format)

    @property
    def attention_grid(self) -> tuple[int, int]:
        return self._grid  # type: ignore[return-value]

    def train(self, mode: bool = True) -> AttentionPoolCNN:
        super().train(mode)
        for m in self.frozen_modules:  # frozen stages are a fixed function: always eval mode
            m.eval()
        return self

    def frozen_digest(self) -> str:
        """Digest of the frozen stages' weights and of everything else their output depends on."""
        return state_digest(
            self.frozen_modules,
            self.cfg.backbone,
            self.freeze_blocks,
            self.image_size,
            str(self._memory_format),
            str(self.mean.device),
        )

    def _prefix(self, image: torch.Tensor) -> torch.Tensor:
        """``image (B, 1, S, S)`` -> the output of the stem and the frozen blocks (just the stem,
        trainable, when nothing is frozen)."""
        x = ((image.expand(-1, 3, -1, -1) - self.mean) / self.std).contiguous(
            memory_format=self._memory_format
        )
        if not self.freeze_blocks:
            return self._trunk.prefix(self.backbone, x, 0)
        with torch.no_grad():
            return self._trunk.prefix(self.backbone, x, self.freeze_blocks)

    def forward(
        self,
        image: torch.Tensor,
        fixations: torch.Tensor | None = None,
        fixations_len: torch.Tensor | None = None,
    ) -> ModelOutput:
        """``image (B, 1, S, S)`` in [0, 1] -> :class:`ModelOutput`; fixations are not used by CNNs."""
        self._check_image(image)
        if self.freeze_blocks and self.prefix_cache is not None:
            h = self.prefix_cache(image, self._prefix).contiguous(memory_format=self._memory_format)
        else:
            h = self._prefix(image)
        features = self._trunk.features(self.backbone, h, self.freeze_blocks)
        logits, attention, embedding, per_label = self.head(*features)
        return ModelOutput(logits=logits, attention=attention, embedding=embedding, class_attention=per_label)
