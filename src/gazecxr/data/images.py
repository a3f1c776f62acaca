"""Reading radiographs: JPG / PNG (8 or 16 bit, grayscale or RGB-stored grayscale) and DICOM.

Every reader returns float32 (H, W) in [0, 1] where *higher is brighter as displayed* (bone
white). DICOM: ``RescaleSlope`` / ``RescaleIntercept`` are applied, then the first
``WindowCenter`` / ``WindowWidth`` when present (else the image's min..max), and MONOCHROME1
(low values display white) is inverted. Any failure raises :class:`ImageReadError` naming the
file and the reason, so a training loop can skip the reading and report it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

DICOM_SUFFIXES = {".dcm", ".dicom"}


class ImageReadError(ValueError):
    """An image could not be read; the message names the path and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: cannot read image: {reason}")


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _pil_to_array(img: Image.Image) -> np.ndarray:
    """PIL image -> float32 (H, W) in [0, 1] (RGB-stored grayscale averaged over channels)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        # 16-bit PNGs are scaled by the format's range; 32-bit integer images by their maximum.
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() <= 65535 else float(arr.max())
        return np.clip(arr / top, 0.0, 1.0)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if img.mode not in ("L", "RGB"):
        img = (
            img.convert("RGB") if img.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA", "PA") else img.convert("L")
        )
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr.mean(axis=2) if arr.ndim == 3 else arr


def _read_pil(path: Path, draft_size: int | None) -> np.ndarray:
    # A truncated file must fail, not come back with a grey bottom half.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as img:
            if draft_size is not None and img.format == "JPEG":
                # JPEG DCT scaling: decode at >= draft_size per side (up to 8x faster for 3000 px).
                img.draft("L", (draft_size, draft_size))
            img.load()
            arr = _pil_to_array(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from None
    return arr


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(str(path))
            pixels = ds.pixel_array.astype(np.float64)
    except Exception as exc:  # pydicom raises many types (InvalidDicomError, ValueError, KeyError, ...)
        raise ImageReadError(path, f"DICOM: {type(exc).__name__}: {exc}") from None
    if pixels.ndim == 3:
        if getattr(ds, "SamplesPerPixel", 1) == 3:
            pixels = pixels.mean(axis=2)
        else:
            raise ImageReadError(path, f"DICOM has {pixels.shape[0]} frames; one 2-D radiograph expected")
    if pixels.ndim != 2:
        raise ImageReadError(path, f"DICOM pixel data has shape {pixels.shape}; 2-D expected")
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    pixels = pixels * slope + intercept
    centre, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if centre is not None and width is not None:
        centre = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
        width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    if centre is not None and width is not None and width > 1:
        lo, hi = centre - width / 2.0, centre + width / 2.0
    else:
        lo, hi = float(pixels.min()), float(pixels.max())
    arr = (np.clip((pixels - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(pixels)).astype(
        np.float32
    )
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).strip().upper() == "MONOCHROME1":
        arr = np.float32(1.0) - arr  # in float32, so the two photometric variants are exact negatives
    return arr


def load_image(path: str | Path, draft_size: int | None = None) -> np.ndarray:
    """Read a radiograph as float32 (H, W) in [0, 1], brighter = whiter as displayed.

    Args:
        path: JPG / PNG / other PIL-readable file, or DICOM (by suffix or ``DICM`` magic).
        draft_size: optional lower bound on the decoded side for JPEGs; the decoder may then
            return a smaller image (a power-of-two reduction), used when only a resized copy
            is needed. ``None`` decodes at full resolution.
    Raises:
        ImageReadError: missing, unreadable, truncated, or not a 2-D image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "file not found")
    arr = _read_dicom(path) if _is_dicom(path) else _read_pil(path, draft_size)
    if arr.ndim != 2 or arr.size == 0:
        raise ImageReadError(path, f"decoded array has shape {arr.shape}; a 2-D image expected")
    return arr


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the file header without decoding pixels."""
    path = Path(path)
    try:
        if _is_dicom(path):
            import pydicom

            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
            return int(ds.Rows), int(ds.Columns)
        with Image.open(path) as img:
            return img.height, img.width
    except Exception as exc:  # header readers raise many types
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from None


def load_resized(path: str | Path, size: int) -> np.ndarray:
    """Read and resize to (size, size) float32 in [0, 1] (area-averaging; aspect not kept,
    matching heatmaps and normalised box coordinates defined over the whole image)."""
    arr = load_image(path, draft_size=size)
    if arr.shape == (size, size):
        return arr
    img = Image.fromarray(arr, mode="F").resize((size, size), Image.Resampling.BOX)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
