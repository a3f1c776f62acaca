"""The heatmap presets against the maps the dataset authors' own code made (an oracle we did not write).

``../shared/data/reference_maps`` holds two synthetic stand-alone releases and the full-resolution
maps that REFLACX's ``generate_heatmaps.py`` (ricbl/eyetracking 9824bf9) and EGD-CXR's
``process_eye_gaze_table`` (cxr-eye-gaze/eye-gaze-dataset 82f2427) computed from them (its
README). Every map must agree with ours to Pearson r >= 0.99999, each normalised to sum 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gazecxr.data.config import DataConfig
from gazecxr.data.index import build_index
from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.fixations import reading_heatmap

pytestmark = pytest.mark.realdata
RELEASES = {
    # name: (release root, key column of the maps, reference config)
    "reflacx": ("reflacx_release/reflacx-xray-localization/1.0.0", "reading_id", GazeConfig()),
    "egd": ("egd_release/egd-cxr/1.0.0", "dicom_id", GazeConfig(reference={"eyegaze": "egd"})),
}
TARGET_R = 0.99999


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def _maps(shared_data: Path, name: str, cfg: GazeConfig) -> list[tuple[str, float]]:
    base = shared_data / "reference_maps"
    if not base.is_dir():
        pytest.skip(f"{base} is absent")
    rel, key, _ = RELEASES[name]
    root = base / rel
    cxr = base / rel.split("/")[0] / "mimic-cxr-jpg" / "2.0.0"
    idx = build_index(root, DataConfig(cxr_root=str(cxr)), cfg, use_cache=False)
    authors = np.load(base / f"{name}_authors_maps.npz")
    df = idx.readings
    out = []
    for k in authors.files:
        (row,) = df.index[df[key] == k]  # one reading per map
        h, w = int(df["height"][row]), int(df["width"][row])
        sel, _ = idx.selected_fixations(int(row), cfg)
        ours = reading_heatmap(sel, (h, w), (h, w), idx.gaze_config(int(row), cfg))
        # EGD's script draws odd sides padded by one zero row / column: compare the image part.
        ref = authors[k].astype(np.float64)[:h, :w]
        out.append((k, _pearson(ours, ref / ref.sum())))
    return out


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_presets_reproduce_the_authors_maps(shared_data: Path, name: str) -> None:
    scores = _maps(shared_data, name, RELEASES[name][2])
    assert len(scores) == {"reflacx": 32, "egd": 12}[name]
    worst = min(scores, key=lambda s: s[1])
    assert worst[1] >= TARGET_R, f"{name}: map {worst[0]} r = {worst[1]:.8f}"


def test_the_old_conventions_miss_the_oracle(shared_data: Path) -> None:
    """The test can fail: our continuous-position recipe (REFLACX) and REFLACX's recipe applied to
    EGD's data stay below the target."""
    custom = GazeConfig(reference={"reflacx": "custom"})
    assert min(r for _, r in _maps(shared_data, "reflacx", custom)) < TARGET_R
    assert min(r for _, r in _maps(shared_data, "egd", GazeConfig())) < 0.9
