"""Sockets that have not finished their HTTP request or WebSocket upgrade.

A client that opens sockets and trickles its request a byte at a time
costs a descriptor and a buffer each, and Twisted's own timeout is reset
by every byte.  So every HTTP connection gets an absolute deadline
(``--handshake-timeout``): unless it has become a WebSocket by then, it is
closed, however busy it looks.  And the sockets still in that state are
counted, per client (``--max-handshakes-per-client``) and in total
(``--max-handshakes``): over either, a new socket is closed at once, so one
address's flood never keeps another client from being served.

Only a socket with a request in progress counts.  An HTTP/1.1 keep-alive
connection that got its answer is idle: it leaves the count (and its
deadline) until its next request's first byte, when it is counted again
under the same caps; Twisted's idle timeout closes it meanwhile.  A browser
keeps up to six of those per page, and users behind one address (an office,
a NAT) would otherwise fill the per-client cap with them and have their
WebSockets refused.  Idle sockets are capped apart, by the same figures (per
client and in total): over either, the one that just went idle is closed
(its answer is delivered first), so that a client cannot hold descriptors
by making requests and keeping their connections.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http

from pingu.clients import Counter, client_key, in_networks

log = Logger(namespace="pingu")


class HandshakeGuard:
    """The sockets in their handshake, by client."""

    def __init__(
        self,
        reactor: Any,
        deadline: float,
        per_client: int,
        total: int,
        prefix6: int = 64,
        trusted_proxies: tuple[Any, ...] = (),
        metrics: Optional[Any] = None,
    ) -> None:
        self.reactor = reactor
        #: a :class:`pingu.metrics.Metrics` that counts the sockets refused
        self.metrics = metrics
        self.deadline = deadline
        self.per_client = per_client
        self.total = total
        self.prefix6 = prefix6
        self.trusted_proxies = trusted_proxies
        self.pending = Counter()
        self._channels: dict[Any, tuple[str, Any]] = {}  # transport -> (client, timer)
        #: idle keep-alive sockets, by client
        self.idle_sockets = Counter()
        self._idle: dict[Any, str] = {}  # transport -> client

    def _key(self, host: Optional[str]) -> str:
        key = client_key(host, self.prefix6)
        # A trusted proxy's sockets carry many clients: the total bounds them.
        return f"proxy:{key}" if in_networks(host or "", self.trusted_proxies) else key

    def opened(self, transport: Any) -> bool:
        """A socket was accepted, or an idle one began a request; False (and
        it is closed) when over a cap.  A socket counted already stays so."""
        if transport in self._channels:
            return True
        self._wake(transport)
        key = self._key(getattr(transport.getPeer(), "host", None))
        over_client = not key.startswith("proxy:") and self.pending[key] >= self.per_client
        if over_client or self.pending.total >= self.total:
            log.info(
                "pingu: refused {client}: too many sockets in their handshake",
                client=key,
                event="refused",
                reason="handshakes",
            )
            if self.metrics is not None:
                self.metrics.refused("handshakes")
            transport.abortConnection()
            return False
        self.pending.add(key)
        timer = self.reactor.callLater(self.deadline, self._expired, transport)
        self._channels[transport] = (key, timer)
        return True

    def upgraded(self, transport: Any) -> None:
        """The socket became a WebSocket: its handshake is over."""
        self._release(transport)

    def idle(self, transport: Any) -> bool:
        """The socket's request was answered and no other one is under way:
        True if it may wait for its next one, False (the caller closes it)
        when its client, or the server, holds as many idle sockets as the
        caps allow."""
        entry = self._channels.get(transport)
        peer = getattr(transport.getPeer(), "host", None)
        key = entry[0] if entry is not None else self._key(peer)
        self._release(transport)
        over_client = not key.startswith("proxy:") and self.idle_sockets[key] >= self.per_client
        if over_client or self.idle_sockets.total >= self.total:
            return False
        self.idle_sockets.add(key)
        self._idle[transport] = key
        return True

    def closed(self, transport: Any) -> None:
        """The socket is gone."""
        self._release(transport)
        self._wake(transport)

    def _wake(self, transport: Any) -> None:
        key = self._idle.pop(transport, None)
        if key is not None:
            self.idle_sockets.remove(key)

    def _expired(self, transport: Any) -> None:
        entry = self._channels.pop(transport, None)
        if entry is not None:
            self.pending.remove(entry[0])
            # A clean close: nothing of ours is queued for a request that never
            # finished, so this is a FIN now, not a reset.
            transport.loseConnection()

    def _release(self, transport: Any) -> None:
        entry = self._channels.pop(transport, None)
        if entry is not None:
            key, timer = entry
            self.pending.remove(key)
            if timer.active():
                timer.cancel()


class GuardedChannel(http.HTTPChannel):
    """An HTTP connection under the site's :class:`HandshakeGuard`, counted
    while a request is in progress."""

    guard: HandshakeGuard
    #: answered, with no request under way: not counted by the guard
    _idle = False

    def connectionMade(self) -> None:
        if self.guard.opened(self.transport):
            super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        if self._idle:
            self._idle = False
            if not self.guard.opened(self.transport):
                return
        super().dataReceived(data)

    def requestDone(self, request: Any) -> None:
        super().requestDone(request)
        # Persistent, no pipelined request started from the buffer, no
        # partial one waiting in it: idle until the next byte.
        transport = self.transport
        if (
            self.persistent
            and not self._handlingRequest
            and not self._buffer
            and transport is not None
            and not getattr(transport, "disconnecting", False)
        ):
            if self.guard.idle(transport):
                self._idle = True
            else:
                transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.guard.closed(self.transport)
        super().connectionLost(reason)
