"""The viewer against other origins and hostile requests (issue 14): DNS rebinding, CSRF,
framing, sniffing, server paths, the access token, and a bounded fuzz of every route."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the viewer extra is not installed")  # third-party only

from fastapi.testclient import TestClient  # noqa: E402

from gazecxr.viewer.app import create_app  # noqa: E402
from gazecxr.viewer.cohort import CohortStudy, StudyList  # noqa: E402
from gazecxr.viewer.security import HEADERS  # noqa: E402
from viewer_stub import LOCAL, MeanAnalyzer, png_of  # noqa: E402


@pytest.fixture()
def app(tmp_path):  # noqa: ANN001, ANN201 - fixture
    image = tmp_path / "secret-server-folder" / "img.png"
    image.parent.mkdir()
    image.write_bytes(png_of(0.6, 40))
    study = CohortStudy(study_id="S1", image_path=str(image), gaze=np.full((40, 40), 1 / 1600))
    return create_app(MeanAnalyzer(), studies=StudyList([study]), max_upload_mb=1)


def test_foreign_host_is_refused(app) -> None:  # noqa: ANN001 - fixture
    """DNS rebinding: before, `Host: evil.example.com` was answered."""
    client = TestClient(app, base_url=LOCAL)
    assert client.get("/api/health").status_code == 200
    for host in ("evil.example.com", "127.0.0.1.evil.example.com", "", "[::1"):
        res = client.get("/api/health", headers={"host": host})
        assert res.status_code == 400 and "host not allowed" in res.json()["error"], host
    for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
        assert client.get("/api/health", headers={"host": host}).status_code == 200, host


def test_cross_origin_posts_are_refused(app) -> None:  # noqa: ANN001 - fixture
    """CSRF: before, a POST from another origin was served."""
    client = TestClient(app, base_url=LOCAL)
    upload = {"file": ("a.png", png_of(0.5), "image/png")}
    for headers in (
        {"origin": "https://evil.example.com"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
    ):
        res = client.post("/api/analyze", files=upload, headers=headers)
        assert res.status_code == 403 and "refused" in res.json()["error"], headers
    assert client.post("/api/analyze", files=upload, headers={"origin": LOCAL}).status_code == 200
    assert client.post("/api/analyze", files=upload).status_code == 200  # no Origin: not a browser page


def test_security_headers_on_every_response(app) -> None:  # noqa: ANN001 - fixture
    client = TestClient(app, base_url=LOCAL)
    responses = [
        client.get("/"),
        client.get("/static/app.js"),
        client.get("/api/health"),
        client.get("/nope"),
        client.get("/api/health", headers={"host": "evil.example.com"}),
        client.post("/api/analyze", files={"file": ("x.png", b"junk", "image/png")}),
    ]
    for res in responses:
        for name, value in HEADERS.items():
            assert res.headers.get(name) == value, (res.request.url, name)
    assert "frame-ancestors 'none'" in HEADERS["Content-Security-Policy"]


def test_no_server_paths_in_responses(app, tmp_path) -> None:  # noqa: ANN001 - fixture
    client = TestClient(app, base_url=LOCAL)
    studies = client.get("/api/studies").json()
    body = client.post("/api/studies/S1/analyze").json()
    upload = client.post("/api/analyze", files={"file": ("../../etc/x.png", png_of(0.5), "image/png")}).json()
    for payload in (studies, body, upload):
        text = json.dumps(payload)
        assert str(tmp_path) not in text and "secret-server-folder" not in text and "/etc/" not in text


def test_access_token(tmp_path) -> None:  # noqa: ANN001 - fixture
    client = TestClient(create_app(MeanAnalyzer(), token="s3cret"), base_url=LOCAL)
    assert client.get("/api/health").status_code == 401
    assert client.get("/api/health", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/health", headers={"authorization": "Bearer s3cret"}).status_code == 200
    page = client.get("/?token=s3cret")  # the URL printed by gazecxr serve sets a cookie ...
    assert page.status_code == 200 and "gazecxr_token" in page.headers.get("set-cookie", "")
    assert (
        "httponly" in page.headers["set-cookie"].lower()
        and "samesite=strict" in page.headers["set-cookie"].lower()
    )
    assert client.get("/api/health").status_code == 200  # ... that the page's own requests carry


def test_serve_warns_loudly_beyond_loopback(monkeypatch, tmp_path) -> None:  # noqa: ANN001 - fixtures
    from click.testing import CliRunner

    import gazecxr.viewer.analyzer as analyzer_module
    from gazecxr.cli import main

    started = {}
    monkeypatch.setattr(analyzer_module, "RunAnalyzer", lambda *a, **k: MeanAnalyzer())
    monkeypatch.setattr(
        "gazecxr.viewer.cli.run_server", lambda app, sock: started.update(host=sock.getsockname()[0])
    )
    monkeypatch.setattr(MeanAnalyzer, "trained_on_synthetic", True, raising=False)
    result = CliRunner().invoke(main, ["serve", "--run", str(tmp_path), "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "WARNING: binding 0.0.0.0 exposes the viewer" in result.output and "set --token" in result.output
    assert started == {"host": "0.0.0.0"}


# --------------------------------------------------------------------------- bounded fuzz

ROUTES = [
    ("GET", "/"),
    ("GET", "/favicon.ico"),
    ("GET", "/static/app.js"),
    ("GET", "/static/../../etc/passwd"),
    ("GET", "/api/health"),
    ("GET", "/api/studies"),
    ("POST", "/api/analyze"),
    ("POST", "/api/studies/S1/analyze"),
    ("POST", "/api/studies/%00/analyze"),
    ("PUT", "/api/analyze"),
    ("DELETE", "/api/studies"),
]


def _mutated_body(rng: random.Random) -> tuple[dict, dict]:
    """(request kwargs, headers) of one mutated upload or body."""
    base = png_of(rng.random(), rng.choice([1, 8, 33]))
    kind = rng.randrange(8)
    if kind == 0:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    elif kind == 1:
        data = bytearray(base)
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    elif kind == 2:
        data = base[: rng.randrange(len(base))]
    elif kind == 3:
        data = b"\xff\xd8\xff" + bytes(rng.randrange(256) for _ in range(200))
    elif kind == 4:
        data = b"\x00" * 128 + b"DICM" + bytes(rng.randrange(256) for _ in range(300))
    else:
        data = base
    field = rng.choice(["file", "file", "image", ""])
    name = rng.choice(["a.png", "", "../x.dcm", "ä" * 300, "a\x00b.jpg", "<script>.png"])
    ctype = rng.choice(["image/png", "application/json", "text/html", ""])
    if rng.random() < 0.15:
        return {"content": data}, {
            "content-type": rng.choice(["multipart/form-data; boundary=xx", "application/json", "text/plain"])
        }
    return {"files": {field or "file": (name, data, ctype)}}, {}


def test_fuzz_every_route_no_5xx_and_healthy_after(app) -> None:  # noqa: ANN001 - fixture
    client = TestClient(app, base_url=LOCAL, raise_server_exceptions=False)
    rng = random.Random(14)
    statuses: dict[int, int] = {}
    n = 300
    for _ in range(n):
        method, path = rng.choice(ROUTES)
        headers: dict[str, str] = {}
        if rng.random() < 0.2:
            headers["host"] = rng.choice(["localhost", "evil.example.com", "127.0.0.1:1", "x" * 300])
        if rng.random() < 0.2:
            headers["origin"] = rng.choice([LOCAL, "https://evil.example.com", "null", "http://[::1]:9"])
        if rng.random() < 0.1:
            path += "?" + rng.choice(["token=x", "a=" + "%" * 5, "b=%7f%00"])
        kwargs: dict = {}
        if method == "POST":
            kwargs, extra = _mutated_body(rng)
            headers.update(extra)
        res = client.request(method, path, headers=headers, **kwargs)
        statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
        assert res.status_code < 500, (method, path, headers, res.text[:200])
        if res.status_code >= 400 and res.headers.get("content-type", "").startswith("application/json"):
            assert "Traceback" not in res.text
    assert (
        sum(statuses.values()) == n
        and any(s == 200 for s in statuses)
        and any(400 <= s < 500 for s in statuses)
    )
    assert client.get("/api/health").json()["status"] == "ok"  # healthy afterwards
    ok = client.post("/api/analyze", files={"file": ("a.png", png_of(0.3), "image/png")})
    assert ok.status_code == 200


def test_only_the_right_token_sets_the_cookie_and_it_is_not_the_token(tmp_path) -> None:  # noqa: ANN001
    """Before: `/?token=anything` answered 401 and set the cookie `gazecxr_token=<the token>`, with
    which every API call succeeded; refusals (400, 403) set it too."""
    app = create_app(MeanAnalyzer(), token="s3cret")
    client = TestClient(app, base_url=LOCAL)
    wrong = client.get("/?token=anything")
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert client.get("/api/health").status_code == 401  # no cookie was planted
    refused_host = client.get("/?token=s3cret", headers={"host": "evil.example.com"})
    assert refused_host.status_code == 400 and "set-cookie" not in refused_host.headers
    upload = {"file": ("a.png", png_of(0.5), "image/png")}
    cross = client.post("/?token=s3cret", files=upload, headers={"origin": "http://evil.example.com"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers
    page = client.get("/?token=s3cret")
    cookie = page.headers["set-cookie"]
    assert page.status_code == 200 and "s3cret" not in cookie  # a per-server value, not the token
    assert all(flag in cookie.lower() for flag in ("httponly", "samesite=strict", "path=/"))
    assert client.get("/api/health").status_code == 200  # the page's own requests carry it
    other = TestClient(create_app(MeanAnalyzer(), token="s3cret"), base_url=LOCAL)  # another server
    other.cookies.update(client.cookies)
    assert other.get("/api/health").status_code == 401  # its cookie opens only the server that set it


def test_origin_must_be_the_servers_scheme_host_and_port(app) -> None:  # noqa: ANN001 - fixture
    """Before: `http://localhost:9999` and `https://127.0.0.1` passed the Origin check."""
    client = TestClient(app, base_url=LOCAL)
    upload = {"file": ("a.png", png_of(0.5), "image/png")}
    own = client.base_url
    for origin in (
        f"{own.scheme}://{own.host}:9999",
        f"https://{own.host}:{own.port or 80}",
        f"{own.scheme}://localhost:{own.port or 80}",
    ):
        res = client.post("/api/analyze", files=upload, headers={"origin": origin})
        assert res.status_code == 403, origin
    assert (
        client.post("/api/analyze", files=upload, headers={"origin": str(own).rstrip("/")}).status_code == 200
    )


def test_an_empty_token_is_refused(tmp_path) -> None:  # noqa: ANN001 - fixture
    from click.testing import CliRunner

    from gazecxr.cli import main

    with pytest.raises(ValueError, match="empty"):
        create_app(MeanAnalyzer(), token=" ")
    result = CliRunner().invoke(main, ["serve", "--run", str(tmp_path), "--token", "", "--port", "0"])
    assert result.exit_code == 2 and "empty" in result.output and "Traceback" not in result.output


def test_an_upload_without_content_length_is_counted_as_it_arrives() -> None:
    """Before: a chunked upload (no Content-Length) was stored whole, 928 MB in the audit, before
    the endpoint answered 413. Now the middleware refuses it while it arrives: the answer is the
    middleware's own (the endpoint's 413 names the file and would fail this test)."""
    client = TestClient(create_app(MeanAnalyzer(), max_upload_mb=1), base_url=LOCAL)
    chunk = b"\0" * 65536

    def body():  # noqa: ANN202 - a generator: httpx sends it chunked, without Content-Length
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        for _ in range(64):  # 4 MiB
            yield chunk
        yield b"\r\n--b--\r\n"

    res = client.post(
        "/api/analyze", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert res.status_code == 413 and res.json()["error"].startswith(
        "upload too large (refused while it arrived)"
    )
    assert all(res.headers.get(k) == v for k, v in HEADERS.items())
    assert client.get("/api/health").status_code == 200  # still serving


def test_the_body_limit_stops_reading_at_the_limit() -> None:
    """The app behind BodyLimit never receives more than the limit, however long the body."""
    import asyncio

    from gazecxr.viewer.uploads import BodyLimit

    received, sent = [], []

    async def app(scope, receive, send):  # noqa: ANN001, ANN202 - an ASGI app that reads everything
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise RuntimeError("client gone")
            received.append(len(message["body"]))
            if not message.get("more_body"):
                break

    chunks = iter([{"type": "http.request", "body": b"x" * 1000, "more_body": True}] * 10_000)

    async def receive():  # noqa: ANN202 - 10 MB in 1 kB chunks
        return next(chunks)

    async def send(message):  # noqa: ANN001, ANN202
        sent.append(message)

    asyncio.run(BodyLimit(app, 5_000, HEADERS, "too large")({"type": "http"}, receive, send))
    assert sum(received) <= 5_000 and sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"x-frame-options"] == b"DENY"
