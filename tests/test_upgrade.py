"""The listening port's first protocol (:mod:`pingu.upgrade`) and the
handshake guard's view of keep-alive connections (:mod:`pingu.handshakes`),
on the real site and WebSocket factory over an in-memory transport."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.web.http import HTTPChannel

from pingu.limits import Limits
from pingu.site import default_webdir, make_site
from pingu.websocket import PinguServerProtocol
from tests.harness.memory import Harness

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
INFO = b"GET /pingu-info.json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


def connected(limits: Limits = Limits()) -> tuple[Any, Any, StringTransport]:
    """A new connection to the real site: (site, its first protocol, transport)."""
    h = Harness(limits=limits)
    site = make_site(h.factory, default_webdir())
    site.callLater = h.clock.callLater  # (Twisted's idle timeout, on the fake clock)
    site.requests = []  # the requests Twisted Web made
    request = site.requestFactory
    site.requestFactory = lambda *a, **k: site.requests.append(1) or request(*a, **k)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40000))
    protocol = site.buildProtocol(transport.getPeer())
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return site, protocol, transport


def test_a_first_request_that_upgrades_goes_straight_to_autobahn() -> None:
    """Defence: one parse.  Autobahn's protocol gets the connection and the raw
    request, in pieces as they came; Twisted Web never sees it."""
    site, _, transport = connected()
    assert site.guard.pending.total == 1  # counted from the accept
    for piece in (UPGRADE[:20], UPGRADE[20:]):
        transport.protocol.dataReceived(piece)
    assert isinstance(transport.protocol, PinguServerProtocol)
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    assert site.requests == []
    assert site.guard.pending.total == 0  # upgraded: out of the guard


def test_anything_else_goes_to_twisted_web_and_may_upgrade_later() -> None:
    """A page request goes to Twisted Web's channel; an upgrade on the same
    keep-alive connection later still works (through WebSocketResource)."""
    site, _, transport = connected()
    transport.protocol.dataReceived(INFO)
    assert isinstance(transport.protocol, HTTPChannel) and site.requests == [1]
    assert transport.value().startswith(b"HTTP/1.1 200 ")
    transport.clear()
    channel = transport.protocol
    channel.dataReceived(UPGRADE)
    assert transport.value().startswith(b"HTTP/1.1 101 ")


def test_an_upgrade_of_another_path_is_twisted_webs() -> None:
    _, _, transport = connected()
    transport.protocol.dataReceived(UPGRADE.replace(b"GET /ws ", b"GET /pingu-info.json "))
    assert isinstance(transport.protocol, HTTPChannel)
    assert transport.value().startswith(b"HTTP/1.1 200 ")


def test_an_idle_keep_alive_connection_leaves_the_handshake_count() -> None:
    """Defence (issue 17, item 2): a keep-alive connection that got its answer
    is not "in its handshake"; its next request counts again, under the caps."""
    site, _, transport = connected(Limits(max_handshakes_per_client=1))
    guard = site.guard
    transport.protocol.dataReceived(INFO)
    assert transport.value().startswith(b"HTTP/1.1 200 ")
    assert guard.pending.total == 0 and not transport.disconnecting
    # idle: another socket of the same client may start its handshake
    other = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40001))
    assert guard.opened(other)
    # the idle one's next request is over the cap (1): it is closed
    transport.protocol.dataReceived(INFO[:5])
    assert transport.disconnecting
    guard.closed(other)
    assert guard.pending.total == 0


def test_idle_keep_alive_connections_are_capped_per_client() -> None:
    """Defence: a client cannot hold descriptors by making requests and
    keeping their connections: past the cap (here 1) of idle sockets per
    client, a connection that just got its answer is closed."""
    site, _, first = connected(Limits(max_handshakes_per_client=1))
    first.protocol.dataReceived(INFO)
    assert site.guard.idle_sockets.total == 1 and not first.disconnecting
    second = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 40001))
    channel = site.buildProtocol(second.getPeer())
    second.protocol = channel
    channel.makeConnection(second)
    second.protocol.dataReceived(INFO)
    assert second.value().startswith(b"HTTP/1.1 200 ")  # answered, then closed
    assert second.disconnecting and site.guard.idle_sockets.total == 1
    # the first one's next request takes it out of the idle count
    first.protocol.dataReceived(INFO[:5])
    assert site.guard.idle_sockets.total == 0 and site.guard.pending.total == 1
