"""The HTTP site: the page at ``/``, the WebSocket endpoint at ``/ws``.

``/pingu-info.json`` tells the page which mode it is in and the server's
limits; the Crossbar router serves a file of the same name saying "wamp".
``/metrics`` is for Prometheus (:mod:`pingu.metrics`): on an endpoint of its
own (:func:`metrics_site`), and on the page's port only to the networks the
operator names (``--metrics-allow``; 404 for everybody else).

Every request, the WebSocket upgrade included, is answered only for a
``Host`` this server knows (:mod:`pingu.hosts`: 421 otherwise, before any
resource is looked at), and every connection is under the site's
:class:`~pingu.handshakes.HandshakeGuard`.  A connection whose first request
is a WebSocket upgrade goes straight to Autobahn (:mod:`pingu.upgrade`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

from autobahn.twisted.resource import WebSocketResource
from twisted.web import resource, server, static

from pingu import __version__, tools
from pingu.handshakes import GuardedChannel, HandshakeGuard
from pingu.metrics import AllowedNetworks, MetricsResource
from pingu.pagefiles import missing_files
from pingu.pageheaders import HeadersOnEveryResponse, page_headers
from pingu.upgrade import FirstRequest
from pingu.websocket import PinguWebSocketFactory


def default_webdir() -> Path:
    """The page shipped with the package (a link to the repository's ``web/``
    in a checkout, a copy of it in an installed distribution)."""
    return Path(__file__).resolve().parent / "web"


def missing_page_files(webdir: Path) -> list[str]:
    """What the page needs that ``webdir`` lacks (empty when all is there)."""
    return missing_files(webdir)


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


class _MisdirectedHost(resource.ErrorPage):
    def __init__(self) -> None:
        super().__init__(
            421,
            "Misdirected Request",
            "This server does not answer for that host name (see --server-name).",
        )


class PinguSite(server.Site):
    """A ``Site`` that answers only for its own names, under a handshake guard.

    Its connections start as :class:`~pingu.upgrade.FirstRequest`, which
    hands them to ``websocket_factory`` or to :meth:`http_channel`."""

    def __init__(
        self, root: resource.Resource, factory: PinguWebSocketFactory, guard: HandshakeGuard
    ) -> None:
        # Twisted's idle timeout, reset by every byte; the guard's deadline
        # is absolute.
        super().__init__(root, timeout=factory.hub.limits.handshake_timeout)
        self.names = factory.names
        self.guard = guard
        self.websocket_factory = factory
        self.displayTracebacks = False

    def buildProtocol(self, addr: Any) -> Any:
        return FirstRequest(self, addr)

    def http_channel(self, addr: Any) -> Any:
        """Twisted Web's channel for a connection (``protocol``), guarded."""
        channel = super().buildProtocol(addr)
        channel.guard = self.guard
        return channel

    def getResourceFor(self, request: Any) -> resource.Resource:
        host = (request.getHeader(b"host") or b"").decode("latin-1")
        if not self.names.allowed(host):
            return _MisdirectedHost()
        return super().getResourceFor(request)


def make_site(
    factory: PinguWebSocketFactory,
    webdir: Path,
    extra_info: Optional[dict[str, Any]] = None,
    metrics_allow: tuple[Any, ...] = (),
    metrics_resource: Optional[resource.Resource] = None,
) -> server.Site:
    """The ``Site`` serving ``webdir`` at ``/`` and the WebSocket at ``/ws``
    (``/ws/<tool>`` too), and the hub's metrics at ``/metrics`` to peers in
    the ``metrics_allow`` networks only (``metrics_resource``: another one,
    the workers' gathered metrics)."""
    root = _NoListing(str(webdir))
    root.putChild(b"ws", WebSocketResource(factory))
    if metrics_allow:
        own = metrics_resource or MetricsResource(factory.hub.metrics.registry)
        root.putChild(b"metrics", AllowedNetworks(own, metrics_allow))
    info = {
        "mode": "ws",
        "ws": "ws",
        "routers": [],  # the routers a link may point the page at (--page-router)
        "version": __version__,
        "limits": dataclasses.asdict(factory.hub.limits),
        # every tool with its fields and their bounds (the limits' values)
        "tools": tools.describe(factory.hub.limits, factory.hub.executables),
        **(extra_info or {}),
    }
    root.putChild(b"pingu-info.json", _JSON(info))
    limits = factory.hub.limits
    guard = HandshakeGuard(
        factory.reactor,
        limits.handshake_timeout,
        limits.max_handshakes_per_client,
        limits.max_handshakes,
        limits.client_prefix6,
        factory.trusted_proxies,
        factory.hub.metrics,
    )
    factory.handshakes = guard
    site = PinguSite(HeadersOnEveryResponse(root, page_headers(info["routers"])), factory, guard)
    # Twisted types Site.protocol as a method: a channel class is what it takes
    site.protocol = GuardedChannel  # type: ignore[method-assign,assignment]
    return site


def metrics_site(metrics: Any) -> server.Site:
    """A ``Site`` that serves only ``/metrics`` (``--metrics-port``): an
    endpoint a firewall can keep to the monitoring network.  ``metrics`` is
    a registry, or the resource to serve (a --workers parent's gathered one)."""
    root = resource.Resource()
    if not isinstance(metrics, resource.Resource):
        metrics = MetricsResource(metrics)
    root.putChild(b"metrics", metrics)
    site = server.Site(root)
    site.displayTracebacks = False
    return site
