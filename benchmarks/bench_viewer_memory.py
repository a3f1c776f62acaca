"""Viewer memory under parallel hostile and large uploads (issue 14).

Starts ``gazecxr.viewer.app`` under uvicorn in a child process on a loopback port, with the real
upload path (sniffing, the header pixel check, bounded decode slots, the shared ``read_radiograph``)
and a stub analyzer (so the model's own memory does not blur the measurement), then sends

1. 16 parallel uploads of a 140 KB PNG declaring 12000 x 12000 pixels (a decompression bomb);
2. 16 parallel uploads of a real-size 4300 x 3500 PNG (15 MP, the largest radiograph size),
   once with the default 2 decode slots and once with 16 (i.e. unbounded),

and reads the server's peak resident memory (``VmHWM`` of ``/proc/<pid>/status``) after each
phase. Before the header check, one bomb upload took 2.8 GB and three parallel ones 7.1 GB.

Then, for each class of the second hostile-input audit (issue 21, item 5), the peak resident
memory of a fresh process that only imports the reader and reads one such file (``VmHWM``, the
import baseline subtracted): a DICOM declaring 1000 x 1000 over 1 GiB of pixel data (sparse on
disk), just-under-limit (49 MP) RGB and 16-bit PNGs, an 8-bit TIFF and a 16-bit DICOM, ``data check`` of a tree
whose ``fixations.csv`` is 2 GiB (sparse), and a 256 MiB upload without Content-Length to the
viewer. ``--src DIR`` measures another checkout's code (e.g. the code before the fixes).
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
                           image_size=r.size, image_path=r.path)
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


READ_ONE = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    def hwm():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    from gazecxr.data.images import ImageReadError, load_image
    from gazecxr.data.index import build_index
    base = hwm()
    try:
        if sys.argv[1] == "index":
            build_index(sys.argv[2], use_cache=False)
            outcome = "read"
        else:
            load_image(sys.argv[2])
            outcome = "read"
    except ImageReadError as exc:
        outcome = "refused: " + exc.reason[:80]
    print(f"{hwm() - base:.1f} {outcome}")
    """
)


def _hostile_files(folder: Path) -> dict[str, tuple[str, Path]]:
    """(reader, file) per audit class, written into ``folder``."""
    from hostile import inflate_pixel_data, write_dicom

    folder.mkdir(parents=True, exist_ok=True)
    # The header says 1000 x 1000; the PixelData element holds 1 GiB (sparse on disk).
    sparse = inflate_pixel_data(write_dicom(folder / "sparse.dcm", 1000, 1000), 2**30)
    side = 7000  # 49 MP, just under the 50 MP limit
    ramp = np.linspace(0, 1, side, dtype=np.float32)[None, :] * np.ones((side, 1), np.float32)
    files = {"dicom_1GiB_sparse": ("image", sparse)}
    Image.fromarray((ramp * 255).astype(np.uint8)).convert("RGB").save(folder / "rgb.png", compress_level=1)
    files["png_rgb_49MP"] = ("image", folder / "rgb.png")
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(folder / "g16.png", compress_level=1)
    files["png_16bit_49MP"] = ("image", folder / "g16.png")
    Image.fromarray((ramp * 255).astype(np.uint8)).save(folder / "g8.tiff")
    files["tiff_8bit_49MP"] = ("image", folder / "g8.tiff")
    files["dicom_16bit_49MP"] = ("image", write_dicom(folder / "big.dcm", side, side))
    tree = folder / "tree"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from data_fixtures import write_mimic_eye

    write_mimic_eye(tree, n_patients=2, height=96, width=80, seed=0)
    fix = next(tree.glob("patient_*/EyeGaze/fixations.csv"))
    with fix.open("r+b") as fh:
        fh.truncate(2 * 2**30)  # 2 GiB, sparse
    files["data_check_2GiB_fixations"] = ("index", tree)
    return files


def _peak_per_class(files: dict[str, tuple[str, Path]], src: Path | None) -> dict[str, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    out = {}
    for name, (reader, path) in files.items():
        res = subprocess.run(
            [sys.executable, "-c", READ_ONE, reader, str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if res.returncode != 0:
            out[name] = {
                "peak_rss_mb": None,
                "outcome": "crashed: " + res.stderr.strip().splitlines()[-1][:120],
            }
            continue
        mb, outcome = res.stdout.strip().splitlines()[-1].split(" ", 1)
        out[name] = {"peak_rss_mb": float(mb), "outcome": outcome}
    return out


def _chunked_upload_peak(total_mb: int) -> dict:
    """Viewer peak RSS after one upload of ``total_mb`` MiB sent without Content-Length."""
    proc, url = _serve(2)
    try:
        before = _hwm_mb(proc.pid)

        def body():  # noqa: ANN202 - chunked: httpx sends no Content-Length for a generator
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
            chunk = b"\0" * 2**20
            for _ in range(total_mb):
                yield chunk
            yield b"\r\n--b--\r\n"

        try:
            status = httpx.post(
                url + "/api/analyze",
                content=body(),
                headers={"content-type": "multipart/form-data; boundary=b"},
                timeout=300,
            ).status_code
        except httpx.HTTPError as exc:  # the server answered and closed before the body ended
            status = type(exc).__name__
        return {"status": status, "peak_rss_mb": _hwm_mb(proc.pid), "idle_peak_rss_mb": before}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument(
        "--src", type=Path, default=None, help="measure the classes with this checkout's code"
    )
    parser.add_argument("--classes-only", action="store_true", help="only the per-class measurements")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        classes = _peak_per_class(_hostile_files(Path(tmp)), args.src)
    if args.classes_only:
        print(json.dumps(classes, indent=2))
        return
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
    result["audit_classes_peak_rss_mb_over_import"] = classes
    result["chunked_upload_256MiB"] = _chunked_upload_peak(256)
    result["load_average_1min"] = os.getloadavg()[0]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
