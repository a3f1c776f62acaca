"""Image-only inference from a finished run: :class:`Predictor` and the overlay writer.

    >>> p = Predictor.from_run("runs/synthetic")
    >>> pred = p.predict_path("image.jpg")       # JPG / PNG / DICOM
    >>> pred.positive, pred.attention.shape

The run's ``checkpoint_best.safetensors`` (safetensors, no pickle) and ``thresholds.json`` are
read; images are preprocessed exactly like the dataset does (grayscale in [0, 1], resized to
``data.image_size``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gazecxr.config import load_config
from gazecxr.data.images import Radiograph
from gazecxr.data.labels import get_label_set
from gazecxr.experiment import ExperimentConfig
from gazecxr.gaze.maps import normalise_maps
from gazecxr.prediction import Prediction
from gazecxr.runinfo import write_bytes_atomic
from gazecxr.train.checkpoint import (
    OBJECTIVE_PREFIX,
    CheckpointError,
    load_unique_state,
    read_checkpoint_weights,
)
from gazecxr.train.rundir import BEST, RunDir

__all__ = ["Prediction", "Predictor", "load_run_model", "read_thresholds", "write_overlay"]


def read_thresholds(run_dir: Path, expected: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Label names and per-class thresholds from ``thresholds.json``, checked against the run.

    The file must name exactly the run's labels in the run's order (``expected``; default: the
    label set of the run's config.yaml) with one number in [0, 1] each: a file whose names were
    swapped would swap the reported probabilities, a duplicated name would drop one, and a
    threshold of 7.5 or ``true`` would silently change every decision. Anything else is a
    CheckpointError naming the file and the problem (one line, exit 2 in the CLI).
    """
    path = RunDir(run_dir).thresholds
    if not path.is_file():
        raise CheckpointError(f"{path}: not found; is {run_dir} a finished training run?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(
            f"{path}: not valid JSON ({type(exc).__name__}); rerun training or restore the file"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
        raise CheckpointError(f"{path}: no 'labels' list; not a GazeCXR thresholds file")
    if expected is None:
        expected = get_label_set(load_config(RunDir(run_dir).config).data.label_set)
    labels = [str(n) if isinstance(n, str) else repr(n) for n in data["labels"]]
    if labels != list(expected):
        raise CheckpointError(
            f"{path}: labels {labels} are not the run's own {list(expected)} (names and order); "
            "the file belongs to another run or was edited: restore it or rerun training"
        )
    given = data.get("thresholds")
    missing = [n for n in labels if not isinstance(given, dict) or n not in given]
    if missing:
        raise CheckpointError(f"{path}: no threshold for label(s) {', '.join(missing)}")
    values = [given[n] for n in labels]
    bad = [
        n
        for n, v in zip(labels, values, strict=True)
        if isinstance(v, bool) or not isinstance(v, int | float)
    ]
    if bad:
        raise CheckpointError(f"{path}: the threshold of {', '.join(bad)} is not a number")
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr) & (arr >= 0) & (arr <= 1)):
        raise CheckpointError(f"{path}: thresholds must be probabilities in [0, 1]")
    return labels, arr


def load_run_model(
    run_dir: str | Path, device: str | torch.device = "cpu", checkpoint: str = BEST
) -> tuple[torch.nn.Module, ExperimentConfig, list[str], np.ndarray]:
    """Rebuild a run's model from its config and load ``<checkpoint>.safetensors`` (eval mode).

    Returns (model, config, label names, thresholds).
    """
    from gazecxr.models import build_model

    run_dir = Path(run_dir)
    rd = RunDir(run_dir)
    if not rd.config.is_file():
        raise CheckpointError(f"{run_dir}: no config.yaml; not a GazeCXR run directory")
    cfg = load_config(rd.config)
    labels, thresholds = read_thresholds(run_dir, get_label_set(cfg.data.label_set))
    # The checkpoint holds every weight: skip ImageNet / user weight files (may be absent here).
    model = build_model(
        cfg.model.model_copy(update={"pretrained": False, "weights": None}), len(labels), cfg.data.image_size
    )
    path = rd.weights(checkpoint)
    weights, _ = read_checkpoint_weights(path)
    load_unique_state(
        model, {k: v for k, v in weights.items() if not k.startswith(OBJECTIVE_PREFIX)}, str(path)
    )
    return model.to(device).eval(), cfg, labels, thresholds


def _normalised(maps: torch.Tensor) -> np.ndarray:
    """``(..., h, w)`` maps -> float64 arrays, each ``(h, w)`` map rescaled to sum 1."""
    return normalise_maps(maps).cpu().numpy().astype(np.float64)


