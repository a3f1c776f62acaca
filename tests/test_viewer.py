"""HTTP API of the viewer, with an injected deterministic analyzer (no trained model needed).

The analyzer's output is a function of the image content, so a response that belongs to another
request is detectable: that is what the concurrency test relies on.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from gazecxr.viewer.app import create_app  # noqa: E402
from gazecxr.viewer.cohort import CohortStudy, StudyList  # noqa: E402
from viewer_stub import LABELS, LOCAL, MeanAnalyzer, png_of  # noqa: E402


@pytest.fixture()
def analyzer() -> MeanAnalyzer:
    return MeanAnalyzer()


@pytest.fixture()
def client(analyzer: MeanAnalyzer, tmp_path) -> TestClient:  # noqa: ANN001 - fixture
    image = tmp_path / "server-side" / "x.png"
    image.parent.mkdir()
    image.write_bytes(png_of(0.8, 40))
    study = CohortStudy(
        study_id="P300R000001",
        image_path=str(image),
        gaze=np.eye(40, dtype=np.float32) / 40,
        anatomy_boxes={"right lung": (0.1, 0.1, 0.5, 0.9)},
        reference_report="FINDINGS: small left effusion.",
        labels=["Pleural abnormality"],
        split="test",
    )
    return TestClient(create_app(analyzer, studies=StudyList([study]), max_upload_mb=0.5), base_url=LOCAL)


def test_health_and_page(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["run"] == "fake-run" and health["studies"] == 1
    page = client.get("/")
    assert page.status_code == 200 and 'id="findings-table"' in page.text
    assert client.get("/static/app.js").status_code == 200


def test_analyze_png(client: TestClient) -> None:
    res = client.post("/api/analyze", files={"file": ("bright.png", png_of(0.8), "image/png")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["probabilities"]["Atelectasis"] == pytest.approx(0.8, abs=0.01)
    assert body["positive"] == ["Atelectasis"]
    assert body["report"]["text"].startswith("mean 0.8")
    assert body["regions"][0]["name"] == "left lung" and body["regions"][0]["findings"] == ["Atelectasis"]
    assert body["overlays"]["image"].startswith("data:image/png;base64,")
    assert body["overlays"]["gaze"] is None  # an upload has no gaze
    # Each finding's own attention map (the page's per-finding toggle) and where it was placed.
    per_label = body["overlays"]["attention_per_label"]
    assert set(per_label) == set(LABELS) and all(
        v.startswith("data:image/png;base64,") for v in per_label.values()
    )
    assert per_label["Atelectasis"] != per_label["Pleural abnormality"]
    rows = {f["label"]: f for f in body["findings"]}
    assert rows["Atelectasis"]["regions"] == ["left lung"] and rows["Pleural abnormality"]["regions"] == []
    assert np.isclose(np.sum(body["attention"]["grid"]), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    ("payload", "name", "status", "words"),
    [
        (b"", "empty.png", 400, "empty"),
        (b"hello, I am not an image" * 10, "notes.png", 415, "not a JPEG, PNG or DICOM"),
        (png_of(0.5)[:60], "truncated.png", 422, "cannot read"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "corrupt.jpg", 422, "cannot read"),
    ],
)
def test_bad_uploads_get_clear_4xx(
    client: TestClient, payload: bytes, name: str, status: int, words: str
) -> None:
    res = client.post("/api/analyze", files={"file": (name, payload, "image/png")})
    assert res.status_code == status, res.text
    error = res.json()["error"]
    assert words in error and name in error and "Traceback" not in error


def test_missing_field_and_oversize(client: TestClient) -> None:
    res = client.post("/api/analyze", files={"image": ("a.png", png_of(0.5), "image/png")})
    assert res.status_code == 422 and "'file'" in res.json()["error"]
    big = np.random.default_rng(0).integers(0, 255, (800, 800), dtype=np.uint8)  # ~640 kB of noise
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    res = client.post("/api/analyze", files={"file": ("big.png", buf.getvalue(), "image/png")})
    assert res.status_code == 413 and "limit is 0.5 MiB" in res.json()["error"]


def test_unexpected_failure_is_a_json_500_without_trace(analyzer: MeanAnalyzer) -> None:
    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("secret internal detail")

    analyzer.analyze = broken  # type: ignore[method-assign]
    app_client = TestClient(create_app(analyzer), raise_server_exceptions=False, base_url=LOCAL)
    res = app_client.post("/api/analyze", files={"file": ("a.png", png_of(0.5), "image/png")})
    assert res.status_code == 500
    assert res.json() == {"error": "internal error (RuntimeError); see the server log"}
    from gazecxr.viewer.security import HEADERS

    assert all(res.headers.get(k) == v for k, v in HEADERS.items())  # before: a 500 had none


def test_concurrent_requests_do_not_mix(client: TestClient, analyzer: MeanAnalyzer) -> None:
    values = [round(v, 2) for v in np.linspace(0.05, 0.95, 16)]

    def one(value: float) -> tuple[float, dict]:
        res = client.post("/api/analyze", files={"file": (f"v{value}.png", png_of(value), "image/png")})
        assert res.status_code == 200, res.text
        return value, res.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, values))
    assert analyzer.max_parallel > 1  # the requests really overlapped
    for value, body in results:
        assert body["source"] == f"v{value}.png"
        assert body["probabilities"]["Atelectasis"] == pytest.approx(value, abs=0.01)
    assert len({body["id"] for _, body in results}) == len(values)


def test_cohort_study_has_gaze_and_reference(client: TestClient) -> None:
    studies = client.get("/api/studies").json()["studies"]
    assert studies == [
        {
            "id": "P300R000001",
            "split": "test",
            "labels": ["Pleural abnormality"],
            "has_gaze": True,
            "image": "x.png",
        }
    ]
    body = client.post("/api/studies/P300R000001/analyze").json()
    assert "server-side" not in json.dumps(body)  # no server path reaches the client
    assert body["image_path"] == "x.png"
    assert body["overlays"]["gaze"].startswith("data:image/png")
    assert body["anatomy"]["source"] == "dataset" and body["regions"][0]["name"] == "right lung"
    assert body["regions"][0]["source"] == "dataset"
    assert body["study"]["reference_report"] == "FINDINGS: small left effusion."
    res = client.post("/api/studies/nope/analyze")
    assert res.status_code == 404 and "unknown study" in res.json()["error"]


def test_real_dicom_upload(client: TestClient, shared_data) -> None:  # noqa: ANN001 - fixture
    """A real DICOM (127 kB, 1024 x 1024) is sniffed, decoded and analysed."""
    path = shared_data / "real_cxr" / "dicom" / "siim_pneumothorax_sample.dcm"
    res = client.post("/api/analyze", files={"file": ("x.dcm", path.read_bytes(), "application/dicom")})
    assert res.status_code == 200, res.text
    assert res.json()["image_size"] == [1024, 1024]


def test_serve_refuses_a_folder_that_is_not_a_run(tmp_path) -> None:  # noqa: ANN001 - fixture
    from click.testing import CliRunner

    from gazecxr.cli import main

    result = CliRunner().invoke(main, ["serve", "--run", str(tmp_path), "--port", "0"])
    assert result.exit_code != 0
    assert "is not a run directory (no config.yaml)" in result.output and "Traceback" not in result.output


def test_serve_binds_localhost_by_default() -> None:
    from gazecxr.viewer.cli import serve

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"


def test_a_busy_port_is_one_line_before_anything_is_loaded(tmp_path) -> None:  # noqa: ANN001 - fixture
    import socket

    from click.testing import CliRunner

    from gazecxr.cli import main

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--run", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert f"127.0.0.1:{port}: cannot listen there" in line and "--port" in line


@pytest.mark.slow
def test_serve_announces_its_address_once_it_is_bound(tmp_path) -> None:  # noqa: ANN001 - fixture
    """The URL printed is already listening: a request sent the moment it is printed is answered."""
    import re
    import subprocess
    import sys
    import urllib.request

    from tiny_runs import train_tiny, write_tiny_tree

    run = train_tiny(write_tiny_tree(tmp_path / "tree"), tmp_path / "run", "train.epochs=1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gazecxr.cli", "-q", "serve", "--run", str(run), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/api/health", timeout=60) as res:
            assert res.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
