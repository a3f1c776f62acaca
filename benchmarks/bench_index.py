"""Index benchmark: first build and cached reopen of a full-size (3,689-image) synthetic tree.

The tree is written once with ``gazecxr synth TREE --studies 3689`` (small images: index timing
does not depend on pixel count, only on files and rows) unless ``--tree`` points to an existing
one. Measures, in one run: files under the tree, fingerprint time (the cost of checking the cache
on every start), the cold build (parse every table + write the cache) and the cached reopen.
Writes ``benchmarks/results/index.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import ensure_synthetic_tree  # benchmarks/ is on sys.path when run as a script
from gazecxr.data.config import DataConfig
from gazecxr.data.index import build_index
from gazecxr.data.index_cache import tree_fingerprint

OUT = Path(__file__).resolve().parent / "results" / "index.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path(tempfile.gettempdir()) / "gazecxr-bench-tree-3689")
    parser.add_argument("--studies", type=int, default=3689)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="cached reopens timed (best reported)")
    args = parser.parse_args()
    generated = ensure_synthetic_tree(args.tree, args.studies, args.image_size, args.workers)
    n_files = sum(len(files) for d, _, files in os.walk(args.tree) if "/." not in d)  # as the fingerprint
    cache = Path(tempfile.mkdtemp(prefix="gazecxr-bench-cache-"))
    try:
        cfg = DataConfig(cache_dir=str(cache))
        t0 = time.perf_counter()
        tree_fingerprint(args.tree)
        t_fp = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = build_index(args.tree, cfg)
        t_cold = time.perf_counter() - t0
        reopen = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            again = build_index(args.tree, cfg)
            reopen.append(time.perf_counter() - t0)
        assert again.from_cache and not first.from_cache
        stats = first.stats()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    result = {
        "tree": str(args.tree),
        "generated_now_s": generated,
        "files": n_files,
        "readings": stats["readings"],
        "images": stats["images"],
        "patients": stats["patients"],
        "fixations_total": stats["fixations_total"],
        "problems": stats["problems"],
        "fingerprint_s": t_fp,
        "cold_build_s": t_cold,
        "cached_reopen_s_best": min(reopen),
        "cached_reopen_s_all": reopen,
        "cold_over_cached": t_cold / min(reopen),
        "load_average_1min": os.getloadavg()[0],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    for k, v in result.items():
        print(f"{k:24s} {v:.4g}" if isinstance(v, float) else f"{k:24s} {v}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
