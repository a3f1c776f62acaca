"""Small hand-written dataset trees in the MIMIC-Eye, REFLACX and EGD-CXR layouts for the data tests.

Every file follows ``../shared/docs/mimic-eye-format.md``: MIMIC-Eye-written tables carry the
leading unnamed index column, REFLACX per-reading files use CRLF line ends, EyeGaze positions are
screen fractions consistent with the master-sheet pads. Tests break the trees on purpose after
writing them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from gazecxr.data.anatomy import REGIONS
from gazecxr.data.format import CXR_META_COLUMNS as META_COLS
from gazecxr.data.format import EYEGAZE_GAZE_COLUMNS as EG_COLS
from gazecxr.data.format import EYEGAZE_GRANULAR as GRANULAR
from gazecxr.data.format import REFLACX_FIXATION_COLUMNS as FIX_COLS
from gazecxr.data.format import REFLACX_GAZE_COLUMNS, REFLACX_META_COLUMNS, REFLACX_META_LABELS
from gazecxr.data.labels import CHEXPERT_COLUMNS, REFLACX_PHASE1_LABELS, REFLACX_PHASE23_LABELS

SCREEN = (1920, 1080)
PADS = (40, 40, 300, 300)  # top, bottom, left, right (screen pixels)


def write_csv(
    path: Path, header: list[str], rows: list[list], *, index_col: bool = False, crlf: bool = False
) -> None:
    """Write a CSV; ``index_col`` adds MIMIC-Eye's leading unnamed index column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(([""] if index_col else []) + header)
    for i, r in enumerate(rows):
        w.writerow(([i] if index_col else []) + ["" if v is None else v for v in r])
    path.write_bytes(buf.getvalue().encode())


def dicom_id(k: int) -> str:
    h = f"{k:08x}"
    return "-".join([h, "a1b2c3d4", "e5f60718", "293a4b5c", "6d7e8f90"])


@dataclass
class Reading:
    reading_id: str
    subject: str
    study: str
    dicom: str
    fixations: np.ndarray  # (N, 3) x, y, duration in image px / s


@dataclass
class Tree:
    root: Path
    height: int
    width: int
    reflacx: list[Reading] = field(default_factory=list)
    eyegaze: list[Reading] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


