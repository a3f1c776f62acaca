"""Validation and decoding of uploaded radiographs (JPG / PNG / DICOM).

The format is decided from the file's leading bytes, not from its name or the browser's claimed
content type, so a renamed text file is refused before any decoder sees it. Reading is done by the
analyzer's ``read`` (:func:`gazecxr.data.images.read_radiograph`): the same path from file to
model input as ``gazecxr predict`` and ``report``, with the pixel limit checked from the header
before decoding. At most ``slots`` uploads are decoded at once (:class:`DecodeSlots`), so many
parallel uploads stay within a bounded memory budget.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from gazecxr.data.images import Radiograph

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


class DecodeSlots:
    """At most ``n`` decodes at a time; a request that waits longer than ``timeout_s`` gets 503."""

    def __init__(self, n: int = 2, timeout_s: float = 30.0) -> None:
        self._sem = threading.BoundedSemaphore(n)
        self.n, self.timeout_s = n, timeout_s

    def __enter__(self) -> DecodeSlots:
        if not self._sem.acquire(timeout=self.timeout_s):
            raise UploadError(f"the viewer is busy decoding {self.n} images; retry in a moment", status=503)
        return self

    def __exit__(self, *exc: object) -> None:
        self._sem.release()


def decode_upload(
    data: bytes,
    filename: str,
    read: Callable[[Path, str | None], Radiograph],
    slots: DecodeSlots | None = None,
) -> Radiograph:
    """Read an uploaded radiograph with ``read`` (an :meth:`Analyzer.read`).

    Raises:
        UploadError: empty file (400), unsupported format (415), a file of a supported format
            that cannot be decoded or declares too many pixels (422), or no free decode slot (503);
            the message names the file and the reason.
    """
    from contextlib import nullcontext

    from gazecxr.data.images import ImageReadError

    name = filename or "upload"
    if not data:
        raise UploadError(f"{name}: the uploaded file is empty", status=400)
    kind = sniff_format(data)
    if kind is None:
        raise UploadError(f"{name}: not a {ACCEPTED} file (unrecognised content)", status=415)
    # The readers take paths (they pick the decoder from the suffix), so the bytes go through a
    # private temporary file named after the sniffed format, never after the client's file name.
    with tempfile.TemporaryDirectory(prefix="gazecxr-upload-") as tmp:
        path = Path(tmp) / f"upload{_SUFFIX[kind]}"
        path.write_bytes(data)
        try:
            with slots or nullcontext():
                return read(path, name)
        except ImageReadError as exc:
            raise UploadError(
                f"{name}: cannot read this {kind.upper()} file ({exc.reason})", status=422
            ) from None


class BodyLimit:
    """ASGI middleware: a request body is counted as it arrives and refused (413) once it passes
    ``max_bytes``, whether or not it declared a Content-Length (a chunked upload was stored
    whole, 928 MB in the audit, before the 413). The refusal carries ``headers``; the app behind
    sees the client as gone and its own answer is dropped."""

    def __init__(self, app: Callable, max_bytes: int, headers: dict[str, str], message: str) -> None:
        self.app, self.max_bytes, self.message = app, max_bytes, message
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen, refused = 0, False

        async def counted() -> dict:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: dict) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:  # the app's reaction to the disconnect we made up
            if not refused:
                raise

    async def _refuse(self, send: Callable) -> None:
        import json

        body = json.dumps({"error": self.message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers + self.headers})
        await send({"type": "http.response.body", "body": body})
