"""Hostile inputs shared by the hardening tests and benchmarks: small files that declare huge images."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 12000, height: int = 12000) -> bytes:
    """A valid 8-bit grayscale PNG of ``width`` x ``height`` black pixels: ~140 KB on disk for
    12000 x 12000, 144 MB of pixels (and several GB as float arrays) once decoded."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    parts = [comp.compress(row) for _ in range(height)]
    idat = b"".join(parts) + comp.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def write_bomb_png(path: Path, width: int = 12000, height: int = 12000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bomb_png(width, height))
    return path
