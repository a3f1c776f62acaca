"""load_image: real DICOM photometric handling, 8/16-bit and RGB-stored files, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazecxr.data.images import ImageReadError, image_size, load_image, load_resized


def test_siim_dicoms_are_exact_negatives(shared_data: Path) -> None:
    mono2 = load_image(shared_data / "real_cxr/dicom/siim_pneumothorax_sample.dcm")
    mono1 = load_image(shared_data / "real_cxr/dicom/siim_sample_monochrome1.dcm")
    assert mono2.dtype == np.float32 and mono2.ndim == 2
    assert mono2.min() >= 0 and mono2.max() <= 1 and mono2.std() > 0.05
    np.testing.assert_array_equal(mono1, 1.0 - mono2)
    assert image_size(shared_data / "real_cxr/dicom/siim_pneumothorax_sample.dcm") == mono2.shape


def test_real_png_and_jpg_load_in_unit_range(shared_data: Path) -> None:
    files = [
        shared_data / "real_cxr/nih/00000001_000.png",
        *sorted((shared_data / "real_cxr/images").glob("*.png")),
        sorted((shared_data / "real_cxr/images").glob("*.jpg"))[0],
    ]
    for path in files:
        arr = load_image(path)
        with Image.open(path) as img:
            assert arr.shape == (img.height, img.width), path
        assert arr.dtype == np.float32 and 0.0 <= arr.min() and arr.max() <= 1.0 and arr.std() > 0.02, path
    small = load_resized(files[-1], 64)
    assert small.shape == (64, 64) and small.dtype == np.float32


def test_16bit_png_and_rgb_stored_grayscale(tmp_path: Path) -> None:
    ramp = np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 32
    Image.fromarray(ramp).save(tmp_path / "a16.png")
    arr = load_image(tmp_path / "a16.png")
    np.testing.assert_allclose(arr, ramp / 65535.0, atol=1e-6)
    gray = np.tile(np.arange(256, dtype=np.uint8), (32, 1))  # 32 x 256: within MAX_ASPECT
    Image.fromarray(np.stack([gray] * 3, axis=2)).save(tmp_path / "rgb.png")
    np.testing.assert_allclose(load_image(tmp_path / "rgb.png"), gray / 255.0, atol=1e-6)


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "file not found"),
        (b"not an image at all", "UnidentifiedImageError"),
        ("truncated", "truncated"),
        (b"\0" * 128 + b"DICM" + b"\x02\x00", "DICOM"),
    ],
)
def test_bad_files_raise_with_path_and_reason(tmp_path: Path, content, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    if content == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256), dtype=np.uint8)).save(
            path, quality=95
        )
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        load_image(path)
    assert str(path) in str(err.value) and reason.lower() in str(err.value).lower()
    assert isinstance(err.value, ValueError)
