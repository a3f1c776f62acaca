"""The anatomy localiser in use: load a model directory, locate the 17 regions, fall back to the atlas.

A model directory holds ``localiser.safetensors`` (the head's weights, the in-domain model and the
lung-anchored layout; read with safetensors only, never unpickled), ``config.yaml`` (its
:class:`AnatomyConfig`), ``run.json`` (seed, versions, command) and ``metrics.json``. The package
ships one (:func:`default_model_dir`; docs/anatomy.md is its model card). Callers load one
explicitly (:meth:`Localiser.load`) and pass it on; nothing here is global.

:meth:`Localiser.locate` returns an :class:`~gazecxr.prediction.Anatomy`: the model's lungs when it
is confident (else the atlas, with the reason), and for every other region the model's box when it
is plausible for those lungs, else the box the lung-anchored layout places from them
(:mod:`gazecxr.anatomy.layout`), each region saying which.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from gazecxr.anatomy.atlas import atlas_boxes
from gazecxr.anatomy.config import AnatomyConfig
from gazecxr.anatomy.domain import DomainModel
from gazecxr.anatomy.layout import FRAME, LEFT, LUNGS, RIGHT, LungLayout
from gazecxr.anatomy.network import BoxMaskHead, decode_boxes, load_trunk, trunk_features
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.images import resize_square
from gazecxr.errors import InputError
from gazecxr.prediction import Anatomy, Box

log = logging.getLogger("gazecxr.anatomy")
WEIGHTS_FILE = "localiser.safetensors"


class LocaliserError(InputError):
    """A localiser directory cannot be loaded; the message names the file and the problem."""


def default_model_dir() -> Path:
    """The localiser shipped with the package (``make anatomy-default``; docs/anatomy.md is its model
    card), used when none is named (``--anatomy-model``, ``report.anatomy_model``)."""
    return Path(__file__).resolve().parent / "default"


class Localiser:
    """A trained head, in-domain model and lung-anchored layout over the frozen trunk.

    Args:
        head: trained :class:`BoxMaskHead`.
        domain: fitted :class:`DomainModel`.
        layout: fitted :class:`LungLayout` (places a region whose box is implausible for the lungs).
        cfg: the configuration it was trained with (``image_size``, ``min_confidence``).
    """

    def __init__(
        self, head: BoxMaskHead, domain: DomainModel, layout: LungLayout, cfg: AnatomyConfig
    ) -> None:
        self.head, self.domain, self.layout, self.cfg = head.eval(), domain, layout, cfg
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
        tensors.update({f"layout.{k}": v.contiguous() for k, v in self.layout.state().items()})
        write_tensors_atomic(out / WEIGHTS_FILE, tensors, {"regions": "|".join(self.head.regions)})
        return out / WEIGHTS_FILE

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> Localiser:
        """Load a model directory (None: the shipped one, :func:`default_model_dir`).

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
        # the head its weights have (a stride-16 head has no lat8 weights), whatever config.yaml says
        fine = any(k.startswith("head.lat8.") for k in tensors)
        cfg = cfg.model_copy(update={"fine_map": fine})
        head = BoxMaskHead(cfg.head_dim, regions, fine=fine)
        try:
            head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")}, strict=True)
            domain = DomainModel.from_state({k[7:]: v for k, v in tensors.items() if k.startswith("domain.")})
        except (RuntimeError, KeyError) as exc:
            raise LocaliserError(
                f"{path}: does not fit the localiser head ({str(exc).splitlines()[0]})"
            ) from None
        try:
            layout = LungLayout.from_state(
                {k[7:]: v for k, v in tensors.items() if k.startswith("layout.")},
                cfg.max_offset,
                cfg.max_scale,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise LocaliserError(
                f"{path}: no lung-anchored layout ({exc}); it was trained before layouts were saved: "
                "retrain it with gazecxr anatomy train"
            ) from None
        return cls(head, domain, layout, cfg)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``images (B, 1, S, S)`` in [0, 1] at ``cfg.image_size`` -> the head's own ``boxes (B, R, 4)``,
        ``confidence (B, R)`` (peak x in-domain score), ``domain (B,)``."""
        return self.from_features(*trunk_features(self.trunk, images))

    @torch.no_grad()
    def from_features(
        self, f8: torch.Tensor | None, f16: torch.Tensor, f32: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`predict` from the trunk's features (:func:`~gazecxr.anatomy.network.trunk_features`:
        ``f8 (B, 40, 2g, 2g)``, None for a stride-16 head; ``f16 (B, 112, g, g)``, ``f32 (B, 1280,
        g/2, g/2)``)."""
        boxes, peak = decode_boxes(self.head(f8, f16, f32))
        domain = self.domain.score(f32.float().mean((2, 3)))
        return boxes, peak * domain[:, None], domain

    def untrusted(self, confidence: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        """``(B, R)`` confidences, ``(B,)`` in-domain scores -> ``(B,)`` True where the atlas is used:
        the in-domain score or either lung's confidence below ``cfg.min_confidence``."""
        return (domain < self.cfg.min_confidence) | (
            confidence[:, [RIGHT, LEFT]].amin(1) < self.cfg.min_confidence
        )

    def resolve(
        self, boxes: torch.Tensor, confidence: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The head's ``boxes (B, R, 4)`` and ``confidence (B, R)`` -> the boxes used ``(B, R, 4)``,
        ``anchored (B, R)`` (True where the layout replaced an implausible box) and their confidence
        ``(B, R)``: an anchored box's is its frame lungs' lower confidence x the layout's fit."""
        placed = self.layout.place(boxes)
        anchored = self.layout.implausible(boxes, placed)
        lungs = confidence[:, [RIGHT, LEFT]]
        frame_conf = torch.stack([lungs[:, 0], lungs[:, 1], lungs.amin(1)], 1)[:, FRAME]
        conf = torch.where(anchored, frame_conf * self.layout.fit.to(confidence), confidence)
        return torch.where(anchored[..., None], placed, boxes), anchored, conf

    def locate(self, image: np.ndarray, model_input: np.ndarray | None = None) -> Anatomy:
        """Regions of one radiograph.

        Args:
            image: ``(H, W)`` float in [0, 1] (any size; used for the atlas fallback).
            model_input: the same image already at ``(S, S)`` (``load_resized``), to skip a resize.

        Returns:
            the atlas when the in-domain score or either lung's confidence is below
            ``cfg.min_confidence`` (a lateral view, a photo, a crop), the reason logged; else the
            model's lungs, and per other region the model's box or the lung-anchored one
            (:meth:`resolve`), the anchored regions named in the note.
        """
        s = self.cfg.image_size
        x = (
            model_input
            if model_input is not None and model_input.shape == (s, s)
            else resize_square(image, s)
        )
        raw, conf, domain = self.predict(
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
        )
        score = float(domain[0])
        if bool(self.untrusted(conf, domain)[0]):
            low = {
                r: c
                for r, c in zip(LUNGS, conf[0, [RIGHT, LEFT]].tolist(), strict=True)
                if c < self.cfg.min_confidence
            }
            reason = (
                f"the image does not look like the training radiographs (in-domain score {score:.2f})"
                if score < self.cfg.min_confidence
                else f"low confidence for the {' and '.join(low)} ({', '.join(f'{c:.2f}' for c in low.values())})"
            )
            log.warning("anatomy: atlas used instead of the localiser: %s", reason)
            confidence = {r: float(c) for r, c in zip(REGIONS, conf[0], strict=True)}
            return Anatomy(
                atlas_boxes(image), dict.fromkeys(REGIONS, "atlas"), confidence, "atlas", reason, score
            )
        boxes, anchored, used = self.resolve(raw, conf)
        named: dict[str, Box] = {
            r: tuple(float(v) for v in b) for r, b in zip(REGIONS, boxes[0], strict=True)
        }  # type: ignore[misc]
        sources = {
            r: "lung-anchored" if a else "model" for r, a in zip(REGIONS, anchored[0].tolist(), strict=True)
        }
        n = int(anchored[0].sum())
        note = (
            f"{n} of {len(REGIONS) - len(LUNGS)} regions placed from the lungs (the model's box was implausible "
            f"for the lungs found): {', '.join(r for r in REGIONS if sources[r] == 'lung-anchored')}"
            if n
            else ""
        )
        confidence = {r: float(c) for r, c in zip(REGIONS, used[0], strict=True)}
        return Anatomy(named, sources, confidence, "model", note, score)


def find_anatomy(
    image: np.ndarray,
    localiser: Localiser | None,
    dataset_boxes: dict[str, Box] | None = None,
    model_input: np.ndarray | None = None,
) -> Anatomy:
    """The reading's own boxes when it has them, else what ``localiser`` finds on ``image`` (the
    atlas, said in the note, when there is no localiser).

    Done before the report is written, so that the boxes drawn in the viewer and the study report
    are the ones the report's region assignment used.

    Args:
        image: ``(H, W)`` float in [0, 1].
        model_input: the same image as ``load_resized`` gives it at the localiser's size, if at hand.
    """
    if dataset_boxes:
        return Anatomy.from_dataset(dataset_boxes)
    if localiser is None:
        return Anatomy(
            atlas_boxes(image), dict.fromkeys(REGIONS, "atlas"), {}, "atlas", "no anatomy localiser given"
        )
    return localiser.locate(image, model_input)
