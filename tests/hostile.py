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


def write_odd_images(folder: Path) -> dict[str, Path]:
    """Files a careless user or an attacker gives as images (issue 21, item 6), by what they are.
    Each must be refused with a reason, never crash a batch or hang it."""
    import os

    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    odd: dict[str, Path] = {}

    def png(name: str, arr: np.ndarray) -> None:
        odd[name] = folder / f"{name}.png"
        Image.fromarray(arr).save(odd[name])

    png("one-pixel", np.uint8([[128]]))
    png("strip", np.full((2, 4000), 100, np.uint8))
    png("column", np.full((4000, 3), 100, np.uint8))
    for name, bad in (("float-inf", np.inf), ("float-nan", np.nan)):
        arr = np.full((64, 64), 0.5, np.float32)
        arr[3, 3] = bad
        odd[name] = folder / f"{name}.tiff"
        Image.fromarray(arr, mode="F").save(odd[name])

    def dicom(name: str, rows: int, cols: int, window: bytes | None = None) -> None:
        odd[name] = write_dicom(folder / f"{name}.dcm", rows, cols, window)

    dicom("one-pixel-dicom", 1, 1)
    dicom("window-abcde", 32, 32, window=b"abcde ")
    odd["empty"] = folder / "empty.png"
    odd["empty"].write_bytes(b"")
    odd["symlink-loop"] = folder / "loop-a.png"
    os.symlink(folder / "loop-b.png", folder / "loop-a.png")
    os.symlink(folder / "loop-a.png", folder / "loop-b.png")
    odd["fifo"] = folder / "fifo.png"
    os.mkfifo(odd["fifo"])
    odd["folder"] = folder / "a-folder.png"
    odd["folder"].mkdir()
    odd["name-too-long"] = folder / ("n" * 300 + ".png")  # cannot exist: the OS refuses the name
    return odd


def write_dicom(path: Path, rows: int, cols: int, window: bytes | None = None) -> Path:
    """A minimal uncompressed 16-bit MONOCHROME2 DICOM; ``window`` replaces the bytes of a valid
    WindowCenter (pydicom refuses to write a bad DS value itself)."""
    import numpy as np
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.full((rows, cols), 1000, np.uint16).tobytes()
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = "123456", "400"
    ds.save_as(str(path), enforce_file_format=True)
    if window is not None:
        path.write_bytes(path.read_bytes().replace(b"123456", window))
    return path


def inflate_pixel_data(path: Path, nbytes: int) -> Path:
    """Make the DICOM at ``path`` hold ``nbytes`` of pixel data (its PixelData length patched, the
    file extended sparsely) while its header still declares the original rows x columns."""
    import struct

    data = bytearray(path.read_bytes())
    tag = b"\xe0\x7f\x10\x00OW\x00\x00"  # (7FE0,0010) OW, explicit VR little endian
    at = data.rindex(tag) + len(tag)
    data[at : at + 4] = struct.pack("<I", nbytes)
    path.write_bytes(bytes(data[: at + 4 + 2]))  # keep a few pixel bytes, the rest is a hole
    with path.open("r+b") as fh:
        fh.truncate(at + 4 + nbytes)
    return path
