"""The HTTP site: the page at ``/``, the WebSocket endpoint at ``/ws``.

``/pingu-info.json`` tells the page which mode it is in and the server's
limits; the Crossbar router serves a file of the same name saying "wamp".
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

from autobahn.twisted.resource import WebSocketResource
from twisted.web import resource, server, static

from pingu import __version__
from pingu.websocket import PinguWebSocketFactory

#: Files the page loads from ``web/node_modules`` (installed by ``npm ci``).
PAGE_VENDOR_FILES = (
    "node_modules/uplot/dist/uPlot.iife.min.js",
    "node_modules/uplot/dist/uPlot.min.css",
    "node_modules/autobahn-browser/autobahn.min.js",
)


def default_webdir() -> Path:
    """The page shipped with the package (a link to the repository's ``web/``
    in a checkout, a copy of it in an installed distribution)."""
    return Path(__file__).resolve().parent / "web"


def missing_page_files(webdir: Path) -> list[str]:
    """What the page needs that ``webdir`` lacks (empty when all is there)."""
    needed = ("index.html", *PAGE_VENDOR_FILES)
    return [name for name in needed if not (webdir / name).is_file()]


class _JSON(resource.Resource):
    isLeaf = True

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__()
        self.body = json.dumps(body, indent=1).encode("utf-8")

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return self.body


class _NoListing(static.File):
    """Static files without directory listings."""

    def directoryListing(self) -> resource.Resource:
        return resource.NoResource("no listing")


def make_site(
    factory: PinguWebSocketFactory, webdir: Path, extra_info: Optional[dict[str, Any]] = None
) -> server.Site:
    """The ``Site`` serving ``webdir`` at ``/`` and the WebSocket at ``/ws``."""
    root = _NoListing(str(webdir))
    root.putChild(b"ws", WebSocketResource(factory))
    info = {
        "mode": "ws",
        "ws": "ws",
        "version": __version__,
        "limits": dataclasses.asdict(factory.hub.limits),
        **(extra_info or {}),
    }
    root.putChild(b"pingu-info.json", _JSON(info))
    # An HTTP request (the WebSocket upgrade included) that is not complete
    # within the handshake timeout is dropped: Site's default is 12 hours.
    site = server.Site(root, timeout=factory.hub.limits.handshake_timeout)
    site.displayTracebacks = False
    return site
