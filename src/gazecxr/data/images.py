"""Reading radiographs: JPG / PNG (8 or 16 bit, grayscale or RGB-stored grayscale) and DICOM.

Every reader returns float32 (H, W) in [0, 1] where *higher is brighter as displayed* (bone
white). DICOM: ``RescaleSlope`` / ``RescaleIntercept`` are applied, then the first
``WindowCenter`` / ``WindowWidth`` when present (else the image's min..max), and MONOCHROME1
(low values display white) is inverted. Any failure raises :class:`ImageReadError` naming the
file and the reason, so a training loop can skip the reading and report it.

One path from file to model input, for every entry point (dataset, ``predict``, ``report``, the
viewer, the demo): :func:`load_resized`, wrapped by :func:`read_radiograph` for callers that also
show the image. Before anything is decoded, the pixel count the header declares is checked
against ``max_pixels`` (:data:`DEFAULT_MAX_PIXELS`, ``data.max_image_pixels``): a 140 KB PNG can
declare 12000 x 12000 pixels and would take gigabytes to decode. A real chest radiograph has at
most about 4,300 x 3,500 (15 MP).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from gazecxr.errors import regular_file_problem

DICOM_SUFFIXES = {".dcm", ".dicom"}
DEFAULT_MAX_PIXELS = 50_000_000  # well above any radiograph (~15 MP), far below a decompression bomb
# A radiograph is at least this many pixels a side and at most this elongated; anything else (a
# 1 x 1 file, a 2 x 4000 strip) would be stretched into a meaningless model input.
MIN_SIDE = 16
MAX_ASPECT = 8.0
# A DICOM file may hold this much beyond twice its declared pixels (headers, overlays, previews).
DICOM_SLACK_BYTES = 16 * 2**20
MAX_NAME_BYTES = 200  # an output name, before its "_attention_per_label.npy" (file names: 255 bytes)


class ImageReadError(ValueError):
    """An image could not be read; the message names the path and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: cannot read image: {reason}")