def _image(path: Path, height: int, width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    arr = 60 + 120 * np.exp(
        -(((xx - width / 2) / (width / 3)) ** 2 + ((yy - height / 2) / (height / 2.5)) ** 2)
    )
    arr = np.clip(arr + rng.normal(0, 5, arr.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode="L").save(path, quality=90)


def _fixations(rng: np.random.Generator, height: int, width: int, n: int, off_image: int) -> np.ndarray:
    x = rng.uniform(0.2 * width, 0.8 * width, n)
    y = rng.uniform(0.2 * height, 0.8 * height, n)
    x[:off_image] = -50.0  # deliberately off the image
    return np.stack([np.round(x), np.round(y), rng.uniform(0.15, 0.5, n)], axis=1)


def _reflacx_reading(tree: Tree, folder: Path, rid: str, fix: np.ndarray, phase: int) -> list[dict]:
    """Write main_data/gaze_data of one REFLACX reading; return its metadata label cells."""
    h, w = tree.height, tree.width
    main = folder / "main_data" / rid
    t, rows = 0.5, []
    for x, y, d in fix:
        rows.append(
            [
                round(t, 3),
                round(t + d, 3),
                int(x),
                int(y),
                0.5,
                12,
                12,
                1.0,
                0.5,
                0,
                0,
                w,
                h,
                0,
                0,
                3840,
                2160,
            ]
        )
        t += d + 0.05
    write_csv(main / "fixations.csv", FIX_COLS, rows, crlf=True)
    write_csv(
        main / "chest_bounding_box.csv",
        ["xmin", "ymin", "xmax", "ymax"],
        [[int(0.1 * w), int(0.1 * h), int(0.9 * w), int(0.9 * h)]],
        crlf=True,
    )
    names = list(REFLACX_PHASE1_LABELS if phase == 1 else REFLACX_PHASE23_LABELS)
    ell_labels = [
        n == ("Mass" if phase == 1 else "Lung nodule or mass") for n in names if n not in ("Other",)
    ]
    write_csv(
        main / "anomaly_location_ellipses.csv",
        ["xmin", "ymin", "xmax", "ymax", "certainty"] + [n for n in names if n != "Other"],
        [[int(0.2 * w), int(0.3 * h), int(0.4 * w), int(0.5 * h), 4, *ell_labels]],
        crlf=True,
    )
    words = [
        ["the", 3.0, 3.2],
        ["lungs", 3.3, 3.6],
        ["show", 4.0, 4.2],
        ["a", 4.3, 4.4],
        ["nodule", 4.5, 4.9],
        [".", 4.9, 4.9],
    ]
    write_csv(
        main / "timestamps_transcription.csv",
        ["word", "timestamp_start_word", "timestamp_end_word"],
        words,
        crlf=True,
    )
    (main / "transcription.txt").write_bytes(b"the lungs show a nodule.\r\n")
    samples = [
        [0.01 * k, int(w / 2), int(h / 2), 0.5, 12, 12, 1, 0.5, 0, 0, w, h, 0, 0, 3840, 2160]
        for k in range(20)
    ]
    samples[5][1:4] = ["", "", ""]  # a blink
    write_csv(
        folder / "gaze_data" / rid / "gaze.csv",
        REFLACX_GAZE_COLUMNS,
        samples,
        crlf=True,
    )
    # Metadata label cells: the nodule at certainty 4, edema at certainty 2 (below threshold),
    # support devices True; the other phase's columns stay empty.
    p1 = {n: "" for n in REFLACX_PHASE1_LABELS}
    p23 = {n: "" for n in REFLACX_PHASE23_LABELS}
    own = p1 if phase == 1 else p23
    for n in own:
        own[n] = "False" if n in ("Support devices", "Quality issue") else ("" if n == "Other" else 0)
    own["Support devices"] = "True"
    own["Pulmonary edema"] = 2
    own["Mass" if phase == 1 else "Lung nodule or mass"] = 4
    return [p1, p23]


def reflacx_label_header() -> list[str]:
    seen: list[str] = []
    for n in (*REFLACX_PHASE1_LABELS, *REFLACX_PHASE23_LABELS):
        if n not in seen:
            seen.append(n)
    return seen


def _meta_row(
    rid: str, dicom: str, subject: str, study: str, tree: Tree, cells: list[dict], discarded: bool
) -> list:
    merged: dict[str, object] = {}
    for n in reflacx_label_header():
        vals = [c[n] for c in cells if n in c and c[n] != ""]
        merged[n] = vals[0] if vals else ""
    return [
        rid,
        "train",
        str(discarded),
        f"physionet.org/files/mimic-cxr/2.0.0/files/p{subject[:2]}/p{subject}/s{study}/{dicom}.dcm",
        dicom,
        subject,
        tree.width,
        tree.height,
        *[merged[n] for n in reflacx_label_header()],
    ]


# Non-label metadata columns; the label columns are written in a different order from the synth
# writer (phase 1 first) so that readers are tested on reading columns by name.
REFLACX_META_HEADER = [c for c in REFLACX_META_COLUMNS if c not in REFLACX_META_LABELS]


def _eyegaze_rows(tree: Tree, dicom: str, fix: np.ndarray) -> list[list]:
    h, w = tree.height, tree.width
    top, bottom, left, right = PADS
    rows, t = [], 1.0
    for k, (x, y, d) in enumerate(fix):
        fx = (x * (SCREEN[0] - left - right) / w + left) / SCREEN[0]
        fy = (y * (SCREEN[1] - top - bottom) / h + top) / SCREEN[1]
        row = {c: 0 for c in EG_COLS}
        row.update(
            {
                "SESSION_ID": 1,
                "MEDIA_ID": 1,
                "DICOM_ID": dicom,
                "CNT": k,
                "Time (in secs)": round(t, 3),
                "FPOGX": round(fx, 6),
                "FPOGY": round(fy, 6),
                "FPOGS": round(t, 3),
                "FPOGD": round(d, 3),
                "FPOGID": k,
                "FPOGV": 1,
                "X_ORIGINAL": int(x),
                "Y_ORIGINAL": int(y),
            }
        )
        rows.append([row[c] for c in EG_COLS])
        t += d + 0.05
    return rows


def _master_row(tree: Tree, dicom: str, subject: str, study: str, cls: str) -> dict[str, object]:
    top, bottom, left, right = PADS
    row: dict[str, object] = {
        "dicom_id": dicom,
        "path": f"files/p{subject[:2]}/p{subject}/s{study}/{dicom}.dcm",
        "study_id": study,
        "patient_id": subject,
        "stay_id": "",
        "gender": "F",
        "anchor_age": "60 - 70",
        "image_top_pad": top,
        "image_bottom_pad": bottom,
        "image_left_pad": left,
        "image_right_pad": right,
    }
    for k in range(1, 10):
        row[f"dx{k}"], row[f"dx{k}_icd"] = "", ""
    row["normal_reports"] = "lungs are clear,\nno effusion" if cls == "Normal" else ""
    for c in ("Normal", "CHF", "pneumonia"):
        row[c] = int(c == cls)
    for g in GRANULAR:
        row[g] = int(cls == "CHF" and g in ("enlarged_cardiac_silhouette", "pulmonary_edema__hazy_opacity"))
    for c in CHEXPERT_COLUMNS:
        row[c.lower().replace(" ", "_") + "__chx"] = ""
    row["cardiomegaly__chx"] = 1.0 if cls == "CHF" else 0.0
    row["cxr_exam_indication"] = "dyspnea"
    return row


def write_mimic_eye(
    root: Path, n_patients: int = 6, height: int = 120, width: int = 100, seed: int = 0
) -> Tree:
    """A MIMIC-Eye tree: patients 0, 2, 4, ... have REFLACX readings (two for patient 0, the first
    in phase 1), patients 1, 3, ... an EyeGaze image; patient 2's second reading is discarded."""
    rng = np.random.default_rng(seed)
    tree = Tree(root, height, width)
    classes = ["Normal", "CHF", "pneumonia"]
    for p in range(n_patients):
        subject = f"{10000000 + 1000 * p + 7}"
        study = f"{50000000 + 1000 * p + 3}"
        dicom = dicom_id(p + 1)
        tree.subjects.append(subject)
        pdir = root / f"patient_{subject}"
        jpg = pdir / "CXR-JPG"
        _image(jpg / f"s{study}" / f"{dicom}.jpg", height, width, seed + p)
        eyegaze = p % 2 == 1
        write_csv(
            jpg / "cxr_meta.csv",
            META_COLS,
            [
                [
                    dicom,
                    subject,
                    study,
                    "CHEST (PA AND LAT)",
                    "PA",
                    height,
                    width,
                    21800101,
                    92717.109,
                    "CHEST (PA AND LAT)",
                    "postero-anterior",
                    "Erect",
                    eyegaze,
                    not eyegaze,
                    "2180-01-01 09:27:17",
                    "",
                ]
            ],
            index_col=True,
        )
        chx = [subject, study] + [
            ("1.0" if c == "Cardiomegaly" and p % 3 == 0 else ("-1.0" if c == "Edema" else ""))
            for c in CHEXPERT_COLUMNS
        ]
        write_csv(
            jpg / "cxr_chexpert.csv", ["subject_id", "study_id", *CHEXPERT_COLUMNS], [chx], index_col=True
        )
        write_csv(
            jpg / "cxr_negbio.csv", ["subject_id", "study_id", *CHEXPERT_COLUMNS], [chx], index_col=True
        )
        write_csv(
            jpg / "cxr_split.csv",
            ["dicom_id", "study_id", "subject_id", "split"],
            [[dicom, study, subject, ["train", "validate", "test"][p % 3]]],
            index_col=True,
        )
        (pdir / "CXR-DICOM").mkdir(parents=True)
        (pdir / "CXR-DICOM" / f"s{study}.txt").write_text(
            "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n\n"
            " INDICATION:  ___ with dyspnea\n\n FINDINGS:  The lungs are clear. No effusion.\n\n"
            " IMPRESSION:  No acute process.\n"
        )
        if not eyegaze:
            folder = pdir / "REFLACX"
            meta_rows = []
            n_read = 2 if p in (0, 2) else 1
            for r in range(n_read):
                phase = 1 if (p == 0 and r == 0) else 2
                rid = f"P{phase}{r + 1:02d}R{100000 + 10 * p + r}"
                discarded = p == 2 and r == 1
                fix = _fixations(rng, height, width, 30, off_image=1)
                cells = _reflacx_reading(tree, folder, rid, fix, phase)
                if discarded:
                    for f in ("fixations.csv", "timestamps_transcription.csv", "transcription.txt"):
                        (folder / "main_data" / rid / f).unlink()
                    (folder / "gaze_data" / rid / "gaze.csv").unlink()
                else:
                    tree.reflacx.append(Reading(rid, subject, study, dicom, fix))
                meta_rows.append(_meta_row(rid, dicom, subject, study, tree, cells, discarded))
            write_csv(
                folder / "metadata.csv",
                REFLACX_META_HEADER + reflacx_label_header(),
                meta_rows,
                index_col=True,
            )
        else:
            folder = pdir / "EyeGaze"
            fix = _fixations(rng, height, width, 25, off_image=0)
            tree.eyegaze.append(Reading(f"EG_{dicom}", subject, study, dicom, fix))
            write_csv(folder / "fixations.csv", EG_COLS, _eyegaze_rows(tree, dicom, fix), index_col=True)
            write_csv(folder / "eye_gaze.csv", EG_COLS, _eyegaze_rows(tree, dicom, fix), index_col=True)
            master = _master_row(tree, dicom, subject, study, classes[p % 3])
            write_csv(folder / "master_sheet.csv", list(master), [list(master.values())], index_col=True)
            boxes = [[dicom, name, 5 + k, 50 + k, 10 + k, 80 + k] for k, name in enumerate(REGIONS)]
            write_csv(
                folder / "bounding_boxes.csv",
                ["dicom_id", "bbox_name", "x1", "x2", "y1", "y2"],
                boxes,
                index_col=True,
            )
            tdir = folder / "audio_segmentation_transcripts" / dicom
            tdir.mkdir(parents=True)
            (tdir / "transcript.json").write_text(
                json.dumps(
                    {
                        "full_text": "heart is enlarged",
                        "time_stamped_text": [
                            {"phrase": "heart is", "begin_time": 4.0, "end_time": 4.6},
                            {"phrase": "enlarged", "begin_time": 4.7, "end_time": 5.2},
                        ],
                    }
                )
            )
    return tree


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a fixture CSV, without MIMIC-Eye's unnamed index column."""
    with path.open(newline="") as fh:
        data = list(csv.reader(fh))
    header, rows = data[0], data[1:]
    if header[0] == "":
        return header[1:], [r[1:] for r in rows]
    return header, rows


@dataclass
class Releases:
    """Stand-alone releases laid out as PhysioNet ships them (format notes, section 4b)."""

    reflacx: Path  # reflacx-xray-localization/1.0.0 (the release root)
    egd: Path  # egd-cxr/1.0.0
    cxr: Path  # mimic-cxr-jpg/2.0.0
    calibration_rows: int  # EGD calibration rows written


def _calibration_rows(header: list[str], dicom: str, n: int, t0: float = 0.0) -> list[list[str]]:
    """Rows of one calibration screen: gaze on a dot at the screen centre, saved under the
    truncated id, on the calibration's own clock (EGD's image_preparation.py)."""
    rows = []
    for k in range(n):
        cells = {c: "0" for c in header}
        cells.update(
            {
                "DICOM_ID": dicom,
                "CNT": str(k),
                "Time (in secs)": f"{t0 + 0.3 * k:.3f}",
                "FPOGX": f"{0.5 + 0.002 * (k % 3):.5f}",
                "FPOGY": f"{0.5 - 0.002 * (k % 2):.5f}",
                "FPOGS": f"{t0 + 0.3 * k:.3f}",
                "FPOGD": "0.25",
                "FPOGID": str(k + 1),
                "FPOGV": "1",
                "X_ORIGINAL": "-1",
                "Y_ORIGINAL": "-1",
            }
        )
        rows.append([cells[c] for c in header])
    return rows


def write_standalone(tree: Tree, out: Path, calibration: bool = True) -> Releases:
    """Lay a MIMIC-Eye fixture tree out as the stand-alone REFLACX and EGD-CXR releases beside
    MIMIC-CXR-JPG, as the releases ship them (not as our synthetic writer does):

    - ``out/physionet.org/files/reflacx-xray-localization/1.0.0/``: ``main_data/metadata_phase_{1,2,3}.csv``
      INSIDE ``main_data/`` (each with only its phase's label columns, no index column; phase 3
      has no reading here), ``main_data/{id}/`` and ``gaze_data/{id}/``; a discarded reading has
      only its chest box and ellipses, and an empty ``gaze_data/{id}/``;
    - ``.../egd-cxr/1.0.0/``: ``master_sheet.csv``, ``fixations.csv``, ``eye_gaze.csv``,
      ``bounding_boxes.csv`` without a pandas index, and, when ``calibration``, calibration rows
      (``DICOM_ID`` = the next image's id minus its last 5 characters, on their own clock) between
      every two images plus one over-long calibration id at the end;
    - ``.../mimic-cxr-jpg/2.0.0/``: ``files/p*/p*/s*/*.jpg`` and ``mimic-cxr-2.0.0-*.csv.gz`` at
      the version root.
    """
    import gzip
    import shutil

    files = out / "physionet.org" / "files"
    reflacx = files / "reflacx-xray-localization" / "1.0.0"
    egd = files / "egd-cxr" / "1.0.0"
    cxr = files / "mimic-cxr-jpg" / "2.0.0"
    tables: dict[str, list] = {"meta": [], "chexpert": [], "negbio": [], "split": []}
    meta_rows: list[list[str]] = []
    eg: dict[str, list[list[str]]] = {"fixations.csv": [], "eye_gaze.csv": [], "bounding_boxes.csv": []}
    eg_headers: dict[str, list[str]] = {}
    meta_header: list[str] = []
    master_header: list[str] = []
    master_rows: list[list[str]] = []
    for pdir in sorted(tree.root.glob("patient_*")):
        subject = pdir.name.split("_")[1]
        for key, name in (
            ("meta", "cxr_meta"),
            ("chexpert", "cxr_chexpert"),
            ("negbio", "cxr_negbio"),
            ("split", "cxr_split"),
        ):
            tables[key].append(_rows(pdir / "CXR-JPG" / f"{name}.csv"))
        for img in (pdir / "CXR-JPG").glob("s*/*.jpg"):
            dest = cxr / "files" / f"p{subject[:2]}" / f"p{subject}" / img.parent.name / img.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(img, dest)
        for rep in (pdir / "CXR-DICOM").glob("s*.txt"):
            shutil.copy(rep, cxr / "files" / f"p{subject[:2]}" / f"p{subject}" / rep.name)
        if (pdir / "REFLACX").is_dir():
            meta_header, rows = _rows(pdir / "REFLACX" / "metadata.csv")
            meta_rows += rows
            for sub in ("main_data", "gaze_data"):
                shutil.copytree(pdir / "REFLACX" / sub, reflacx / sub, dirs_exist_ok=True)
        if (pdir / "EyeGaze").is_dir():
            master_header, rows = _rows(pdir / "EyeGaze" / "master_sheet.csv")
            master_rows += rows
            for name in eg:
                eg_headers[name], rows = _rows(pdir / "EyeGaze" / name)
                eg[name].append(rows)
            shutil.copytree(
                pdir / "EyeGaze" / "audio_segmentation_transcripts",
                egd / "audio_segmentation_transcripts",
                dirs_exist_ok=True,
            )
    for key, name in (
        ("meta", "metadata"),
        ("chexpert", "chexpert"),
        ("negbio", "negbio"),
        ("split", "split"),
    ):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(tables[key][0][0])
        w.writerows(r for _, rows in tables[key] for r in rows)
        cxr.mkdir(parents=True, exist_ok=True)
        with gzip.open(cxr / f"mimic-cxr-2.0.0-{name}.csv.gz", "wt", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
    # REFLACX ships one metadata file per phase inside main_data/, each with only its own labels.
    discarded_col = meta_header.index("eye_tracking_data_discarded")
    for phase, labels in (
        (1, REFLACX_PHASE1_LABELS),
        (2, REFLACX_PHASE23_LABELS),
        (3, REFLACX_PHASE23_LABELS),
    ):
        keep = [i for i, c in enumerate(meta_header) if c in REFLACX_META_HEADER or c in labels]
        rows = [[r[i] for i in keep] for r in meta_rows if r[0][1] == str(phase)]
        write_csv(reflacx / "main_data" / f"metadata_phase_{phase}.csv", [meta_header[i] for i in keep], rows)
    for r in meta_rows:
        if r[discarded_col] == "True":  # the release keeps an empty gaze folder
            shutil.rmtree(reflacx / "gaze_data" / r[0], ignore_errors=True)
            (reflacx / "gaze_data" / r[0]).mkdir(parents=True)
    write_csv(egd / "master_sheet.csv", master_header, master_rows)
    write_csv(
        egd / "bounding_boxes.csv",
        eg_headers["bounding_boxes.csv"],
        [r for rows in eg["bounding_boxes.csv"] for r in rows],
    )
    n_cal = 0
    for name in ("fixations.csv", "eye_gaze.csv"):
        header, blocks = eg_headers[name], eg[name]
        rows = []
        for k, block in enumerate(blocks):
            if calibration and k > 0:
                cal = _calibration_rows(header, block[0][header.index("DICOM_ID")][:-5], 4)
                rows += cal
                n_cal += len(cal) if name == "fixations.csv" else 0
            rows += block
        if calibration:
            cal = _calibration_rows(header, "cal" + "-5a1b2c3d" * 5, 3, t0=7.0)  # over 44 characters
            rows += cal
            n_cal += len(cal) if name == "fixations.csv" else 0
        write_csv(egd / name, header, rows)
    return Releases(reflacx, egd, cxr, n_cal)
