"""The plain WebSocket face: one connection, one request, one run.

Two subprotocols share this code; they differ only in how a request is read
and how an event is written:

* text (no subprotocol, or ``pingu``): the first message is the target; each
  output line of ping is one message; the close code says how ping ended;
* ``pingu.json``: the first message is a JSON request; each event is one
  JSON message; an ``error`` event precedes the close of a refusal.

The text mode picks its tool by path: ``/ws`` is ping, ``/ws/<tool>`` any
tool of :mod:`pingu.tools`; the ``pingu.json`` mode names it in the request.

The protocol is a thin translation layer: it turns its wire into a
request's fields and the client (:mod:`pingu.clients`), hands them to the
one request path (:func:`pingu.pipeline.request`), and turns the run's
events, or the refusal, back into messages and close codes.
"""

from __future__ import annotations

import struct
import types
from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import defer
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger

from pingu import events, pipeline, sendpath, tools
from pingu.clients import Counter, peer_client
from pingu.events import SUBPROTOCOL_JSON, SUBPROTOCOL_TEXT, CloseCode, Event
from pingu.hosts import ServerNames, origin_matches
from pingu.lag import freeze_boot_objects
from pingu.limits import Limits
from pingu.metrics import Tally
from pingu.refusal import Refused
from pingu.request import check_size, is_stop_json, is_stop_text, json_fields, text_fields
from pingu.runs import Run, RunHub

log = Logger(namespace="pingu")

# Frame headers of text messages of 126 to 65535 bytes and longer (RFC 6455 5.2).
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")

# Autobahn's own ceiling on a message, far above pingu's limit: a message
# between the two gets pingu's clear 4413 answer, a larger one is cut off by
# Autobahn (close 1009) before it is buffered whole.
_FRAME_CEILING = 64 * 1024


def safe_text(text: str, limit: int = 200) -> str:
    """Client text made fit for a log line: no control characters, bounded."""
    cleaned = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


