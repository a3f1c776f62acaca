"""Run every ``benchmarks/bench_*.py`` script and summarise ``benchmarks/results/*.json``.

Each benchmark is a stand-alone script that measures its ratios in one run and writes
``benchmarks/results/<name>.json``. Usage: ``python benchmarks/run_all.py [NAME ...]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names or s.stem in names]
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"== {script.name}: exit {code} in {time.perf_counter() - start:.1f} s", flush=True)
        if code != 0:
            failed.append(script.name)
    print("\nresults:")
    for path in sorted((HERE / "results").glob("*.json")):
        data = json.loads(path.read_text())
        print(f"- {path.name}: {json.dumps(data)[:300]}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
