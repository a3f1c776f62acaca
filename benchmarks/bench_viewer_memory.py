"""Viewer memory under parallel hostile and large uploads (issue 14).

Starts ``gazecxr.viewer.app`` under uvicorn in a child process on a loopback port, with the real
upload path (sniffing, the header pixel check, bounded decode slots, the shared ``read_radiograph``)
and a stub analyzer (so the model's own memory does not blur the measurement), then sends

1. 16 parallel uploads of a 140 KB PNG declaring 12000 x 12000 pixels (a decompression bomb);
2. 16 parallel uploads of a real-size 4300 x 3500 PNG (15 MP, the largest radiograph size),
   once with the default 2 decode slots and once with 16 (i.e. unbounded),

and reads the server's peak resident memory (``VmHWM`` of ``/proc/<pid>/status``) after each
phase. Before the header check, one bomb upload took 2.8 GB and three parallel ones 7.1 GB.
Writes ``benchmarks/results/viewer_memory.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile import bomb_png  # noqa: E402 - the tests' hostile-input generator

OUT = Path(__file__).resolve().parent / "results" / "viewer_memory.json"
SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    import numpy as np
    from gazecxr.prediction import Prediction
    from gazecxr.viewer.analyzer import Analysis, read_for
    from gazecxr.viewer.app import create_app

    class Stub:
        name, writer = "stub", "template"
        read = staticmethod(read_for(224, 50_000_000))
        def analyze(self, r, anatomy_boxes=None):
            p = Prediction(labels=["a"], probabilities=np.array([float(r.model_input.mean())]),
                           thresholds=np.array([0.5]), attention=np.full((7, 7), 1 / 49),
                           image_size=r.size, anatomy_boxes={}, anatomy_source="atlas", image_path=r.path)
            return Analysis(prediction=p, report_text="", report={})

    app = create_app(Stub(), max_upload_mb=64, decode_slots=int(sys.argv[2]))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _serve(slots: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(slots)], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("viewer did not start")


def _parallel(url: str, name: str, data: bytes, n: int) -> dict[int, int]:
    def one(_: int) -> int:
        files = {"file": (name, data, "image/png")}
        return httpx.post(url + "/api/analyze", files=files, timeout=300).status_code

    with ThreadPoolExecutor(max_workers=n) as pool:
        codes = list(pool.map(one, range(n)))
    return {c: codes.count(c) for c in sorted(set(codes))}


def _large_png(h: int, w: int) -> bytes:
    rng = np.random.default_rng(0)
    arr = (rng.random((h, w)) * 64 + 96).astype(np.uint8)  # noisy enough not to compress away
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=16)
    args = parser.parse_args()
    bomb, large = bomb_png(), _large_png(4300, 3500)
    result: dict = {"parallel": args.parallel, "bomb_bytes": len(bomb), "large_png_bytes": len(large)}
    for slots in (2, 16):
        proc, url = _serve(slots)
        try:
            idle = _hwm_mb(proc.pid)
            row: dict = {"idle_peak_rss_mb": idle}
            if slots == 2:
                row["bomb_status"] = _parallel(url, "bomb.png", bomb, args.parallel)
                row["after_bombs_peak_rss_mb"] = _hwm_mb(proc.pid)
            row["large_status"] = _parallel(url, "large.png", large, args.parallel)
            row["after_large_peak_rss_mb"] = _hwm_mb(proc.pid)
            result[f"decode_slots_{slots}"] = row
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result["load_average_1min"] = os.getloadavg()[0]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
