"""The page's security headers, and the routers a link may point it at.

Every response of the page carries a Content-Security-Policy (scripts,
styles and everything else from the page's own origin only, no inline
script; WebSocket connections to the page's own origin and the routers the
operator lists with ``--page-router``) and the usual hardening headers.
The page itself refuses a ``?router=`` its server does not list in
``/pingu-info.json`` (``web/url-state.js``).

Two servers use this list: :mod:`pingu.site` (``twistd pingu``) and the
Crossbar router's page resource (``.crossbar/pingu_router.py``, which loads
this file by its path: only the standard library and Twisted here).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from twisted.web import resource

_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


def router_origin(url: str) -> str:
    """The origin (``wss://host:port``) of a router's WebSocket URL, for
    ``connect-src``; ValueError unless it is a plain ``ws://`` or ``wss://`` URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"not a router URL: {url!r} ({e})") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"a router's URL is ws://host[:port]/path or wss://..., not {url!r}")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError(f"a router's URL has no user, query or fragment: {url!r}")
    if any(c.isspace() for c in url):
        raise ValueError(f"a router's URL has no spaces: {url!r}")
    host = parts.hostname  # lower case
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host)}]"
        except ValueError:
            raise ValueError(f"not an IPv6 address in {url!r}") from None
    elif not _HOST.match(host):
        # it goes into a header: a ';' or a quote would be a CSP of its own
        raise ValueError(f"a router's host is letters, digits, '.' and '-' only: {url!r}")
    default = {"ws": 80, "wss": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def content_security_policy(routers: Iterable[str] = ()) -> str:
    """The page's CSP: its own origin for everything, WebSockets to itself
    (``'self'`` covers ws/wss to the page's own host in CSP Level 3) and to
    ``routers`` (their origins), no framing, no plugins."""
    connect = " ".join(["'self'", *dict.fromkeys(router_origin(url) for url in routers)])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def page_headers(routers: Iterable[str] = ()) -> list[tuple[bytes, bytes]]:
    """Every header a page response carries."""
    return [
        (b"content-security-policy", content_security_policy(routers).encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]


class HeadersOnEveryResponse(resource.Resource):
    """The root of a page site: sets ``headers`` on every request, then lets
    ``inner`` (the real root) find and render the resource."""

    def __init__(self, inner: resource.Resource, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__()
        self.inner = inner
        self.headers = headers

    def _set(self, request: Any) -> None:
        for name, value in self.headers:
            request.setHeader(name, value)

    def getChildWithDefault(self, path: bytes, request: Any) -> Any:
        self._set(request)
        if path in self.children:  # put on this root (Crossbar's /ws, for one)
            return self.children[path]
        return self.inner.getChildWithDefault(path, request)

    def render(self, request: Any) -> Any:
        self._set(request)
        return self.inner.render(request)
