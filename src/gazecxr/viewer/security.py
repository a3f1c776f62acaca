"""What keeps the local viewer safe from other origins and from being framed.

- **Host allow-list** (DNS rebinding): a page on ``evil.example.com`` that re-points its name to
  127.0.0.1 sends ``Host: evil.example.com``; only the loopback names and the ``--host`` the
  viewer was started with are answered.
- **Origin check** (CSRF): a state-changing request (POST, ...) whose ``Origin`` names another
  host, or that the browser marks ``Sec-Fetch-Site: cross-site``, is refused. Requests without
  an ``Origin`` (curl, scripts) are not from a browser page and pass.
- **Headers** on every response: Content-Security-Policy (own scripts, styles and data: images
  only; ``frame-ancestors 'none'``), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options:
  DENY``, ``Referrer-Policy: no-referrer``.
- **Optional token** (``gazecxr serve --token`` or ``GAZECXR_VIEWER_TOKEN``): every request needs
  ``Authorization: Bearer <token>`` or the session cookie that opening ``/?token=<token>`` sets.
  Tokens are compared in constant time. The cookie is set only on a successful answer to a request
  that presented the right token, never on a refusal; it is ``HttpOnly; SameSite=Strict; Path=/``
  and holds a per-server value (an HMAC of the token with a random key drawn at start), not the
  token: browsers send cookies to every port of 127.0.0.1, so another local service that sees it
  learns nothing it can use elsewhere, and it dies with the server. An empty token is refused.
- **Origin** of a state-changing request must be the server's own: same scheme, host and port.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "gazecxr_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def hostname(value: str) -> str:
    """The host name of a ``Host`` header value or URL authority, lower-case, without port or
    IPv6 brackets ("" when unparsable)."""
    try:
        return (urlsplit(f"//{value.strip()}").hostname or "").lower()
    except ValueError:
        return ""


def is_loopback(host: str) -> bool:
    return hostname(host) in LOOPBACK_HOSTS or hostname(host).startswith("127.")


class RequestGuard:
    """Decides whether a request may be served and adds the protective headers."""

    def __init__(self, allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS, token: str | None = None) -> None:
        self.allowed = {hostname(h) or h.lower() for h in (*LOOPBACK_HOSTS, *allowed_hosts)}
        # Binding every interface means any of the machine's names may be used to reach it.
        self.any_host = bool(self.allowed & {"0.0.0.0", "::"})
        if token is not None and not token.strip():
            raise ValueError("the access token is empty; give a non-empty --token or none")
        self.token = token
        # The cookie's value: useless without this server's random key, unlike the token itself.
        self.session = (
            hmac.new(secrets.token_bytes(32), token.encode(), hashlib.sha256).hexdigest() if token else None
        )

    def _host_ok(self, host: str) -> bool:
        name = hostname(host)
        return bool(name) and (name in self.allowed or self.any_host)

    @staticmethod
    def _same(given: str, expected: str | None) -> bool:
        return bool(given) and expected is not None and hmac.compare_digest(given.encode(), expected.encode())

    def _token_ok(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get("authorization", "")
        bearer = given[7:] if given.lower().startswith("bearer ") else ""
        return (
            self._same(bearer, self.token)
            or self._same(request.query_params.get("token", ""), self.token)
            or self._same(request.cookies.get(TOKEN_COOKIE, ""), self.session)
        )

    @staticmethod
    def _same_origin(origin: str, request: Request) -> bool:
        """``Origin`` names this server: its scheme, and the host and port of ``Host``."""
        try:
            o, h = urlsplit(origin), urlsplit(f"//{request.headers.get('host', '')}")
            default = {"http": 80, "https": 443}
            return (
                o.scheme == request.url.scheme
                and (o.hostname or "") == (h.hostname or "")
                and (o.port or default.get(o.scheme)) == (h.port or default.get(request.url.scheme))
            )
        except ValueError:
            return False

    def refusal(self, request: Request) -> tuple[int, str] | None:
        """(status, message) when the request must be refused, else None."""
        if not self._host_ok(request.headers.get("host", "")):
            return 400, "host not allowed: the viewer answers only to the names it was started for"
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin is not None and not self._same_origin(origin, request):
                return 403, "cross-origin request refused"
            if request.headers.get("sec-fetch-site") == "cross-site":
                return 403, "cross-site request refused"
        if not self._token_ok(request):
            return 401, "access token required (open the URL printed by gazecxr serve)"
        return None

    def decorate(self, request: Request, response: Response) -> None:
        """Security headers on every response; the session cookie on the page opened with the
        right ``?token=``, and only when it was answered."""
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if (
            self.session is not None
            and request.url.path == "/"
            and response.status_code < 400
            and self._same(request.query_params.get("token", ""), self.token)
        ):
            response.set_cookie(TOKEN_COOKIE, self.session, httponly=True, samesite="strict", path="/")
