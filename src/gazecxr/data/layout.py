"""Which dataset layout a folder holds, where its parts are, and where MIMIC-CXR-JPG lies.

Three layouts (``DataConfig.layout``; ``auto`` detects them):

- ``mimic-eye``: ``ROOT/patient_*/{CXR-JPG,CXR-DICOM,REFLACX,EyeGaze}`` (per-patient tables);
- ``reflacx``: the stand-alone REFLACX release. PhysioNet ships ``main_data/metadata_phase_{1,2,3}.csv``
  *inside* ``main_data/``, next to the ``main_data/{reflacx_id}/`` folders, and ``gaze_data/``
  beside ``main_data/``. The release root and ``main_data/`` itself are both accepted as ROOT;
  so are metadata files beside ``main_data/`` (per phase, or one concatenated ``metadata.csv``).
  :attr:`Layout.placement` says which placement was found;
- ``egd``: the stand-alone EGD-CXR release (``master_sheet.csv``, ``fixations.csv``,
  ``bounding_boxes.csv``, ``audio_segmentation_transcripts/`` at its root);

the latter two next to a MIMIC-CXR-JPG tree (``files/p*/p*/s*/*.jpg`` and its tables, ``.csv`` or
``.csv.gz``), found by :func:`find_cxr_root`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gazecxr.errors import InputError

READING_ID = re.compile(r"^P\d{3}R\d{6}$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")  # PhysioNet version folders: 1.0.0, 2.0.0


SYNTHETIC_FACTS = Path("synthetic") / "cohort.json"  # what ``gazecxr synth`` writes into every cohort


def is_synthetic(root: str | Path) -> bool:
    """Whether ``root`` is a ``gazecxr synth`` cohort (it holds ``synthetic/cohort.json``)."""
    return (Path(root) / SYNTHETIC_FACTS).is_file()


class DatasetRootError(InputError):
    """ROOT is not a dataset root of any supported layout (message: one line, naming ROOT)."""


@dataclass(frozen=True)
class Layout:
    """Where the parts of a dataset root are.

    Attributes:
        name: ``mimic-eye``, ``reflacx`` or ``egd``.
        root: the dataset root (for REFLACX given as ``main_data/``: the release root above it).
        placement: human-readable description of what was found (reported by ``data check``).
        main_root, gaze_root: REFLACX ``main_data/`` and ``gaze_data/`` (``None`` otherwise).
        metadata: REFLACX metadata files in reading order (empty otherwise).
    """

    name: str
    root: Path
    placement: str
    main_root: Path | None = None
    gaze_root: Path | None = None
    metadata: tuple[Path, ...] = field(default_factory=tuple)


def _phase_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("metadata_phase_*.csv"))


def _has_readings(folder: Path) -> bool:
    return any(p.is_dir() and READING_ID.match(p.name) for p in folder.iterdir())


def _reflacx(root: Path) -> Layout | None:
    main = root / "main_data"
    if main.is_dir():
        for files, where in (
            (_phase_files(main), "main_data/metadata_phase_*.csv (the REFLACX release)"),
            (_phase_files(root), "metadata_phase_*.csv beside main_data/"),
            ([main / "metadata.csv"] if (main / "metadata.csv").is_file() else [], "main_data/metadata.csv"),
            (
                [root / "metadata.csv"] if (root / "metadata.csv").is_file() else [],
                "metadata.csv beside main_data/",
            ),
        ):
            if files:
                return Layout("reflacx", root, where, main, root / "gaze_data", tuple(files))
    files = _phase_files(root) or ([root / "metadata.csv"] if (root / "metadata.csv").is_file() else [])
    if files and _has_readings(root):
        # main_data/ itself given as ROOT: read the release it belongs to.
        release = root.parent
        where = f"{root.name}/{files[0].name if len(files) == 1 else 'metadata_phase_*.csv'} ({root.name}/ given as the root; reading the release {release})"
        return Layout("reflacx", release, where, root, release / "gaze_data", tuple(files))
    return None


def detect_layout(root: Path) -> Layout:
    """The :class:`Layout` of ``root``; raises :class:`DatasetRootError` when none matches."""
    if not root.is_dir():
        raise DatasetRootError(f"{root}: not a directory")
    if any(p.is_dir() for p in root.glob("patient_*")):
        return Layout("mimic-eye", root, "patient_*/ folders (MIMIC-Eye)")
    reflacx = _reflacx(root)
    if reflacx is not None:
        return reflacx
    if (root / "master_sheet.csv").is_file() and (root / "fixations.csv").is_file():
        return Layout("egd", root, "master_sheet.csv + fixations.csv (EGD-CXR release)")
    raise DatasetRootError(
        f"{root}: not a dataset root: looked for patient_* folders (MIMIC-Eye), "
        "main_data/metadata_phase_*.csv or main_data/ holding metadata_phase_*.csv (REFLACX), "
        "master_sheet.csv + fixations.csv (EGD-CXR)"
    )


def _cxr_candidates(root: Path) -> list[Path]:
    """ROOT, its sub-folders, then its siblings and its parent's siblings, each with their
    version folders (PhysioNet: ``files/<dataset>/<version>/``)."""
    out = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    for base in (root.parent, root.parent.parent):
        for child in sorted(p for p in base.iterdir() if p.is_dir() and p != root):
            out.append(child)
            out += sorted(p for p in child.iterdir() if p.is_dir() and _VERSION.match(p.name))
    return out


def find_cxr_root(root: Path, configured: str | Path | None) -> Path:
    """MIMIC-CXR-JPG folder (one holding ``files/``) for the stand-alone layouts.

    ``configured`` (``data.cxr_root`` / ``--cxr-root``): absolute, relative to the working
    directory, or relative to ROOT, in that order. Otherwise searched: see :func:`_cxr_candidates`.
    """
    if configured:
        given = Path(configured).expanduser()
        options = [given] if given.is_absolute() else [Path.cwd() / given, root / given]
        for path in options:
            if (path / "files").is_dir():
                return path.resolve()
        raise DatasetRootError(
            f"{options[0]}: data.cxr_root has no files/ folder (the MIMIC-CXR-JPG version root, e.g. mimic-cxr-jpg/2.0.0, expected)"
        )
    for cand in _cxr_candidates(root):
        if (cand / "files").is_dir():
            return cand
    raise DatasetRootError(
        f"{root}: MIMIC-CXR-JPG not found (no files/ folder in ROOT, its sub-folders, or the "
        "folders beside it and their version folders); set data.cxr_root or --cxr-root"
    )
