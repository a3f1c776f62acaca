"""Rendering of radiographs and heatmaps as PNG images (used by the viewer and the demo report).

Pure NumPy + Pillow + a Matplotlib colormap (no pyplot, no display): safe in server threads.
Heatmaps use perceptually uniform, colour-blind-safe colormaps (viridis by default) and an alpha
channel that grows with the value, so that low-attention areas leave the radiograph visible.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib import colormaps
from PIL import Image

ATTENTION_CMAP = "viridis"  # model attention
GAZE_CMAP = "cividis"  # radiologist gaze: distinct from the attention, also colour-blind safe


def radiograph_uint8(image: np.ndarray, max_side: int | None = None) -> np.ndarray:
    """Grayscale image (any range) -> uint8 ``(H, W)``, optionally downscaled so max(H, W) <= max_side."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:  # (1, H, W) tensors from the dataset
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {arr.shape}")
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    scaled = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    out = np.clip(np.nan_to_num(scaled) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if max_side is not None and max(out.shape) > max_side:
        factor = max_side / max(out.shape)
        size = (max(1, round(out.shape[1] * factor)), max(1, round(out.shape[0] * factor)))
        out = np.asarray(Image.fromarray(out).resize(size, Image.Resampling.LANCZOS))
    return out


def heatmap_rgba(
    heatmap: np.ndarray, size: tuple[int, int], cmap: str = ATTENTION_CMAP, max_alpha: float = 0.85
) -> np.ndarray:
    """Colour a non-negative map and upsample it to ``size`` = (H, W).

    The map is scaled from its minimum to its maximum (a display choice: where it is higher matters,
    not its mass; a uniform map therefore shows nothing), coloured with ``cmap`` and given
    alpha = ``max_alpha * sqrt(value)`` so that weak values stay translucent. A constant map (e.g. a
    reading without gaze) gives a fully transparent image.
    """
    arr = np.nan_to_num(np.asarray(heatmap, dtype=np.float32))
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D heatmap, got shape {arr.shape}")
    arr = np.clip(arr, 0.0, None)
    height, width = size
    # Bilinear upsampling of the float map (mode "F") keeps the attention grid smooth.
    up = np.asarray(Image.fromarray(arr, mode="F").resize((width, height), Image.Resampling.BILINEAR))
    lo, hi = float(up.min()), float(up.max())
    norm = (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)
    rgba = colormaps[cmap](norm)  # (H, W, 4) floats
    rgba[..., 3] = max_alpha * np.sqrt(norm)
    return (rgba * 255.0 + 0.5).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 ``(H, W)`` (grayscale) or ``(H, W, 3|4)`` array as PNG."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def data_url(payload: bytes, mime: str = "image/png") -> str:
    """``data:`` URL for embedding an image in HTML or JSON."""
    return f"data:{mime};base64," + base64.b64encode(payload).decode("ascii")
