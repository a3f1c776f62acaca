"""The viewer and the study report in a real headless Chromium (Debian ``chromium`` package).

Skipped with a reason when Chromium or Playwright is absent. Screenshots go to
``artifacts/screenshots/`` (git-ignored): ``viewer_upload.png``, ``viewer_study.png``,
``index_top.png``, ``index_full.png`` (under ``artifacts/screenshots/demo/`` when
``$GAZECXR_BROWSER_DEMO`` names a finished demo folder to use instead of the tiny demo).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
if os.environ.get("GAZECXR_BROWSER_DEMO"):
    SCREENSHOTS = SCREENSHOTS / "demo"
REAL_RADIOGRAPH = "real_cxr/images/00cfd1c1.jpg"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(
            f"{CHROMIUM} not installed (Debian packages chromium, chromium-driver; `make browser-deps`)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) not installed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The session's tiny demo, or the finished demo folder named by $GAZECXR_BROWSER_DEMO
    (to take the screenshots of a real `make demo` output)."""
    folder = os.environ.get("GAZECXR_BROWSER_DEMO")
    if folder:
        return json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
    return request.getfixturevalue("tiny_demo")


@contextmanager
def serve(*args: str) -> Iterator[str]:
    """Run ``gazecxr serve ARGS`` on a free local port (a real server process) until the block ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gazecxr.cli", "-q", "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gazecxr serve exited with {proc.returncode}: {proc.stdout.read()}")
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as res:
                    if json.load(res)["status"] == "ok":
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gazecxr serve did not answer /api/health within 90 s") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _page(browser: Any) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def test_viewer_upload_and_cohort_study(browser: Any, demo: dict[str, Any], shared_data: Path) -> None:
    run = demo["variants"]["full"]["runs"][0]
    n_labels = len(demo["cohort"]["labels"])
    with serve("--run", run, "--data", demo["cohort"]["root"], "--max-studies", "5") as url:
        with urllib.request.urlopen(f"{url}/api/studies") as res:
            studies = json.load(res)["studies"]
        assert len(studies) == 5
        page, errors = _page(browser)
        page.goto(url)
        page.wait_for_selector("body[data-state=ready]", timeout=15_000)
        assert "trained on the synthetic cohort" in page.locator("#note").inner_text()

        # Upload a real radiograph and wait for the report.
        page.set_input_files("#file-input", str(shared_data / REAL_RADIOGRAPH))
        page.click("#analyze-btn")
        page.wait_for_selector("body[data-state=done]", timeout=30_000)
        assert page.locator("#findings-table tbody tr").count() == n_labels
        assert page.locator("#report").inner_text().strip()
        overlay = page.locator("#img-attention")
        assert overlay.is_visible()
        assert page.evaluate("document.querySelector('#img-attention').naturalWidth") > 0
        assert page.locator("#boxes rect").count() > 0  # atlas boxes on a real radiograph
        assert page.locator("#toggle-gaze").is_disabled()  # an upload has no gaze
        # The per-finding toggle: each finding's own attention map replaces the mixture.
        mixture = page.evaluate("document.querySelector('#img-attention').src")
        options = page.evaluate("[...document.querySelectorAll('#attention-label option')].map(o => o.value)")
        assert options[0] == "" and len(options) == n_labels + 1
        page.select_option("#attention-label", options[1])
        assert page.evaluate("document.querySelector('#img-attention').src") != mixture
        assert page.locator("#findings-table th").nth(5).inner_text() == "Regions"
        page.screenshot(path=str(SCREENSHOTS / "viewer_upload.png"), full_page=True)
        with page.expect_download() as download:
            page.click("#download-btn")
        saved = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert saved["source"] == Path(REAL_RADIOGRAPH).name and len(saved["probabilities"]) == n_labels
        page.uncheck("#toggle-attention")
        assert not overlay.is_visible()
        page.check("#toggle-attention")
        page.eval_on_selector(
            "#attention-opacity", "el => { el.value = 30; el.dispatchEvent(new Event('input')); }"
        )
        assert page.evaluate("getComputedStyle(document.querySelector('#img-attention')).opacity") == "0.3"

        # A cohort study: gaze overlay and reference report appear.
        first = next((s for s in studies if s["has_gaze"]), studies[0])
        page.select_option("#study-select", first["id"])
        page.click("#study-btn")
        # Polled with page.evaluate: the viewer's CSP (script-src 'self') forbids the eval that
        # page.wait_for_function uses inside the page.
        condition = (
            "document.body.dataset.state === 'done' && "
            f"document.querySelector('#image-caption').textContent.startsWith('{first['id']}')"
        )
        deadline = time.monotonic() + 30
        while not page.evaluate(condition):
            assert time.monotonic() < deadline, "the cohort study did not render within 30 s"
            page.wait_for_timeout(100)
        assert page.locator("#reference-report").inner_text().strip()
        assert page.locator("#img-gaze").is_visible() == first["has_gaze"]
        page.screenshot(path=str(SCREENSHOTS / "viewer_study.png"), full_page=True)

        # A file that is not an image: a clear message in the page, no crash.
        page.set_input_files(
            "#file-input",
            files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"this is not a radiograph"}],
        )
        page.click("#analyze-btn")
        page.wait_for_selector("body[data-state=error]", timeout=15_000)
        assert "not a JPEG, PNG or DICOM" in page.locator("#error").inner_text()
        assert errors == []


def test_study_report_in_browser(browser: Any, demo: dict[str, Any]) -> None:
    page, errors = _page(browser)
    page.goto(Path(demo["index_html"]).resolve().as_uri())
    for section in ("#summary", "#seeds", "#per-class", "#roc", "#maps", "#studies", "#details"):
        assert page.locator(section).is_visible(), section
    # The answer comes first: the first paragraph of the page is the verdict's first sentence.
    assert page.locator("p").first.inner_text() == demo["verdict"][0]
    runs = sum(len(v["runs"]) for v in demo["variants"].values())
    assert page.locator("#seeds tbody tr").count() == runs + len(demo["variants"])  # + the means
    assert page.locator("#maps figure").count() >= 1
    assert page.locator("article.study").count() >= 5
    # Every embedded figure decoded (a broken data URL has naturalWidth 0).
    widths = page.evaluate("[...document.images].map(i => i.naturalWidth)")
    assert widths and min(widths) > 0
    assert "SYNTHETIC DATA" in page.locator("#summary").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "index_top.png"))
    page.screenshot(path=str(SCREENSHOTS / "index_full.png"), full_page=True)
    assert errors == []
