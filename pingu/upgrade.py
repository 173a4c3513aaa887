"""The first request on a connection decides who speaks on it.

Through Twisted Web, a WebSocket upgrade is parsed twice: Twisted Web parses
the request into a ``Request`` and walks the resource tree to
``WebSocketResource``, which rebuilds the raw request from it and hands it to
Autobahn, which parses the same handshake again.  That was the biggest share
of a session's server CPU: the set-up and the upgrade took 26 % of its
Python samples, 15 % with one parse, and a session's Python time went from
0.94 ms to 0.82 ms (py-spy, 100 sessions a second, 2026-12-06;
bench/PROFILE.md, section 6).  So the listening
port's protocol is :class:`FirstRequest`: it holds the bytes of the first
request until its header block is complete, and looks at its request line
and ``Upgrade`` header only:

* ``GET /ws`` (``/ws/<tool>``, a query) asking to upgrade to ``websocket``:
  the connection goes straight to the WebSocket factory's protocol, which
  parses the handshake once and makes every check the WebSocket path makes
  (``Host`` 421, ``Origin`` 403, the client behind a trusted proxy, the
  per-client connection cap, the tool);
* anything else: to the site's HTTP channel (:class:`GuardedChannel`), which
  serves it as before, WebSocket upgrades on later keep-alive requests
  included (through ``WebSocketResource``).

The connection is under the site's :class:`~pingu.handshakes.HandshakeGuard`
from the moment it is accepted, whichever way it goes.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.protocol import Protocol
from twisted.protocols.policies import ProtocolWrapper

from pingu.handshakes import HandshakeGuard

#: the end of a request's header block
_END = b"\r\n\r\n"
#: past this many bytes without the end of the headers, Twisted Web gets the
#: connection and answers it as it would (its own cap is 16 KiB of headers)
_MAX_SNIFF = 16 * 1024


def _is_upgrade(head: bytes) -> bool:
    """``head`` (the request line and headers) asks to upgrade ``/ws`` or
    ``/ws/<tool>`` to a WebSocket.  A cheap look, not a parse: Autobahn
    parses and checks whatever this lets through."""
    line, _, headers = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        return False
    path = parts[1].split(b"?", 1)[0]
    if not (path == b"/ws" or path.startswith(b"/ws/")):
        return False
    for header in headers.split(b"\r\n"):
        name, colon, value = header.partition(b":")
        if colon and name.strip().lower() == b"upgrade":
            return b"websocket" in value.lower()
    return False


class FirstRequest(Protocol):
    """Holds a new connection's bytes until its first request's headers are
    in, then hands the connection to Autobahn or to Twisted Web."""

    def __init__(self, site: Any, addr: Any) -> None:
        self.site = site
        self.addr = addr
        self.guard: HandshakeGuard = site.guard
        self._head = b""
        self._admitted = False

    def connectionMade(self) -> None:
        self._admitted = self.guard.opened(self.transport)

    def dataReceived(self, data: bytes) -> None:
        if not self._admitted:
            return
        head = self._head + data
        end = head.find(_END)
        if end < 0 and len(head) <= _MAX_SNIFF:
            self._head = head
            return
        self._head = b""
        if end >= 0 and _is_upgrade(head[:end]):
            protocol = self.site.websocket_factory.buildProtocol(self.addr)
        else:
            protocol = self.site.http_channel(self.addr)
        self._hand_over(protocol, head)

    def _hand_over(self, protocol: Any, data: bytes) -> None:
        transport: Any = self.transport
        # (as WebSocketResource does: under TLS the transport is the wrapper)
        if isinstance(transport, ProtocolWrapper):
            transport.wrappedProtocol = protocol
        else:
            transport.protocol = protocol
        self._admitted = False
        protocol.makeConnection(transport)
        protocol.dataReceived(data)

    def connectionLost(self, reason: Optional[Any] = None) -> None:
        # Gone before its first request was in (after the hand-over, the
        # new protocol hears of the close instead).
        self.guard.closed(self.transport)
