"""Small image files for the tests (a helper, not tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def png(path: Path, value: float, size: tuple[int, int] = (90, 70)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(int(value * 1000))
    arr = np.clip(value * 255 + rng.normal(0, 30, size), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path
