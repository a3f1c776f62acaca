"""One odd image never stops a batch (issue 21, item 6): every verb that reads images lists it,
with its reason, and goes on; the viewer answers 422 (or 415 for a format it does not take) with the security headers; nothing hangs
and no traceback is printed. Before: a 1 x 1 or elongated PNG, a 1 x 1 DICOM, a DICOM with
WindowCenter "abcde", a float TIFF with inf (NaN boxes, exit 0), a symlink loop and a name over
255 bytes gave tracebacks, a FIFO hung the batch, and the viewer answered 500 without headers."""

# ruff: noqa: F811 - pytest passes the imported ``run`` fixture by parameter name

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gazecxr.cli import main
from hostile import write_odd_images
from image_files import png


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_odd_images(tmp_path_factory.mktemp("odd") / "in")


def _clean(result) -> None:  # noqa: ANN001 - click's Result
    assert "Traceback" not in result.output and (
        result.exception is None or isinstance(result.exception, SystemExit)
    )


@pytest.mark.timeout(300)  # a FIFO that blocks the reader would hang here
@pytest.mark.parametrize("verb", ["predict", "anatomy locate"])
def test_a_batch_lists_every_odd_image_and_goes_on(run: Path, odd: dict, tmp_path: Path, verb: str) -> None:
    good = png(tmp_path / "good.png", 0.5)
    out = tmp_path / "out"
    args = [*verb.split(), *(["--run", str(run)] if verb == "predict" else []), str(good)]
    result = CliRunner().invoke(main, ["-q", *args, *map(str, odd.values()), "--out", str(out)])
    _clean(result)
    assert result.exit_code == 1
    failed = {f["path"]: f["reason"] for f in json.loads((out / "failed.json").read_text())}
    assert set(failed) == {str(p) for p in odd.values()} and all(failed.values())
    results = [p for p in out.glob("*.json") if p.name not in ("failed.json", "manifest.json")]
    assert len(results) == 1 and "good" in results[0].name  # the readable one was still done


def test_report_json_keeps_the_good_images_beside_the_odd_ones(run: Path, odd: dict, tmp_path: Path) -> None:
    good = png(tmp_path / "good.png", 0.5)
    # Paths that do not exist or are folders are refused by the command line itself, one line.
    existing = [p for name, p in odd.items() if name not in ("name-too-long", "symlink-loop", "folder")]
    result = CliRunner().invoke(
        main, ["-q", "report", "--run", str(run), str(good), *map(str, existing), "--format", "json"]
    )
    _clean(result)
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert "report" in body[0] and body[0]["image"] == str(good)
    assert [r["image"] for r in body[1:]] == [str(p) for p in existing] and all(r["failed"] for r in body[1:])


def test_the_viewer_answers_4xx_with_headers_for_every_odd_upload(odd: dict) -> None:
    pytest.importorskip("fastapi", reason="the viewer extra is not installed")
    from fastapi.testclient import TestClient

    from gazecxr.viewer.app import create_app
    from gazecxr.viewer.security import HEADERS
    from viewer_stub import LOCAL, MeanAnalyzer

    client = TestClient(create_app(MeanAnalyzer()), base_url=LOCAL)
    for name, path in odd.items():
        if name in ("symlink-loop", "fifo", "folder", "name-too-long"):  # no bytes to upload
            continue
        res = client.post("/api/analyze", files={"file": (path.name, path.read_bytes(), "image/png")})
        assert 400 <= res.status_code < 500 and res.json()["error"], name  # a reason, never a 500
        assert all(res.headers.get(k) == v for k, v in HEADERS.items()), name
