"""The paper's Stage-1 design: a small ViT with a learnable gaze token."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.models.base import GazeCXRNet
from gazecxr.models.config import ModelConfig
from gazecxr.models.output import ModelOutput


class _Block(nn.Module):
    """Pre-norm transformer block whose attention probabilities can be returned."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model.vit.dim={dim} must be divisible by model.vit.heads={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x (B, N, D)``, boolean ``mask (N, N)`` (True = may attend) -> ``(B, N, D)``, probs ``(B, H, N, N)`` or None."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
            probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            out = probs @ v
        else:
            probs = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.mlp(self.norm2(x))), probs


class _ViTEncoder(nn.Module):
    """Patch embedding, positional embedding, gaze-token parameters and transformer blocks."""

    def __init__(self, cfg: ModelConfig, image_size: int) -> None:
        super().__init__()
        v = cfg.vit
        self.grid = image_size // v.patch_size
        self.patch = nn.Conv2d(1, v.dim, v.patch_size, v.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, 1 + self.grid**2, v.dim))
        self.gaze_token = nn.Parameter(torch.zeros(1, 1, v.dim))
        self.null_gaze = nn.Parameter(torch.zeros(1, 1, v.dim))  # stands in for absent / dropped gaze
        self.gaze_in = nn.Linear(cfg.embed_dim, v.dim)  # fixation-sequence embedding -> token space
        self.blocks = nn.ModuleList(_Block(v.dim, v.heads, v.mlp_ratio, cfg.dropout) for _ in range(v.depth))
        self.norm = nn.LayerNorm(v.dim)
        for p in (self.pos, self.gaze_token, self.null_gaze):
            nn.init.trunc_normal_(p, std=0.02)


class GazeViT(GazeCXRNet):
    """ViT whose first token is a learnable *gaze token*.

    Token 0 = ``gaze_token + g`` where ``g`` is the projected fixation-sequence embedding (bi-GRU)
    when fixations are given and not dropped (modality dropout, training only), else a learned null
    embedding; tokens 1.. are the image patches. Patches may not attend to the gaze token, so the
    patch tokens (and the image embedding, their mean) depend on the image alone; the gaze token
    reads the patches and its output is classified. ``attention`` is the gaze token's last-layer
    attention over patches (``vit.attention_map=gaze_token``, averaged over heads) or attention
    rollout from the gaze token (``rollout``, Abnar & Zuidema 2020, residual-averaged), each
    renormalised over the patches.
    """

    def __init__(self, cfg: ModelConfig, num_labels: int, image_size: int) -> None:
        super().__init__(cfg, num_labels, image_size)
        v = cfg.vit
        if image_size % v.patch_size:
            raise ValueError(
                f"data.image_size={image_size} must be a multiple of model.vit.patch_size={v.patch_size}"
            )
        self.backbone = _ViTEncoder(cfg, image_size)
        self.cam_layer = nn.Identity()  # patch tokens entering the last block, (B, h*w, D)
        self.fc = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(v.dim, num_labels))
        self.embed = nn.Linear(v.dim, cfg.embed_dim)
        n = 1 + self.backbone.grid**2
        mask = torch.ones(n, n, dtype=torch.bool)
        mask[1:, 0] = False
        self.register_buffer("mask", mask, persistent=False)

    @property
    def attention_grid(self) -> tuple[int, int]:
        return (self.backbone.grid, self.backbone.grid)

    def _gaze_input(
        self, b: int, fixations: torch.Tensor | None, lengths: torch.Tensor | None, ref: torch.Tensor
    ) -> torch.Tensor:
        """Per-sample gaze-token additive input ``(B, 1, D)``."""
        enc = self.backbone
        null = enc.null_gaze.expand(b, 1, -1)
        if fixations is None or self.gaze_encoder is None:
            return null
        if lengths is None:
            raise ValueError("fixations given without fixations_len (B,)")
        use = lengths.to(ref.device) > 0
        if self.training and self.cfg.vit.modality_dropout > 0:
            use = use & (torch.rand(b, device=ref.device) >= self.cfg.vit.modality_dropout)
        if not bool(use.any()):
            return null
        g = enc.gaze_in(self.gaze_encoder(fixations, lengths))[:, None, :]
        return torch.where(use[:, None, None], g, null)

    def forward(
        self,
        image: torch.Tensor,
        fixations: torch.Tensor | None = None,
        fixations_len: torch.Tensor | None = None,
    ) -> ModelOutput:
        """``image (B, 1, S, S)`` in [0, 1], optional ``fixations (B, T, 4)`` + ``fixations_len (B,)``."""
        self._check_image(image)
        enc = self.backbone
        b = image.shape[0]
        patches = enc.patch((image - 0.5) / 0.5).flatten(2).transpose(1, 2)  # (B, N, D)
        gaze = enc.gaze_token + self._gaze_input(b, fixations, fixations_len, image)
        x = torch.cat([gaze, patches], dim=1) + enc.pos
        rollout = self.cfg.vit.attention_map == "rollout"
        depth = len(enc.blocks)
        probs: list[torch.Tensor] = []
        for i, block in enumerate(enc.blocks):
            last = i == depth - 1
            if last:
                x = torch.cat([x[:, :1], self.cam_layer(x[:, 1:])], dim=1)
            x, p = block(x, self.mask, need_weights=rollout or last)
            if p is not None:
                probs.append(p.mean(1))  # head average, (B, N, N)
        x = enc.norm(x)
        if rollout:
            eye = torch.eye(x.shape[1], device=x.device, dtype=x.dtype)
            r = eye.expand(b, -1, -1)
            for p in probs:
                a = 0.5 * p + 0.5 * eye
                r = (a / a.sum(-1, keepdim=True)) @ r
            row = r[:, 0, 1:]
        else:
            row = probs[-1][:, 0, 1:]
        attention = row / row.sum(-1, keepdim=True).clamp_min(1e-12)
        g = enc.grid
        return ModelOutput(
            logits=self.fc(x[:, 0]),
            attention=attention.view(b, g, g),
            embedding=self.embed(x[:, 1:].mean(1)),
        )
