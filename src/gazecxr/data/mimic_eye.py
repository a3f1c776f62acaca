"""The MIMIC-Eye layout: ``ROOT/patient_{subject_id}/`` folders, each with its own tables.

A patient folder holds ``CXR-JPG/`` (images and the MIMIC-CXR tables of that patient),
``CXR-DICOM/`` (report texts) and, when the patient has them, ``REFLACX/`` (``metadata.csv`` +
``main_data/`` + ``gaze_data/``) and ``EyeGaze/`` (master sheet, fixations, boxes, transcripts).
``spreadsheets/`` repeats the per-patient tables and is not read.
"""

from __future__ import annotations

from gazecxr.data import eyegaze, reflacx
from gazecxr.data.cxr_jpg import read_patient_tables
from gazecxr.data.layout import Layout
from gazecxr.data.rows import IndexBuilder
from gazecxr.data.tables import read_table


def read_tree(b: IndexBuilder, layout: Layout) -> None:
    """Every reading of every ``patient_*`` folder under ``layout.root``."""
    for pdir in sorted(layout.root.glob("patient_*")):
        if not pdir.is_dir():  # a file, or a symlink that loops or leads nowhere
            what = "a symlink that loops or leads nowhere" if pdir.is_symlink() else "not a folder"
            b.problems.add(pdir, "not_a_folder", f"patient entry is {what}; skipped")
            continue
        subject = pdir.name[len("patient_") :]
        if not subject.isdigit():
            b.problems.add(pdir, "bad_folder_name", "patient folder name is not patient_<digits>; skipped")
            continue
        cxr = read_patient_tables(pdir, b.problems)
        folder = pdir / "REFLACX"
        if "reflacx" in b.cfg.sources and folder.is_dir():
            meta = read_table(
                folder / "metadata.csv", b.problems, required=reflacx.META_REQUIRED, allow_empty=False
            )
            if meta is not None:
                reflacx.read_block(b, meta, folder / "main_data", folder / "gaze_data", cxr)
        if "eyegaze" in b.cfg.sources and (pdir / "EyeGaze").is_dir():
            eyegaze.read_folder(b, pdir / "EyeGaze", "master_sheet.csv", cxr)
