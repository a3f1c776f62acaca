"""EyeGaze's gaze clock (gazecxr.gaze.clock): every image's fixation times re-based to its onset.

The synthetic EGD-CXR release keeps the session clock of the real one (image ``MEDIA_ID`` of a
session is shown from ``120 * (MEDIA_ID - 1)`` s, the generator's definition, written in
``gazecxr.synth.tables_eyegaze``), while each transcript counts from its own image. The expected
phases below come from that definition and the transcript files, not from our reader.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from gazecxr.data.cli import check_report
from gazecxr.data.config import DataConfig
from gazecxr.data.index import build_index
from gazecxr.gaze import clock
from gazecxr.gaze.config import GazeConfig
from gazecxr.gaze.fixations import T_START
from gazecxr.synth.config import SynthConfig
from gazecxr.synth.writer import write_cohort

SHOWN_EVERY_S = 120.0  # gazecxr.synth.tables_eyegaze: image MEDIA_ID shown from 120 * (MEDIA_ID - 1) s


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An EGD release of 22 images in one session (calibration before images 1 and 21)."""
    out = tmp_path_factory.mktemp("egd") / "release"
    cfg = SynthConfig(studies=40, seed=3, image_size=128)
    cfg.readers.eyegaze_fraction = 0.9
    write_cohort(out, cfg, layout="egd", workers=1)
    return out


def _egd(root: Path) -> Path:
    return root / "egd-cxr" / "1.0.0"


def _index(root: Path):
    return build_index(
        _egd(root), DataConfig(cxr_root=str(root / "mimic-cxr-jpg" / "2.0.0")), use_cache=False
    )


