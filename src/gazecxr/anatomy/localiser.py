"""The anatomy localiser in use: load a model directory, locate the 17 regions, fall back to the atlas.

A model directory holds ``localiser.safetensors`` (the head's weights and the in-domain model; read
with safetensors only, never unpickled), ``config.yaml`` (its :class:`AnatomyConfig`),
``run.json`` (seed, versions, command) and ``metrics.json``. The package ships one
(:func:`default_model_dir`; docs/anatomy.md is its model card).

A :class:`Location` is the model's boxes when it is confident, else the atlas
(:func:`gazecxr.anatomy.atlas.atlas_boxes`), with the reason logged and recorded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gazecxr.anatomy.atlas import atlas_boxes
from gazecxr.anatomy.config import AnatomyConfig
from gazecxr.anatomy.domain import DomainModel
from gazecxr.anatomy.network import BoxMaskHead, decode_boxes, load_trunk, trunk_features
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.images import resize_square
from gazecxr.errors import InputError
from gazecxr.prediction import Prediction

log = logging.getLogger("gazecxr.anatomy")
Box = tuple[float, float, float, float]
WEIGHTS_FILE = "localiser.safetensors"
LUNGS = ("right lung", "left lung")


class LocaliserError(InputError):
    """A localiser directory cannot be loaded; the message names the file and the problem."""


MODEL_ENV = "GAZECXR_ANATOMY_MODEL"


def default_model_dir() -> Path:
    """The localiser used when none is named: ``$GAZECXR_ANATOMY_MODEL`` when set (e.g. one retrained
    on MIMIC-Eye's EyeGaze boxes), else the one shipped with the package (``make anatomy-default``)."""
    return shipped_model_dir() if not os.environ.get(MODEL_ENV) else Path(os.environ[MODEL_ENV])


def shipped_model_dir() -> Path:
    """The localiser shipped with the package (docs/anatomy.md is its model card)."""
    return Path(__file__).resolve().parent / "default"


@dataclass
class Location:
    """Where the regions of one image are.

    Attributes:
        boxes: region -> normalised ``(x0, y0, x1, y1)`` in [0, 1].
        confidence: region -> the model's confidence in [0, 1] (its map's peak x the in-domain
            score), also when the atlas was used; empty when no model ran.
        source: ``"model"`` or ``"atlas"``.
        domain: the in-domain score in [0, 1] (None when no model ran).
        reason: why the atlas was used ("" for the model).
    """

    boxes: dict[str, Box]
    confidence: dict[str, float] = field(default_factory=dict)
    source: str = "model"
    domain: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "boxes": {k: [round(v, 4) for v in b] for k, b in self.boxes.items()},
            "confidence": {k: round(v, 4) for k, v in self.confidence.items()},
            "source": self.source,
            "domain_score": None if self.domain is None else round(self.domain, 4),
            "fallback_reason": self.reason or None,
        }


