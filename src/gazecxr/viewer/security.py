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
  ``Authorization: Bearer <token>`` or the cookie that ``/?token=<token>`` sets.
"""

from __future__ import annotations

import hmac
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
        self.token = token or None

    def _host_ok(self, host: str) -> bool:
        name = hostname(host)
        return bool(name) and (name in self.allowed or self.any_host)

    def _token_ok(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get("authorization", "")
        candidates = [given[7:]] if given.lower().startswith("bearer ") else []
        candidates += [request.cookies.get(TOKEN_COOKIE, ""), request.query_params.get("token", "")]
        return any(c and hmac.compare_digest(c.encode(), self.token.encode()) for c in candidates)

    def refusal(self, request: Request) -> tuple[int, str] | None:
        """(status, message) when the request must be refused, else None."""
        if not self._host_ok(request.headers.get("host", "")):
            return 400, "host not allowed: the viewer answers only to the names it was started for"
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin is not None and (origin == "null" or not self._host_ok(urlsplit(origin).netloc)):
                return 403, "cross-origin request refused"
            if request.headers.get("sec-fetch-site") == "cross-site":
                return 403, "cross-site request refused"
        if not self._token_ok(request):
            return 401, "access token required (open the URL printed by gazecxr serve)"
        return None

    def decorate(self, request: Request, response: Response) -> None:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if self.token is not None and request.query_params.get("token") and request.url.path == "/":
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
