"""Synthetic-cohort benchmark: studies per second at the default size and at full resolution,
the demo cohort's generation time, and disk/time for the full MIMIC-Eye size.

All measured in one run (same machine load), each cohort written to a fresh temporary folder:

- default: ``--studies`` at the default image size (long side 512 px);
- full resolution: ``--full-studies`` at 3056 px (MIMIC-CXR's typical 3056 x 2544), from which
  time and disk for the 3,689 images of MIMIC-Eye are EXTRAPOLATED linearly (stated as such);
- demo: the cohort ``gazecxr demo`` writes (480 studies at 256 px);
- visibility of every finding type (clear and subtle) after downsampling to 96 and 128 px
  (:func:`gazecxr.synth.visibility.finding_visibility`): not a speed figure, but measured here so
  that the numbers quoted in ``docs/synthetic-cohort.md`` come from one command.

CPU seconds (this process + workers) are reported next to wall seconds: on a shared machine the
wall time depends on the other load, the CPU time much less. Writes ``benchmarks/results/synth.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from gazecxr.synth import SynthConfig, write_cohort
from gazecxr.synth.visibility import finding_visibility

OUT = Path(__file__).resolve().parent / "results" / "synth.json"
MIMIC_EYE_IMAGES = 3689


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def measure(name: str, cfg: SynthConfig, workers: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"gazecxr-bench-synth-{name}-"))
    try:
        cpu0, t0 = _cpu(), time.perf_counter()
        summary = write_cohort(root / "tree", cfg, workers=workers)
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        disk = _disk(root / "tree")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    row = {
        "studies": cfg.studies,
        "image_size": cfg.image_size,
        "images": summary.images,
        "workers": workers,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "studies_per_s_wall": round(cfg.studies / wall, 2),
        "studies_per_cpu_s": round(cfg.studies / cpu, 2),
        "disk_bytes": disk,
        "disk_bytes_per_image": round(disk / summary.images),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(f"{name:10s} " + " ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=120)
    parser.add_argument("--full-studies", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    default = measure("default", SynthConfig(studies=args.studies, seed=0), args.workers)
    full = measure("full-res", SynthConfig(studies=args.full_studies, seed=0, image_size=3056), args.workers)
    demo = measure("demo", SynthConfig(studies=480, seed=0, image_size=256), args.workers)
    scale = MIMIC_EYE_IMAGES / full["images"]
    result = {
        "cpu_count": os.cpu_count(),
        "default": default,
        "full_resolution": full,
        "demo_cohort": demo,
        "full_mimic_eye_extrapolated": {
            "note": f"EXTRAPOLATED linearly from the {full['studies']}-study full-resolution run, not measured",
            "images": MIMIC_EYE_IMAGES,
            "wall_s": round(full["wall_s"] * scale, 1),
            "cpu_s": round(full["cpu_s"] * scale, 1),
            "disk_gb": round(full["disk_bytes"] * scale / 1e9, 2),
        },
        "full_over_default_cpu_per_study": round(default["studies_per_cpu_s"] / full["studies_per_cpu_s"], 2),
        "visibility": {f"{px}px": finding_visibility(size=px) for px in (96, 128)},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["full_mimic_eye_extrapolated"]))
    for row in result["visibility"]["128px"]:
        print(
            f"128 px {'subtle' if row['subtle'] else 'clear '} {row['name']:28s} {row['kind']:24s} "
            f"p90 change {row['p90_grey_levels']:5.1f} grey levels, {row['share_inside_box']:.3f} inside box"
        )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