class Predictor:
    """A trained model plus its thresholds, ready for image-only inference."""

    def __init__(
        self,
        model: torch.nn.Module,
        cfg: ExperimentConfig,
        labels: list[str],
        thresholds: np.ndarray,
        device: str | torch.device = "cpu",
    ) -> None:
        self.model, self.cfg, self.labels, self.thresholds = model, cfg, labels, thresholds
        self.device = torch.device(device)
        self.image_size = cfg.data.image_size
        self.max_pixels = cfg.data.max_image_pixels  # header check before any decode

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "cpu") -> Predictor:
        model, cfg, labels, thresholds = load_run_model(run_dir, device)
        return cls(model, cfg, labels, thresholds, device)

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """``(H, W)`` float in [0, 1] -> ``(1, 1, S, S)``, resized like ``gazecxr.data.images.load_resized``
        (PIL box filter over the whole image, aspect not kept)."""
        from PIL import Image

        s = self.image_size
        if image.shape != (s, s):
            image = np.clip(
                np.asarray(
                    Image.fromarray(image, mode="F").resize((s, s), Image.Resampling.BOX), dtype=np.float32
                ),
                0.0,
                1.0,
            )
        return torch.from_numpy(image)[None, None].to(self.device)

    @torch.no_grad()
    def predict_array(
        self, image: np.ndarray, image_size: tuple[int, int] | None = None, image_path: str = ""
    ) -> Prediction:
        """Predict from a grayscale ``(H, W)`` float image in [0, 1].

        ``image_size`` is the original (height, width) recorded in the prediction (default: the
        array's shape, i.e. when the array is the full-resolution image).
        """
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"expected a grayscale (H, W) image, got shape {image.shape}")
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValueError("image values must be finite and in [0, 1]")
        out = self.model(self.preprocess(image.astype(np.float32)))
        probs = torch.sigmoid(out.logits.float())[0].cpu().numpy().astype(np.float64)
        attention = _normalised(out.attention.float()[0])
        per_label = None if out.class_attention is None else _normalised(out.class_attention.float()[0])
        return Prediction(
            labels=list(self.labels),
            probabilities=probs,
            thresholds=self.thresholds.copy(),
            attention=attention,
            image_size=tuple(image_size or image.shape),  # type: ignore[arg-type]
            image_path=image_path,
            class_attention=per_label,
        )

    def predict_path(self, path: str | Path) -> Prediction:
        """Load a JPG/PNG/DICOM file and predict. Raises ``ImageReadError`` naming the file.

        The input is read with ``load_resized`` (JPEG draft decoding), exactly as the dataset does.
        """
        from gazecxr.data.images import image_size, load_resized

        resized = load_resized(path, self.image_size, self.max_pixels)  # checks the file first
        return self.predict_array(resized, image_size(path), image_path=str(path))

    def read(self, path: str | Path, display_side: int = 768, name: str | None = None) -> Radiograph:
        """The file read once for this model and for display (:func:`gazecxr.data.images.read_radiograph`)."""
        from gazecxr.data.images import read_radiograph

        return read_radiograph(path, self.image_size, display_side, self.max_pixels, name=name)

    def predict_radiograph(self, radiograph: Radiograph) -> Prediction:
        """Predict from :meth:`read`'s result: the same input as :meth:`predict_path`."""
        return self.predict_array(radiograph.model_input, radiograph.size, image_path=radiograph.path)


def upsample_attention(attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of an ``(h, w)`` map to ``size`` (H, W), renormalised to sum 1."""
    t = torch.from_numpy(np.asarray(attention, dtype=np.float32))[None, None]
    up = F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].clamp_min(0)
    return normalise_maps(up).numpy()


def write_overlay(image: np.ndarray, attention: np.ndarray, path: str | Path, alpha: float = 0.45) -> None:
    """Save the image with the attention map (min-max scaled, 'inferno' colours) blended on top."""
    from matplotlib import colormaps
    from PIL import Image

    h, w = image.shape
    scale = 512 / max(h, w)  # overlays are for viewing: cap the long side at 512 px
    size = (max(1, round(h * scale)), max(1, round(w * scale))) if scale < 1 else (h, w)
    base = (
        np.asarray(
            Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).resize(
                (size[1], size[0]), Image.BILINEAR
            ),
            dtype=np.float32,
        )
        / 255
    )
    heat = upsample_attention(attention, size)
    heat = (heat - heat.min()) / max(float(heat.max() - heat.min()), 1e-12)
    rgb = colormaps["inferno"](heat)[..., :3]
    blend = (1 - alpha) * base[..., None] + alpha * rgb
    buf = io.BytesIO()
    Image.fromarray((np.clip(blend, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())  # a reader never sees half an overlay


def prediction_record(
    pred: Prediction, attention_path: Path, overlay_path: Path, per_label_path: Path | None = None
) -> dict[str, Any]:
    """The per-image JSON of ``gazecxr predict``; ``attention_per_label`` is the ``(C, h, w)`` .npy
    of a model with one map per label (rows in the order of ``probabilities``), else null."""
    return {
        **pred.to_dict(),
        "attention_map": str(attention_path),
        "attention_shape": list(pred.attention.shape),
        "attention_per_label": str(per_label_path) if per_label_path is not None else None,
        "overlay": str(overlay_path),
    }