def check_regular_file(path: Path) -> None:
    """ImageReadError unless ``path`` is a regular file (:func:`gazecxr.errors.regular_file_problem`):
    checked before any open(), so a FIFO never blocks a batch."""
    if (problem := regular_file_problem(path)) is not None:
        raise ImageReadError(path, "file not found" if problem == "not found" else problem)


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _is_jpeg(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(3) == b"\xff\xd8\xff"
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
        if not np.isfinite(arr).all():
            raise ValueError(f"{int((~np.isfinite(arr)).sum())} pixel value(s) are not finite (NaN / inf)")
        lo, hi = float(arr.min()), float(arr.max())
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if img.mode not in ("L", "RGB"):
        img = (
            img.convert("RGB") if img.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA", "PA") else img.convert("L")
        )
    arr = np.asarray(img)
    if arr.ndim == 3:  # the channel mean, summed in uint16: no (H, W, 3) float copy (4x the bytes)
        return arr.sum(axis=2, dtype=np.uint16).astype(np.float32) / np.float32(3 * 255)
    return arr.astype(np.float32) / np.float32(255)


def _check_pixels(path: Path, height: int, width: int, frames: int, max_pixels: int | None) -> None:
    if max_pixels is not None and height * width * max(frames, 1) > max_pixels:
        raise ImageReadError(
            path,
            f"the header declares {width} x {height}"
            + (f" x {frames} frames" if frames > 1 else "")
            + f" pixels ({height * width * max(frames, 1) / 1e6:.0f} MP), above the limit of "
            f"{max_pixels / 1e6:.0f} MP (data.max_image_pixels); not decoded",
        )


def _read_pil(path: Path, draft_size: int | None, max_pixels: int | None) -> np.ndarray:
    # A truncated file must fail, not come back with a grey bottom half.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # PIL warns on opening a large image; the header check below decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            _check_pixels(path, img.height, img.width, getattr(img, "n_frames", 1), max_pixels)
            if draft_size is not None and img.format == "JPEG":
                # JPEG DCT scaling: decode at >= draft_size per side (up to 8x faster for 3000 px).
                img.draft("L", (draft_size, draft_size))
            img.load()
            arr = _pil_to_array(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from None
    return arr


def _check_dicom_size(path: Path, max_pixels: int | None) -> None:
    """Refuse, from the header and the file's size and before any pixel byte is read, a DICOM
    whose file holds far more than the pixels its header declares (a 1000 x 1000 header over 1 GB
    of pixel data, sparse on disk, would cost gigabytes to read)."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        rows, cols = int(getattr(ds, "Rows", 0) or 0), int(getattr(ds, "Columns", 0) or 0)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        bits = int(getattr(ds, "BitsAllocated", 16) or 16)
    except Exception as exc:  # pydicom raises many types
        raise ImageReadError(path, f"DICOM: {type(exc).__name__}: {exc}") from None
    _check_pixels(path, rows, cols, frames, max_pixels)
    declared = rows * cols * max(frames, 1) * samples * max(1, (bits + 7) // 8)
    size = path.stat().st_size
    if size > 2 * declared + DICOM_SLACK_BYTES:
        raise ImageReadError(
            path,
            f"the file holds {size / 2**20:.0f} MiB but its header declares {cols} x {rows} pixels "
            f"({declared / 2**20:.1f} MiB); refused before reading the pixel data",
        )


def _read_dicom(path: Path, max_pixels: int | None) -> np.ndarray:
    import pydicom

    _check_dicom_size(path, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(str(path))  # header already checked; pixel_array decodes lazily
    except Exception as exc:  # pydicom raises many types (InvalidDicomError, ValueError, KeyError, ...)
        raise ImageReadError(path, f"DICOM: {type(exc).__name__}: {exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
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
    # In place from here on: the same float64 arithmetic without a full-size temporary per step
    # (a 49 MP DICOM: ~14 instead of ~26 bytes per pixel at the peak).
    pixels *= slope
    pixels += intercept
    if not np.isfinite(pixels).all():
        raise ImageReadError(path, "DICOM pixel values are not finite after the rescale")
    try:
        centre, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
        if centre is not None and width is not None:
            centre = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
            width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    except (TypeError, ValueError) as exc:  # e.g. WindowCenter "abcde": the display window is unknown
        raise ImageReadError(path, f"DICOM WindowCenter / WindowWidth is not a number ({exc})") from None
    if centre is not None and width is not None and width > 1:
        lo, hi = centre - width / 2.0, centre + width / 2.0
    else:
        lo, hi = float(pixels.min()), float(pixels.max())
    if hi > lo:
        pixels -= lo
        pixels /= hi - lo
        arr = np.clip(pixels, 0.0, 1.0, out=pixels).astype(np.float32)
    else:
        arr = np.zeros(pixels.shape, dtype=np.float32)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).strip().upper() == "MONOCHROME1":
        arr = np.float32(1.0) - arr  # in float32, so the two photometric variants are exact negatives
    return arr


def load_image(
    path: str | Path, draft_size: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Read a radiograph as float32 (H, W) in [0, 1], brighter = whiter as displayed.

    Args:
        path: JPG / PNG / other PIL-readable file, or DICOM (by suffix or ``DICM`` magic).
        draft_size: optional lower bound on the decoded side for JPEGs; the decoder may then
            return a smaller image (a power-of-two reduction), used when only a resized copy
            is needed. ``None`` decodes at full resolution.
        max_pixels: refuse, from the header and before decoding, an image declaring more pixels
            (``None``: no limit).
    Raises:
        ImageReadError: missing, unreadable, truncated, too large, or not a 2-D image.
    """
    path = Path(path)
    check_regular_file(path)
    arr = _read_dicom(path, max_pixels) if _is_dicom(path) else _read_pil(path, draft_size, max_pixels)
    if arr.ndim != 2 or arr.size == 0:
        raise ImageReadError(path, f"decoded array has shape {arr.shape}; a 2-D image expected")
    h, w = arr.shape
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_ASPECT * min(h, w):
        raise ImageReadError(
            path,
            f"{w} x {h} pixels is not a radiograph (at least {MIN_SIDE} px a side, at most {MAX_ASPECT:g}:1)",
        )
    return arr


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the file header without decoding pixels."""
    path = Path(path)
    check_regular_file(path)
    try:
        if _is_dicom(path):
            import pydicom

            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
            return int(ds.Rows), int(ds.Columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.height, img.width
    except Exception as exc:  # header readers raise many types
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from None


def resize_square(arr: np.ndarray, size: int) -> np.ndarray:
    """(H, W) float in [0, 1] -> (size, size) float32 (area averaging, aspect not kept)."""
    if arr.shape == (size, size):
        return np.asarray(arr, dtype=np.float32)
    img = Image.fromarray(np.asarray(arr, dtype=np.float32), mode="F").resize(
        (size, size), Image.Resampling.BOX
    )
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def load_resized(path: str | Path, size: int, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """THE model input of an image file: (size, size) float32 in [0, 1] (JPEG draft decoding to
    >= size, then area averaging; aspect not kept, matching heatmaps and normalised box
    coordinates defined over the whole image). The dataset, ``predict``, ``report``, the viewer
    and the demo all read images through it, so one file gives one answer everywhere."""
    return resize_square(load_image(path, draft_size=size, max_pixels=max_pixels), size)


@dataclass(frozen=True)
class Radiograph:
    """One image file read for inference and display.

    Attributes:
        path: the file (or, for an upload, its client-side name).
        size: original (height, width) from the header.
        model_input: (S, S) float32 in [0, 1], exactly :func:`load_resized`.
        display: (h, w) float32 in [0, 1], long side at most ``display_side`` (JPEG draft
            decoding, then area averaging): for overlays, the atlas and the page.
    """

    path: str
    size: tuple[int, int]
    model_input: np.ndarray
    display: np.ndarray


def read_radiograph(
    path: str | Path,
    model_size: int,
    display_side: int = 768,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> Radiograph:
    """Read ``path`` once for a model of input ``model_size`` and for display (see :class:`Radiograph`)."""
    path = Path(path)
    check_regular_file(path)  # before any open(): a FIFO would block the reader
    if _is_jpeg(path):  # draft decoding depends on the size asked for: one decode per use
        model_input = load_resized(path, model_size, max_pixels)
        full = load_image(path, draft_size=display_side, max_pixels=max_pixels)
    else:  # PNG / DICOM decode fully either way: decode once, derive both (== load_resized)
        full = load_image(path, max_pixels=max_pixels)
        model_input = resize_square(full, model_size)
    h, w = full.shape
    scale = display_side / max(h, w)
    if scale < 1:
        img = Image.fromarray(full, mode="F").resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX
        )
        full = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    return Radiograph(str(name or path), image_size(path), model_input, full)


def output_names(images: list[Path]) -> list[str]:
    """A distinct output name per input, derived from its path relative to the inputs' common
    folder ("/" -> "__", the suffix kept as "_<ext>" only when two inputs would share a stem):
    ``x.png x_2.jpg b/x.png`` -> ``x``, ``x_2``, ``b__x``; ``a/x.png a/x.jpg`` -> ``x_png``,
    ``x_jpg``. Names that would still
    collide (the same file given twice) get ``-2``, ``-3``, ...; the manifest maps each input."""
    resolved = [Path(os.path.abspath(p)) for p in images]  # not resolve(): a symlink loop must not raise
    parents = [str(p.parent) for p in resolved]
    common = Path(os.path.commonpath(parents)) if parents else Path()
    rel = [p.relative_to(common) for p in resolved]
    stems = [str(r.with_suffix("")).replace(os.sep, "__") for r in rel]
    clash = {s for s in stems if stems.count(s) > 1}
    names, used = [], set()
    for r, stem in zip(rel, stems, strict=True):
        name = f"{stem}_{r.suffix.lstrip('.').lower()}" if stem in clash and r.suffix else stem
        if len(name.encode()) > MAX_NAME_BYTES:  # room for the longest suffix within 255 bytes
            digest = hashlib.sha1(name.encode()).hexdigest()[:10]
            name = f"{name.encode()[: MAX_NAME_BYTES - 11].decode(errors='ignore')}-{digest}"
        base, k = name, 1
        while name in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name)
        names.append(name)
    return names