def _file_fixations(root: Path) -> dict[str, tuple[int, np.ndarray]]:
    """DICOM_ID -> (MEDIA_ID, FPOGS of its valid fixations) as written in fixations.csv."""
    starts: dict[str, list[float]] = defaultdict(list)
    media: dict[str, int] = {}
    with (_egd(root) / "fixations.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["FPOGV"] == "1":
                starts[row["DICOM_ID"]].append(float(row["FPOGS"]))
                media[row["DICOM_ID"]] = int(row["MEDIA_ID"])
    return {d: (media[d], np.sort(np.asarray(s))) for d, s in starts.items()}


def _first_word(root: Path, dicom: str) -> float:
    tr = json.loads((_egd(root) / "audio_segmentation_transcripts" / dicom / "transcript.json").read_text())
    return min(float(w["begin_time"]) for w in tr["time_stamped_text"])


def _rewrite_per_image(src: Path, dst: Path) -> None:
    """A copy of the release whose gaze times restart at 0 with every image."""
    shutil.copytree(src, dst)
    for name in ("fixations.csv", "eye_gaze.csv"):
        path = _egd(dst) / name
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        header, body = rows[0], rows[1:]
        c = {h: i for i, h in enumerate(header)}
        ids = {r[c["DICOM_ID"]] for r in body if len(r[c["DICOM_ID"]]) == 44}
        for r in body:
            if r[c["DICOM_ID"]] in ids:  # radiographs only; calibration screens keep their own clock
                t0 = SHOWN_EVERY_S * (int(r[c["MEDIA_ID"]]) - 1)
                for col in ("Time (in secs)", "FPOGS"):
                    r[c[col]] = f"{float(r[c[col]]) - t0:.5f}"
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows([header, *body])


def test_silent_fixations_are_those_before_each_images_own_first_word(release: Path) -> None:
    idx = _index(release)
    written = _file_fixations(release)
    df = idx.readings
    eyegaze = df[(df["source"] == "eyegaze") & (df["fix_count"] > 0)]
    checked = naive_empty = 0
    for r in eyegaze["row"]:
        dicom = str(df["dicom_id"][r])
        media, fpogs = written[dicom]
        first = _first_word(release, dicom)
        image_times = fpogs - SHOWN_EVERY_S * (media - 1)
        silent, _ = idx.selected_fixations(int(r), GazeConfig(phase="silent"))
        reporting, _ = idx.selected_fixations(int(r), GazeConfig(phase="reporting"))
        np.testing.assert_allclose(np.sort(silent[:, T_START]), image_times[image_times < first], atol=1e-3)
        np.testing.assert_allclose(
            np.sort(reporting[:, T_START]), image_times[image_times >= first], atol=1e-3
        )
        assert df["clock_shift"][r] == pytest.approx(SHOWN_EVERY_S * (media - 1), abs=1e-6)
        checked += 1
        naive_empty += int(not (fpogs < first).any())  # what comparing session times with words gives
    assert checked >= 20  # a calibration block of 20 images and the start of the next
    assert naive_empty >= checked - 2  # without re-basing, nearly every image has no silent phase
    gc = check_report(idx)["eyegaze_gaze_clock"]
    assert gc["clock"] == "session" and gc["onset_source"] == {"eye_gaze.csv": checked}


def test_a_clock_that_restarts_with_each_image_gives_the_same_fixations(
    release: Path, tmp_path: Path
) -> None:
    _rewrite_per_image(release, tmp_path / "per_image")
    session, per_image = _index(release), _index(tmp_path / "per_image")
    assert check_report(per_image)["eyegaze_gaze_clock"]["clock"] == "per-image"
    assert check_report(session)["eyegaze_gaze_clock"]["clock"] == "session"
    np.testing.assert_allclose(per_image.fixations, session.fixations, atol=1e-3)


@pytest.mark.parametrize("restart", [False, True], ids=["session-clock", "per-image-clock"])
def test_without_raw_samples_the_onset_is_the_first_fixation(
    release: Path, tmp_path: Path, restart: bool
) -> None:
    root = tmp_path / "no_raw"
    if restart:
        _rewrite_per_image(release, root)
    else:
        shutil.copytree(release, root)
    (_egd(root) / "eye_gaze.csv").unlink()
    idx = _index(root)
    gc = check_report(idx)["eyegaze_gaze_clock"]
    assert gc["onset_source"] == {
        "fixations.csv": gc["images"].get("session", 0) + gc["images"].get("per-image", 0)
    }
    written = _file_fixations(root)
    df = idx.readings
    for r in df.index[(df["source"] == "eyegaze") & (df["fix_count"] > 0)]:
        media, fpogs = written[str(df["dicom_id"][r])]
        # session clock: shifted by the first fixation's start; a per-image clock: left as it is
        assert df["clock_shift"][r] == pytest.approx(0.0 if restart else fpogs.min(), abs=1e-4)
    assert gc["clock"] == ("per-image" if restart else "session")


def test_mimic_eye_eyegaze_tables_are_re_based_too(tmp_path: Path) -> None:
    cfg = SynthConfig(studies=30, seed=4, image_size=128)
    cfg.readers.eyegaze_fraction = 0.9
    write_cohort(tmp_path / "cohort", cfg, workers=1)
    idx = build_index(tmp_path / "cohort", use_cache=False)
    df = idx.readings
    rows = df[(df["source"] == "eyegaze") & (df["fix_count"] > 0)]
    assert len(rows) >= 10 and (rows["clock_shift"] > 0).sum() >= len(rows) - 3
    for r in rows["row"]:
        fix = idx.reading_fixations(int(r))
        assert fix[:, T_START].min() < SHOWN_EVERY_S  # on the image's own clock, not the session's


def test_clock_rules() -> None:
    assert clock.detect_clock([0.0, 0.02, 0.4]) == "per-image"
    assert clock.detect_clock([0.0, 120.0, 240.0]) == "session"
    assert clock.detect_clock([]) == "per-image"
    raw = clock.image_onset(240.0, np.array([240.3, 241.0]))
    assert raw == clock.Onset(240.0, "eye_gaze.csv") and clock.clock_shift(raw, "per-image") == 240.0
    fix_only = clock.image_onset(None, np.array([np.nan, 0.3, 1.0]))
    assert fix_only == clock.Onset(0.3, "fixations.csv")
    assert clock.clock_shift(fix_only, "per-image") == 0.0 and clock.clock_shift(fix_only, "session") == 0.3
    assert clock.image_onset(None, np.array([np.nan])) is None