class PinguServerProtocol(WebSocketServerProtocol):
    """One client: waiting for its request, resolving, running, closed."""

    factory: PinguWebSocketFactory
    #: frames collected during a child's chunk (pingu.sendpath), and their bytes
    _out: Optional[list[bytes]] = None
    _out_len = 0
    #: the socket to send on directly (plain TCP only; see pingu.sendpath)
    _sock: Optional[Any] = None

    def __init__(self) -> None:
        super().__init__()
        self.client: Optional[str] = None
        self.structured = False
        self.tool = tools.DEFAULT_TOOL
        self.phase = "connecting"
        self.run: Optional[Run] = None
        self._idle_call: Optional[Any] = None
        #: events sent, for the metrics: the mode's tally once the mode is known
        self._delivered = Tally()

    # -- handshake ---------------------------------------------------------------

    def connectionMade(self) -> None:
        # The HTTP request is over: this socket left the handshake guard.
        if self.factory.handshakes is not None:
            self.factory.handshakes.upgraded(self.transport)
        super().connectionMade()
        self._sock = sendpath.direct_socket(self.transport)

    def dataReceived(self, data: bytes) -> None:
        # Autobahn's own dataReceived only adds a debug line, whose arguments
        # (hltype, hlval: click's styling, inspect) it builds even with debug
        # off: three times a session (the handshake, the request, the close),
        # about 150 of a session's ~2 500 Python function calls (cProfile,
        # bench/PROFILE.md section 9).  The bytes go where it sends them.
        self._dataReceived(data)

    def _connectionMade(self) -> None:
        # As Autobahn's server protocol does, without its debug line (built
        # even with debug off: hltype, inspect), once a session.
        WebSocketProtocol._connectionMade(self)
        self.factory.countConnections += 1

    def _connectionLost(self, reason: Any) -> None:
        # Likewise: its debug line prints the Failure (a brief traceback,
        # ~2 µs) for nobody, once a session.
        WebSocketProtocol._connectionLost(self, reason)
        self.factory.countConnections -= 1

    def onConnect(self, request: Any) -> Optional[str]:
        factory = self.factory
        assert self.transport is not None
        peer = self.transport.getPeer()
        self.client = factory.client_of(getattr(peer, "host", None), request.headers)
        if factory.hub.shutting_down:
            raise ConnectionDeny(503, "the server is shutting down")
        host = request.headers.get("host", "")
        if not factory.names.allowed(host):
            factory.refusal(self.client, "host", f"host {host!r} is not this server's name")
            raise ConnectionDeny(421, "this server does not answer for that host name")
        origin = request.headers.get("origin")
        if origin is not None and not factory.origin_allowed(origin, host, self._secure()):
            factory.refusal(self.client, "origin", f"origin {origin!r} is not allowed")
            raise ConnectionDeny(403, "this origin is not allowed to connect")
        tool = _tool_of_path(request.path)
        if tool is None:
            known = ", ".join(tools.TOOLS)
            raise ConnectionDeny(404, f"no such tool: use /ws, or /ws/<tool> for one of {known}")
        self.tool = tool
        if factory.connection_count(self.client) >= factory.hub.limits.max_connections_per_client:
            factory.refusal(self.client, "connections", "too many connections")
            raise ConnectionDeny(429, "too many connections from this address")
        if len(factory.connections) >= factory.hub.limits.max_connections:
            factory.refusal(self.client, "connections", "too many connections to the server")
            raise ConnectionDeny(503, "this server has as many connections as it can hold")
        if SUBPROTOCOL_JSON in request.protocols:
            self.structured = True
            return SUBPROTOCOL_JSON
        if SUBPROTOCOL_TEXT in request.protocols:
            return SUBPROTOCOL_TEXT
        if request.protocols:
            raise ConnectionDeny(
                400, f"unknown subprotocol: offer {SUBPROTOCOL_TEXT} or {SUBPROTOCOL_JSON}"
            )
        return None

    def onOpen(self) -> None:
        self.phase = "waiting"
        self.factory.opened(self)
        self._delivered = self.factory.hub.metrics.delivered[self._mode()]
        limits = self.factory.hub.limits
        refused = self.factory.hub.behind()
        if refused is not None:
            self._refuse(refused)
            return
        self._idle_call = self.factory.reactor.callLater(
            limits.idle_timeout,
            self._refuse,
            Refused(
                CloseCode.IDLE,
                "idle",
                f"no request within {limits.idle_timeout:g} seconds",
            ),
        )

    # -- messages ----------------------------------------------------------------

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.phase in ("closing", "closed"):
            return
        if isBinary:
            self._refuse(
                Refused(CloseCode.UNSUPPORTED_DATA, "binary", "pingu takes text messages only")
            )
            return
        text = payload.decode("utf-8")  # Autobahn has validated the UTF-8
        if self.phase == "waiting":
            self._request(text)
        elif (is_stop_json if self.structured else is_stop_text)(text):
            self._stop()
        elif self.structured:
            expected = Refused(
                CloseCode.UNEXPECTED, "unexpected", 'a run is under way: only {"stop": true} now'
            )
            self._send_event(expected.event())
        else:
            self._refuse(
                Refused(CloseCode.UNEXPECTED, "unexpected", "a run is under way: only 'stop' now")
            )

    def _mode(self) -> str:
        return "json" if self.structured else "ws"

    def _secure(self) -> bool:
        return ISSLTransport.providedBy(self.transport)

    def _request(self, text: str) -> None:
        self._cancel_idle()
        hub = self.factory.hub
        try:
            check_size(text, hub.limits)
            fields = json_fields(text) if self.structured else text_fields(text, self.tool)
        except Refused as refused:
            self._refuse(refused)
            return
        self.phase = "resolving"
        d = pipeline.request(
            hub,
            fields,
            self.client or "",
            wanted=lambda: self.phase == "resolving",
            mode=self._mode(),
        )
        d.addCallback(self._started)
        d.addErrback(self._failed)

    def _started(self, run: Optional[Run]) -> None:
        if run is None or self.phase != "resolving":  # the client left or stopped meanwhile
            return
        self.phase = "running"
        self.run = run
        for event in run.add_viewer(self, self._send_event, self.client):
            self._send_event(event)

    def _failed(self, failure: Any) -> None:
        if failure.check(Refused):
            if self.phase == "resolving":
                self._refuse(failure.value)
            return
        log.failure(
            "pingu: unexpected error handling a request", failure, event="error", client=self.client
        )
        if self.phase not in ("closing", "closed"):
            self._close(CloseCode.SPAWN_FAILED, "internal error")

    def _stop(self) -> None:
        if self.run is not None:
            self.run.stop("client")
        elif self.phase == "resolving":
            self._close(CloseCode.NORMAL, "stopped before ping started")

    # -- output ------------------------------------------------------------------

    def _send_event(self, event: Event) -> None:
        if self.phase in ("closing", "closed"):
            return
        if self.state != self.STATE_OPEN:
            # The client's close frame has come and Autobahn is closing, but
            # onClose has not run yet: nothing can be sent any more (Autobahn
            # would raise Disconnected into the run's loop over its viewers).
            return
        if self.structured:
            self._delivered.value += 1
            self._send_text(events.encode(event).encode("utf-8"))
        elif event["raw"] is not None:
            self._delivered.value += 1
            raw = event["raw"]
            if "\n" in raw:  # a summary: its lines, one message each
                for part in raw.split("\n"):
                    self._send_text(part.encode("utf-8"))
            else:
                self._send_text(raw.encode("utf-8"))
        if event["type"] == events.END:
            self._flush_out()
            self._close(event["code"], _end_reason(event))
        elif self._out is None:
            # (frames collected during a chunk are checked once, at its end)
            self._check_buffered()

    def _check_buffered(self) -> None:
        if self._buffered() > self.factory.hub.limits.max_buffered:
            log.warn(
                "pingu: dropping {client}: it does not read its output",
                client=self.client,
                event="client_dropped",
                run=self.run.id if self.run is not None else None,
            )
            self.phase = "closing"
            self._out, self._out_len = None, 0
            self.dropConnection(abort=True)

    def _send_text(self, payload: bytes) -> None:
        """One text message in one unfragmented frame, framed here.

        What Autobahn's sendMessage does for a server's uncompressed text
        message, without its per-call work (type and state checks, traffic
        counters, a debug log line whose arguments are built even with
        debug off): together about half of pingu's CPU per output line.
        A compressed connection (pingu accepts none) goes through
        sendMessage.  The caller has checked that the connection is open."""
        if self._perMessageCompress is not None:
            self._flush_out()
            self.sendMessage(payload)
            return
        size = len(payload)
        if size < 126:
            frame = bytes((0x81, size)) + payload
        elif size < 65536:
            frame = _HEADER_16.pack(0x81, 126, size) + payload
        else:
            frame = _HEADER_64.pack(0x81, 127, size) + payload
        # During a child's chunk, frames are collected and written once at
        # its end; otherwise at once (pingu.sendpath).
        out = self._out
        if out is not None:
            out.append(frame)
            self._out_len += len(frame)
        elif sendpath.defer_flush(self._end_of_chunk):
            self._out = [frame]
            self._out_len = len(frame)
        else:
            sendpath.write_now(self.transport, self._sock, frame)

    def _end_of_chunk(self) -> None:
        self._flush_out()
        if self.phase not in ("closing", "closed"):
            self._check_buffered()

    def _flush_out(self) -> None:
        """Write the frames collected during a chunk, in one go."""
        out = self._out
        if out is None:
            return
        self._out, self._out_len = None, 0
        sendpath.write_now(self.transport, self._sock, out[0] if len(out) == 1 else b"".join(out))

    def sendData(self, data: bytes, sync: bool = False, chopsize: Optional[int] = None) -> None:
        # Autobahn's own writes (the handshake's answer, close, ping, pong)
        # come after pingu's collected frames, and are sent at once too;
        # its queued modes (sync, chopsize) stay Autobahn's.
        if self._out is not None:
            self._flush_out()
        if self._sock is None or sync or chopsize or self.send_queue or self.logOctets:  # type: ignore[attr-defined]  # set per connection by Autobahn
            super().sendData(data, sync, chopsize)
        else:
            sendpath.write_now(self.transport, self._sock, data)

    def _buffered(self) -> int:
        # Bytes the kernel has not taken yet, which Twisted keeps in the
        # transport: a client that stops reading makes this grow.
        transport = self.transport
        return (
            len(getattr(transport, "dataBuffer", b""))
            + getattr(transport, "_tempDataLen", 0)
            + self._out_len
        )

    def _refuse(self, refused: Refused) -> None:
        self._cancel_idle()
        if self.phase in ("closing", "closed"):
            return
        self.factory.refusal(self.client, refused.reason, refused.message)
        if self.structured:
            self._send_event(refused.event())
        self._close(refused.code, refused.message)

    def _close(self, code: int, reason: str) -> None:
        self.phase = "closing"
        if code == CloseCode.GOING_AWAY:
            # sendClose() only takes 1000 and 3000-4999, but 1001 "going
            # away" is the standard answer of a server that shuts down.
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8")[:123])
        else:
            self.sendClose(int(code), reason[:120])

    def going_away(self) -> None:
        """The server shuts down: close, unless a run's ``end`` will do it."""
        if self.run is None and self.phase not in ("closing", "closed"):
            self._close(CloseCode.GOING_AWAY, events.HOW_TEXT["shutdown"])

    # -- end -----------------------------------------------------------------

    def onClose(self, wasClean: bool, code: Optional[int], reason: Optional[str]) -> None:
        self.phase = "closed"
        self._cancel_idle()
        if self.run is not None:
            # The last (only) viewer is gone: the run stops at once.
            self.run.remove_viewer(self)
        self.factory.closed(self)

    def _cancel_idle(self) -> None:
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        self._idle_call = None


