"""Stand-alone REFLACX and EGD-CXR releases next to MIMIC-CXR-JPG, cut from a synthetic cohort.

``gazecxr synth OUT --layout reflacx|egd`` writes the MIMIC-Eye cohort to a hidden build folder,
then lays its files out as PhysioNet ships the releases (format notes, section 4b):

- ``OUT/mimic-cxr-jpg/2.0.0/``: ``files/p{xx}/p{subject}/s{study}/{dicom}.jpg``, the report texts
  ``files/p{xx}/p{subject}/s{study}.txt`` and ``mimic-cxr-2.0.0-{metadata,chexpert,negbio,split}.csv.gz``;
- ``OUT/reflacx-xray-localization/1.0.0/``: ``main_data/metadata_phase_{1,2,3}.csv`` inside
  ``main_data/`` (each with its own phase's label columns), ``main_data/{id}/``, ``gaze_data/{id}/``
  (empty for discarded readings);
- ``OUT/egd-cxr/1.0.0/``: ``master_sheet.csv``, ``fixations.csv``, ``eye_gaze.csv``,
  ``bounding_boxes.csv`` (no pandas index column), ``audio_segmentation_transcripts/``, with
  calibration screens interleaved in the gaze tables before every ``readers.calibration_every``-th
  image of a session (``DICOM_ID`` = that image's id minus its last 5 characters, gaze on the
  screen centre, on the calibration's own clock) and one calibration id longer than 44 characters.

``OUT/synthetic/`` keeps the ground truth; ``cohort.json`` gains ``releases`` (paths and the
number of calibration rows written).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

from gazecxr.data.format import CXR_META_COLUMNS, EYEGAZE_GAZE_COLUMNS, REFLACX_META_HEADER
from gazecxr.data.labels import REFLACX_PHASE1_LABELS, REFLACX_PHASE23_LABELS
from gazecxr.data.layout import SYNTHETIC_FACTS
from gazecxr.synth.config import SynthConfig
from gazecxr.synth.csvfmt import write_csv

CXR_RELEASE = Path("mimic-cxr-jpg") / "2.0.0"
RELEASES = {"reflacx": Path("reflacx-xray-localization") / "1.0.0", "egd": Path("egd-cxr") / "1.0.0"}
# MIMIC-Eye added these to MIMIC-CXR-JPG's metadata table.
_MIMIC_EYE_ONLY = ("in_eye_gaze", "in_reflacx", "StudyDateTime", "stay_id")


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a cohort table, without MIMIC-Eye's leading index column."""
    with path.open(newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    if header and header[0] == "":
        return header[1:], [r[1:] for r in rows]
    return header, rows


def _cxr_jpg(build: Path, dest: Path) -> None:
    for pdir in sorted(build.glob("patient_*")):
        sid = pdir.name[len("patient_") :]
        base = dest / "files" / f"p{sid[:2]}" / f"p{sid}"
        base.mkdir(parents=True, exist_ok=True)
        for study in sorted((pdir / "CXR-JPG").glob("s*")):
            if study.is_dir():
                shutil.move(str(study), base / study.name)
        for report in sorted((pdir / "CXR-DICOM").glob("s*.txt")):
            shutil.move(str(report), base / report.name)
    sheets = build / "spreadsheets"
    header, rows = _read(sheets / "cxr_meta.csv")
    keep = [i for i, c in enumerate(header) if c not in _MIMIC_EYE_ONLY]
    assert [header[i] for i in keep] == [c for c in CXR_META_COLUMNS if c not in _MIMIC_EYE_ONLY]
    write_csv(
        dest / "mimic-cxr-2.0.0-metadata.csv.gz",
        [header[i] for i in keep],
        [[r[i] for i in keep] for r in rows],
    )
    for name in ("chexpert", "negbio", "split"):
        write_csv(dest / f"mimic-cxr-2.0.0-{name}.csv.gz", *_read(sheets / "CXR-JPG" / f"cxr_{name}.csv"))


def _reflacx(build: Path, dest: Path) -> None:
    header, rows = _read(build / "spreadsheets" / "REFLACX" / "metadata.csv")
    main, gaze = dest / "main_data", dest / "gaze_data"
    for folder in (main, gaze):
        folder.mkdir(parents=True, exist_ok=True)
    for pdir in sorted(build.glob("patient_*/REFLACX")):
        for sub, target in (("main_data", main), ("gaze_data", gaze)):
            for reading in sorted((pdir / sub).glob("*")):
                shutil.move(str(reading), target / reading.name)
    for r in rows:
        (gaze / r[0]).mkdir(exist_ok=True)  # discarded readings: an empty folder, as released
    for phase, labels in (
        (1, REFLACX_PHASE1_LABELS),
        (2, REFLACX_PHASE23_LABELS),
        (3, REFLACX_PHASE23_LABELS),
    ):
        keep = [i for i, c in enumerate(header) if c in REFLACX_META_HEADER or c in labels]
        mine = [[r[i] for i in keep] for r in rows if r[0][1] == str(phase)]
        write_csv(main / f"metadata_phase_{phase}.csv", [header[i] for i in keep], mine)


def _calibration(
    dicom: str, key: tuple[str, str], rng: np.random.Generator, n: int, hz: float | None
) -> list[list[str]]:
    """Gaze-table rows of one calibration screen: fixations (``hz`` None) or raw samples on a dot
    at the screen centre, on the calibration's own clock (starting at 0)."""
    col = {c: i for i, c in enumerate(EYEGAZE_GAZE_COLUMNS)}
    out = []
    for k in range(n):
        t = k / hz if hz else 0.35 * k
        row = ["0"] * len(EYEGAZE_GAZE_COLUMNS)
        fx, fy = 0.5 + rng.normal(0, 0.004), 0.5 + rng.normal(0, 0.004)
        values = {
            "SESSION_ID": key[0],
            "MEDIA_ID": key[1],
            "DICOM_ID": dicom,
            "CNT": str(k),
            "Time (in secs)": f"{t:.5f}",
            "TIMETICK(f=10000000)": str(int(t * 1e7)),
            "FPOGX": f"{fx:.5f}",
            "FPOGY": f"{fy:.5f}",
            "FPOGS": f"{(k // 20) / hz if hz else t:.5f}",
            "FPOGD": "0.30000",
            "FPOGID": str(k // 20 + 1 if hz else k + 1),
            "FPOGV": "1",
            "BPOGX": f"{fx:.5f}",
            "BPOGY": f"{fy:.5f}",
            "BPOGV": "1",
            "X_ORIGINAL": "-1",
            "Y_ORIGINAL": "-1",
        }
        for name, v in values.items():
            row[col[name]] = v
        out.append(row)
    return out


def _egd(build: Path, dest: Path, cfg: SynthConfig) -> int:
    """Write the EGD-CXR release; return the number of calibration rows in ``fixations.csv``."""
    sheets = build / "spreadsheets" / "EyeGaze"
    write_csv(dest / "master_sheet.csv", *_read(sheets / "master_sheet_with_updated_stayId.csv"))
    write_csv(dest / "bounding_boxes.csv", *_read(sheets / "bounding_boxes.csv"))
    transcripts = dest / "audio_segmentation_transcripts"
    transcripts.mkdir(parents=True, exist_ok=True)
    for tdir in sorted(build.glob("patient_*/EyeGaze/audio_segmentation_transcripts/*")):
        shutil.move(str(tdir), transcripts / tdir.name)
    rng = np.random.default_rng([cfg.seed, 20])
    calibration_rows = 0
    for name, hz in (("fixations.csv", None), ("eye_gaze.csv", cfg.readers.eyegaze_hz)):
        header, rows = _read(sheets / name)
        c = {h: i for i, h in enumerate(header)}
        images: dict[tuple[str, str], list[list[str]]] = {}
        for r in rows:
            images.setdefault((r[c["SESSION_ID"]], r[c["MEDIA_ID"]]), []).append(r)
        out: list[list[str]] = []
        for k, key in enumerate(sorted(images, key=lambda s: (int(s[0]), int(s[1])))):
            block = images[key]
            if (int(key[1]) - 1) % cfg.readers.calibration_every == 0:
                cal = _calibration(block[0][c["DICOM_ID"]][:-5], key, rng, 6 if hz is None else 60, hz)
                out += cal
                calibration_rows += len(cal) if hz is None else 0
            out += block
            if k == 0:  # EGD has one calibration id longer than a DICOM id
                cal = _calibration(block[0][c["DICOM_ID"]] + "-calib", key, rng, 4 if hz is None else 30, hz)
                out += cal
                calibration_rows += len(cal) if hz is None else 0
        write_csv(dest / name, header, out)
    return calibration_rows


def write_releases(build: Path, out: Path, layout: str, cfg: SynthConfig) -> dict:
    """Lay the MIMIC-Eye cohort at ``build`` out as the ``layout`` release (``reflacx`` or
    ``egd``) next to MIMIC-CXR-JPG under ``out``; files are moved out of ``build``. Returns
    the ``releases`` entry of ``cohort.json``."""
    if layout not in RELEASES:
        raise ValueError(f"layout {layout!r}: choose one of {sorted(RELEASES)}")
    _cxr_jpg(build, out / CXR_RELEASE)
    info: dict = {"cxr_root": str(CXR_RELEASE), "root": str(RELEASES[layout]), "layout": layout}
    if layout == "reflacx":
        _reflacx(build, out / RELEASES[layout])
    else:
        info["calibration_rows"] = _egd(build, out / RELEASES[layout], cfg)
    return info


def finish(build: Path, out: Path, info: dict) -> None:
    """Move the ground truth to ``out/synthetic`` (with ``releases`` in cohort.json); drop ``build``."""
    shutil.rmtree(out / "synthetic", ignore_errors=True)
    shutil.move(str(build / "synthetic"), out / "synthetic")
    path = out / SYNTHETIC_FACTS
    cohort = json.loads(path.read_text(encoding="utf-8"))
    cohort["releases"] = info
    path.write_text(json.dumps(cohort, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    shutil.rmtree(build)
