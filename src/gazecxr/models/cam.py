"""Grad-CAM on the map each network pools, for comparison with the supervised attention."""

from __future__ import annotations

import torch

from gazecxr.models.base import GazeCXRNet


def gradcam(model: GazeCXRNet, image: torch.Tensor, class_index: int | torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) of one class per image on the model's attention grid.

    Target layer: the fused feature map the CNN head pools, or the patch tokens entering the last
    ViT block. Parameter gradients are not touched; the model's train/eval mode is left as is
    (call it in eval mode).

    Args:
        model: a network from :func:`gazecxr.models.build_model`.
        image: ``(B, 1, S, S)`` in [0, 1].
        class_index: label index for every image, or ``(B,)`` one per image.

    Returns:
        ``(B, h, w)`` non-negative maps each summing to 1 (a map whose ReLU-ed CAM is all zero is
        returned uniform: no evidence for the class anywhere).
    """
    captured: dict[str, torch.Tensor] = {}

    def hook(_module: torch.nn.Module, _inp: tuple, out: torch.Tensor) -> torch.Tensor:
        leaf = out.detach().requires_grad_(True)
        captured["x"] = leaf
        return leaf

    handle = model.cam_layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(image).logits
            idx = torch.as_tensor(class_index, device=logits.device).long().expand(logits.shape[0])
            score = logits.gather(1, idx[:, None]).sum()
            feats = captured["x"]
            (grad,) = torch.autograd.grad(score, feats)
    finally:
        handle.remove()
    h, w = model.attention_grid
    if feats.ndim == 3:  # ViT tokens (B, h*w, D) -> (B, D, h, w)
        feats, grad = (t.transpose(1, 2).reshape(t.shape[0], -1, h, w) for t in (feats, grad))
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * feats).sum(1)).detach()
    total = cam.flatten(1).sum(1)
    uniform = torch.full_like(cam, 1.0 / (h * w))
    return torch.where((total > 0)[:, None, None], cam / total.clamp_min(1e-30)[:, None, None], uniform)