def _end_reason(end: Event) -> str:
    if end["how"] in ("shutdown", "ceiling", "spawn-failed"):
        return str(end["message"])
    if end["exit_code"] is not None:
        return f"{end['message']} (exit {end['exit_code']})"
    if end["signal"] is not None:
        return f"{end['message']} (signal {end['signal']})"
    return str(end["message"])


def _tool_of_path(path: str) -> Optional[str]:
    """``/ws`` is ping; ``/ws/<tool>`` names a tool (None: no such tool)."""
    rest = path.split("?", 1)[0].rstrip("/")
    if rest in ("", "/ws"):
        return tools.DEFAULT_TOOL
    name = rest.rsplit("/", 1)[-1]
    return name if rest == f"/ws/{name}" and name in tools.TOOLS else None


def _with_options(
    protocol: type[PinguServerProtocol], factory: WebSocketServerFactory
) -> type[PinguServerProtocol]:
    """``protocol`` with the factory's options as class attributes.

    Autobahn copies each of its ~50 options from the factory onto every
    connection (``_connectionMade``) unless the protocol's class has it
    already, and lists them, copied or not, for a debug line it formats with
    ``pprint.pformat`` whether or not debug lines are kept: 5.7 % of a
    session's CPU (bench/PROFILE.md).  Here the options are the class's, and
    its ``CONFIG_ATTRS`` is empty, so Autobahn has nothing to copy or list:
    one copy per server, nothing per connection."""
    options: dict[str, Any] = {
        name: getattr(factory, name) for name in WebSocketServerProtocol.CONFIG_ATTRS
    }
    # A function option (perMessageCompressionAccept) must not become a method.
    for name, value in options.items():
        if isinstance(value, types.FunctionType):
            options[name] = staticmethod(value)
    options["CONFIG_ATTRS"] = ()
    return type(protocol.__name__, (protocol,), options)


