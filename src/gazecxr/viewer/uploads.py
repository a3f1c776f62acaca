"""Validation and decoding of uploaded radiographs (JPG / PNG / DICOM).

The format is decided from the file's leading bytes, not from its name or the browser's claimed
content type, so a renamed text file is refused before any decoder sees it. Decoding itself is
done by :func:`gazecxr.data.images.load_image`, the loader every other part of GazeCXR uses (it
handles 16-bit PNGs, RGB-stored grayscale and DICOM photometric interpretation).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

ACCEPTED = "JPEG, PNG or DICOM"


class UploadError(ValueError):
    """An upload that cannot be analysed; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def sniff_format(data: bytes) -> str | None:
    """Return "jpeg", "png" or "dicom" from the magic bytes, or None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    return None


_SUFFIX = {"jpeg": ".jpg", "png": ".png", "dicom": ".dcm"}


def decode_upload(data: bytes, filename: str = "") -> np.ndarray:
    """Decode an uploaded radiograph into a float ``(H, W)`` array in [0, 1].

    Raises:
        UploadError: empty file (400), unsupported format (415) or a file of a supported format
            that cannot be decoded (422); the message names the file and the reason.
    """
    from gazecxr.data.images import ImageReadError, load_image

    name = filename or "upload"
    if not data:
        raise UploadError(f"{name}: the uploaded file is empty", status=400)
    kind = sniff_format(data)
    if kind is None:
        raise UploadError(f"{name}: not a {ACCEPTED} file (unrecognised content)", status=415)
    # load_image reads paths (it picks the decoder from the suffix), so the bytes go through a
    # private temporary file named after the sniffed format, never after the client's file name.
    with tempfile.TemporaryDirectory(prefix="gazecxr-upload-") as tmp:
        path = Path(tmp) / f"upload{_SUFFIX[kind]}"
        path.write_bytes(data)
        try:
            image = load_image(path)
        except ImageReadError as exc:
            raise UploadError(
                f"{name}: cannot read this {kind.upper()} file ({exc.reason})", status=422
            ) from None
    return np.asarray(image, dtype=np.float32)