class Localiser:
    """A trained head + in-domain model over the frozen trunk.

    Args:
        head: trained :class:`BoxMaskHead`.
        domain: fitted :class:`DomainModel`.
        cfg: the configuration it was trained with (``image_size``, ``min_confidence``).
    """

    def __init__(self, head: BoxMaskHead, domain: DomainModel, cfg: AnatomyConfig) -> None:
        self.head, self.domain, self.cfg = head.eval(), domain, cfg
        self._trunk: torch.nn.Module | None = None

    @property
    def trunk(self) -> torch.nn.Module:
        if self._trunk is None:
            self._trunk = load_trunk()
        return self._trunk

    def save(self, out: str | Path) -> Path:
        """Write ``localiser.safetensors`` into ``out`` (config and provenance: :func:`train_localiser`)."""
        from gazecxr.runinfo import write_tensors_atomic

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {f"head.{k}": v.contiguous() for k, v in self.head.state_dict().items()}
        tensors.update({f"domain.{k}": v.contiguous() for k, v in self.domain.state().items()})
        write_tensors_atomic(out / WEIGHTS_FILE, tensors, {"regions": "|".join(self.head.regions)})
        return out / WEIGHTS_FILE

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> Localiser:
        """Load a model directory (default: the shipped one).

        Raises:
            LocaliserError: a file is missing, unreadable, or does not fit the head.
        """
        from safetensors import SafetensorError, safe_open

        from gazecxr.config import load_config
        from gazecxr.schema import ConfigError

        d = Path(model_dir) if model_dir is not None else default_model_dir()
        path = d / WEIGHTS_FILE
        if not path.is_file():
            raise LocaliserError(f"{path}: no localiser weights there (train one: gazecxr anatomy train)")
        try:
            cfg = load_config(d / "config.yaml", model=AnatomyConfig)
        except ConfigError as exc:
            raise LocaliserError(f"{d / 'config.yaml'}: {exc}") from None
        try:
            with safe_open(str(path), framework="pt") as f:
                regions = tuple((f.metadata() or {}).get("regions", "").split("|"))
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iteration
        except (SafetensorError, OSError) as exc:
            raise LocaliserError(f"{path}: not a readable safetensors file ({exc})") from None
        if regions != REGIONS:
            raise LocaliserError(f"{path}: made for regions {regions[:3]}..., not the 17 EyeGaze regions")
        head = BoxMaskHead(cfg.head_dim, regions)
        try:
            head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")}, strict=True)
            domain = DomainModel.from_state({k[7:]: v for k, v in tensors.items() if k.startswith("domain.")})
        except (RuntimeError, KeyError) as exc:
            raise LocaliserError(
                f"{path}: does not fit the localiser head ({str(exc).splitlines()[0]})"
            ) from None
        return cls(head, domain, cfg)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``images (B, 1, S, S)`` in [0, 1] at ``cfg.image_size`` -> ``boxes (B, R, 4)``,
        ``confidence (B, R)`` (peak x in-domain score), ``domain (B,)``."""
        f16, f32 = trunk_features(self.trunk, images)
        boxes, peak = decode_boxes(self.head(f16, f32))
        domain = self.domain.score(f32.mean((2, 3)))
        return boxes, peak * domain[:, None], domain

    def untrusted(self, confidence: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        """``(B, R)`` confidences, ``(B,)`` in-domain scores -> ``(B,)`` True where the atlas is used:
        the in-domain score or either lung's confidence below ``cfg.min_confidence``."""
        lungs = [REGIONS.index(r) for r in LUNGS]
        return (domain < self.cfg.min_confidence) | (confidence[:, lungs].amin(1) < self.cfg.min_confidence)

    def locate(self, image: np.ndarray, model_input: np.ndarray | None = None) -> Location:
        """Regions of one radiograph.

        Args:
            image: ``(H, W)`` float in [0, 1] (any size; used for the atlas fallback).
            model_input: the same image already at ``(S, S)`` (``load_resized``), to skip a resize.

        Returns:
            the model's boxes, or the atlas when the in-domain score or either lung's confidence is
            below ``cfg.min_confidence`` (a lateral view, a photo, a crop), the reason logged.
        """
        s = self.cfg.image_size
        x = (
            model_input
            if model_input is not None and model_input.shape == (s, s)
            else resize_square(image, s)
        )
        boxes, conf, domain = self.predict(
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
        )
        confidence = {r: float(c) for r, c in zip(REGIONS, conf[0], strict=True)}
        score = float(domain[0])
        if bool(self.untrusted(conf, domain)[0]):
            low = [r for r in LUNGS if confidence[r] < self.cfg.min_confidence]
            reason = (
                f"the image does not look like the training radiographs (in-domain score {score:.2f})"
                if score < self.cfg.min_confidence
                else f"low confidence for the {' and '.join(low)} ({', '.join(f'{confidence[r]:.2f}' for r in low)})"
            )
            log.warning("anatomy: atlas used instead of the localiser: %s", reason)
            return Location(atlas_boxes(image), confidence, "atlas", score, reason)
        named = {r: tuple(float(v) for v in b) for r, b in zip(REGIONS, boxes[0], strict=True)}
        return Location(named, confidence, "model", score)  # type: ignore[arg-type]


@lru_cache(maxsize=4)
def _cached(model_dir: str) -> Localiser:
    return Localiser.load(model_dir)


def locate_regions(
    image: np.ndarray, model_dir: str | Path | None = None, model_input: np.ndarray | None = None
) -> Location:
    """:meth:`Localiser.locate` with the localiser of ``model_dir`` (default: the shipped one), loaded
    once per process; the atlas, with the reason, when no localiser can be loaded."""
    try:
        localiser = _cached(str(Path(model_dir) if model_dir is not None else default_model_dir()))
    except LocaliserError as exc:
        log.warning("anatomy: atlas used, no localiser loaded: %s", exc)
        return Location(atlas_boxes(image), {}, "atlas", None, f"no localiser loaded ({exc})")
    return localiser.locate(image, model_input)


def attach_boxes(
    prediction: Prediction,
    image: np.ndarray,
    anatomy_boxes: dict[str, Box] | None,
    model_input: np.ndarray | None = None,
) -> None:
    """Give a prediction the reading's own anatomy boxes, or else those the anatomy localiser finds
    on ``image`` (the atlas when it is not confident; :func:`locate_regions`).

    Done before the report is written, so that the boxes drawn in the viewer and the study report
    are the ones the report's region assignment used.

    Args:
        image: ``(H, W)`` float in [0, 1].
        model_input: the same image as ``load_resized`` gives it at the localiser's size, if at hand.
    """
    if anatomy_boxes:
        prediction.anatomy_boxes, prediction.anatomy_source = dict(anatomy_boxes), "dataset"
        prediction.anatomy_confidence, prediction.anatomy_note = {}, ""
        return
    location = locate_regions(image, model_input=model_input)
    prediction.anatomy_boxes, prediction.anatomy_source = dict(location.boxes), location.source
    prediction.anatomy_confidence, prediction.anatomy_note = dict(location.confidence), location.reason
