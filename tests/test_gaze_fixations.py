"""Fixation parsing and selection (phase, off-image / off-crop policy), raw gaze blinks, trust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_fixtures import PADS, write_mimic_eye
from gazecxr.data.tables import ProblemLog, read_table
from gazecxr.gaze.config import CUSTOM, GazeConfig
from gazecxr.gaze.fixations import (
    eyegaze_fixations,
    raw_gaze_samples,
    reading_heatmap,
    reflacx_fixations,
    select_fixations,
)
from gazecxr.gaze.trust import trust_weight


def fix_array(
    xy: list[tuple[float, float]],
    t0: float = 0.0,
    dur: float = 0.3,
    crop: tuple[float, float, float, float] = (0, 0, 100, 80),
) -> np.ndarray:
    """(N, 10) fixations at ``xy`` in a 80 x 100 image, consecutive, 1 degree = 10 px."""
    rows = [[x, y, t0 + k * dur, t0 + (k + 1) * dur, 10, 10, *crop] for k, (x, y) in enumerate(xy)]
    return np.asarray(rows, dtype=np.float32).reshape(-1, 10)


def test_eyegaze_screen_to_image_uses_master_pads(tmp_path: Path) -> None:
    tree = write_mimic_eye(tmp_path / "t", n_patients=2)
    folder = next(tmp_path.glob("t/patient_*/EyeGaze"))
    table = read_table(folder / "fixations.csv", ProblemLog(tmp_path))
    fix, dropped = eyegaze_fixations(table, (tree.height, tree.width), PADS)
    assert dropped == {}
    np.testing.assert_allclose(fix[:, 0], table.num("X_ORIGINAL"), atol=0.01)
    np.testing.assert_allclose(fix[:, 1], table.num("Y_ORIGINAL"), atol=0.01)
    assert np.isnan(fix[:, 4]).all()  # no angular resolution for EyeGaze -> sigma_px


def test_reflacx_parsing_drops_rows_without_position_or_finite_times(tmp_path: Path) -> None:
    """Before, NaN / inf fixation times were kept ("no weight") and reached the sequence encoder:
    training stopped with `FloatingPointError: loss is nan`."""
    write_mimic_eye(tmp_path / "t", n_patients=1)
    path = next(tmp_path.glob("t/patient_*/REFLACX/main_data/*/fixations.csv"))
    assert b"\r\n" in path.read_bytes()  # REFLACX files are CRLF
    lines = path.read_text().splitlines()
    edits = {3: {2: "", 3: ""}, 4: {0: "nan"}, 5: {1: "inf"}, 6: {2: "-inf"}, 7: {0: "1e999"}}
    for row, cells in edits.items():
        parts = lines[row].split(",")
        for col, value in cells.items():
            parts[col] = value
        lines[row] = ",".join(parts)
    path.write_text("\r\n".join(lines) + "\r\n")
    fix, dropped = reflacx_fixations(read_table(path, ProblemLog(tmp_path)))
    assert dropped == {"no_position": 2, "bad_time": 3} and fix.shape == (len(lines) - 1 - 5, 10)
    assert np.isfinite(fix[:, :4]).all()


def test_raw_gaze_blinks_are_counted_not_used(tmp_path: Path) -> None:
    write_mimic_eye(tmp_path / "t", n_patients=1)
    path = next(tmp_path.glob("t/patient_*/REFLACX/gaze_data/*/gaze.csv"))
    samples, blinks = raw_gaze_samples(read_table(path, ProblemLog(tmp_path)))
    assert blinks == 1 and samples.shape == (19, 3) and np.isfinite(samples).all()


def test_outside_policy_drop_and_clip_are_counted() -> None:
    fix = fix_array([(50, 40), (-517, 40), (50, 5219), (5, 5), (99.5, 40)], crop=(10, 10, 99, 79))
    drop, st = select_fixations(fix, (80, 100), GazeConfig(reference=CUSTOM, outside="drop"), None)
    assert (st.outside_image, st.outside_crop, st.used) == (2, 2, 1)  # crop max is exclusive
    clip, st2 = select_fixations(fix, (80, 100), GazeConfig(reference=CUSTOM, outside="clip"), None)
    assert st2.used == 5 and (st2.outside_image, st2.outside_crop) == (2, 2)
    np.testing.assert_array_equal(clip[:, :2], [[50, 40], [10, 40], [50, 78], [10, 10], [98, 40]])
    # Without the crop policy only the image bounds apply.
    nocrop, st3 = select_fixations(
        fix, (80, 100), GazeConfig(reference=CUSTOM, outside="drop", use_crop=False), None
    )
    assert st3.used == 3
    # The default, REFLACX's reference: kept as they are (and counted); the heatmap takes the
    # part of each density inside the crop.
    assert GazeConfig().outside == "keep"
    kept, st4 = select_fixations(fix, (80, 100), GazeConfig(), None)
    np.testing.assert_array_equal(kept, fix)
    assert (st4.outside_image, st4.outside_crop, st4.used) == (2, 2, 5)


def test_phase_selection_splits_at_first_word() -> None:
    fix = fix_array([(10, 10), (20, 20), (30, 30), (40, 40)], dur=1.0)  # starts 0, 1, 2, 3 s
    silent, _ = select_fixations(fix, (80, 100), GazeConfig(phase="silent"), 2.0)
    reporting, st = select_fixations(fix, (80, 100), GazeConfig(phase="reporting"), 2.0)
    assert silent[:, 0].tolist() == [10, 20] and reporting[:, 0].tolist() == [30, 40]
    assert st.phase_excluded == 2
    everything, _ = select_fixations(fix, (80, 100), GazeConfig(phase="silent"), None)
    assert len(everything) == 4  # no transcript: the whole reading is silent


def test_reading_heatmap_sigma_in_degrees_and_weights() -> None:
    fix = fix_array([(20, 40), (80, 40)])
    fix[1, 3] = fix[1, 2] + 0.9  # second fixation three times longer
    dur = reading_heatmap(fix, (80, 100), (8, 10), GazeConfig(reference=CUSTOM, sigma_deg=0.5))
    uni = reading_heatmap(
        fix, (80, 100), (8, 10), GazeConfig(reference=CUSTOM, sigma_deg=0.5, weights="uniform")
    )
    assert dur[:, 5:].sum() / dur[:, :5].sum() == pytest.approx(3.0, rel=1e-3)
    assert uni[:, 5:].sum() / uni[:, :5].sum() == pytest.approx(1.0, rel=1e-3)
    narrow = reading_heatmap(fix[:1], (80, 100), (8, 10), GazeConfig(reference=CUSTOM, sigma_deg=0.2))
    wide = reading_heatmap(fix[:1], (80, 100), (8, 10), GazeConfig(reference=CUSTOM, sigma_deg=2.0))
    assert narrow.max() > wide.max()


def test_trust_weight_factors() -> None:
    cfg = GazeConfig(trust_full_fixations=4, trust_full_dwell_s=0.5)
    inside = fix_array([(50, 40)] * 4)
    assert trust_weight(inside, (10, 10, 90, 70), [], cfg) == pytest.approx(1.0)
    assert trust_weight(inside[:0], (10, 10, 90, 70), [], cfg) == 0.0
    assert trust_weight(inside[:2], None, [], cfg) == pytest.approx(0.5)  # half the fixations
    half_out = fix_array([(50, 40), (50, 40), (95, 75), (95, 75)])
    assert trust_weight(half_out, (10, 10, 90, 70), [], cfg) == pytest.approx(0.5)
    assert trust_weight(inside, None, [1.0], cfg) == pytest.approx(0.5)  # hesitant reading
    short = GazeConfig(trust_full_fixations=4, trust_full_dwell_s=2.4)
    assert trust_weight(inside, None, [], short) == pytest.approx(0.5)  # 1.2 s of 2.4 s dwell
    zero_dwell = inside.copy()
    zero_dwell[:, 3] = zero_dwell[:, 2]
    assert trust_weight(zero_dwell, None, [], cfg) == 0.0