class PinguWebSocketFactory(WebSocketServerFactory):
    """Holds the one domain object (the hub) and what requests need."""

    protocol = PinguServerProtocol  # type: ignore[assignment]  # Twisted's stub: a factory's protocol is a callable

    def __init__(
        self,
        hub: RunHub,
        reactor: Any,
        allowed_origins: tuple[str, ...] = (),
        names: Optional[ServerNames] = None,
        trusted_proxies: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(reactor=reactor)
        self.hub = hub
        self.reactor = reactor
        self.allowed_origins = tuple(o.rstrip("/").lower() for o in allowed_origins)
        self.names = names if names is not None else ServerNames.default()
        self.trusted_proxies = trusted_proxies  # a TrustedProxies keeps its header
        self.connections: set[PinguServerProtocol] = set()
        self._per_client = Counter()
        #: the site's guard of sockets in their handshake (set by make_site)
        self.handshakes: Optional[Any] = None
        # The boot's objects out of the collector's reach first (a full
        # collection of them would count as lag), then the hub's meter of how
        # far behind the server is (RunHub.behind refuses over --max-lag).
        reactor.callWhenRunning(freeze_boot_objects)
        reactor.callWhenRunning(hub.lag.start)
        hub.metrics.factory = self
        limits: Limits = hub.limits
        self.setProtocolOptions(
            maxMessagePayloadSize=_FRAME_CEILING,
            maxFramePayloadSize=_FRAME_CEILING,
            openHandshakeTimeout=limits.handshake_timeout,
            autoPingInterval=limits.idle_timeout,
            autoPingTimeout=limits.idle_timeout,
            closeHandshakeTimeout=2,
            # A protocol violation (a message over the ceiling) is answered
            # with a close frame (1009 and a reason), not a bare TCP drop.
            failByDrop=False,
            # Autobahn's own origin check lets everything through; pingu's
            # (origin_allowed, in onConnect) decides and answers 403.
            allowedOrigins=["*"],
            allowNullOrigin=True,
        )
        # No Autobahn status page: a plain GET on /ws is answered 426.
        self.webStatus = False
        self.protocol = _with_options(self.protocol, self)

    def client_of(self, peer: Optional[str], headers: dict[str, str]) -> str:
        """The client of a connection (:func:`pingu.clients.peer_client`)."""
        return peer_client(
            peer, headers, self.trusted_proxies, self.hub.limits.client_prefix6
        )

    def origin_allowed(self, origin: str, host: str, secure: bool = False) -> bool:
        """The page that opens the socket is this server's own (same scheme,
        host and port as the ``Host`` it asked for, a name this server
        answers for), or listed with ``--allow-origin``."""
        origin = origin.strip().rstrip("/").lower()
        if origin in self.allowed_origins or "*" in self.allowed_origins:
            return True
        if origin == "null":
            return False
        # Behind a trusted proxy the scheme the browser used is the proxy's.
        scheme = None if self.trusted_proxies else ("https" if secure else "http")
        return self.names.allowed(host) and origin_matches(origin, host, scheme)

    def clients_connected(self) -> int:
        """Distinct clients with an open connection."""
        return len(self._per_client)

    def connection_count(self, client: Optional[str]) -> int:
        """Open connections from one client."""
        return self._per_client[client or ""]

    def opened(self, proto: PinguServerProtocol) -> None:
        """A connection finished its handshake."""
        self.connections.add(proto)
        self._per_client.add(proto.client or "")

    def closed(self, proto: PinguServerProtocol) -> None:
        """A connection is gone, whichever way."""
        if proto in self.connections:
            self.connections.discard(proto)
            self._per_client.remove(proto.client or "")
        if not self.connections and self._all_closed is not None:
            d, self._all_closed = self._all_closed, None
            d.callback(None)

    _all_closed: Optional[defer.Deferred[None]] = None

    def refusal(self, client: Optional[str], reason: str, message: str) -> None:
        """Log a refusal, one line, without echoing control characters; count it."""
        self.hub.metrics.refused(reason)
        log.info(
            "pingu: refused {client}: {reason}: {message}",
            client=client,
            reason=reason,
            message=safe_text(message),
            event="refused",
            face="websocket",
        )

    def shutdown(self) -> defer.Deferred[None]:
        """Close every connection (runs end through the hub); fires when all are gone."""
        for proto in list(self.connections):
            proto.going_away()
        if not self.connections:
            return defer.succeed(None)
        self._all_closed = defer.Deferred()
        return self._all_closed
