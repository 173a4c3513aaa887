"""The WebSocket side of ``pingu watch``: one run on one pingu server.

    pingu watch ws://127.0.0.1:8080/ws 127.0.0.1 -c 5

The request goes as JSON (subprotocol ``pingu.json``); every event that
comes back is printed by the :class:`~pingu.cli.printer.Printer`.  The exit
status is ping's, from the ``end`` event; 2 when the server refused, sent
something that is not an event, or the connection failed or closed before
the end.  Ctrl-C asks the server to stop ping (``{"stop": true}``), so its
statistics still print.

A server behind its load refuses a new session with close code 4503 and
"busy, retry in N s" (:mod:`pingu.lag`): the watch says so and tries again
after N seconds and a random half of that more (so that a crowd refused
together does not come back together), up to
:data:`~pingu.cli.retry.BUSY_RETRIES` times (:mod:`pingu.cli.retry`).
"""

from __future__ import annotations

import json
import random
import signal
from typing import Any, Optional, cast

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    connectWS,
)
from twisted.internet import defer
from twisted.internet.interfaces import ITCPTransport

from pingu import events
from pingu.cli.printer import EXIT_ERROR, Printer, exit_status
from pingu.cli.retry import BUSY_RETRIES, busy_delay

#: What asks the server to stop the run, as Ctrl-C stops ping.
STOP_MESSAGE = b'{"stop":true}'


def decode(payload: bytes) -> Optional[events.Event]:
    """One message from the server as an event, or ``None`` if it is not
    one (not UTF-8, not JSON, not an object with a string ``type``)."""
    try:
        event = json.loads(payload.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return event


class WatchProtocol(WebSocketClientProtocol):
    """Sends the request, prints the events, fires ``factory.done`` with
    the exit status when the connection closes."""

    factory: WatchFactory
    end: Optional[events.Event] = None
    broken = False

    def onConnect(self, response: Any) -> None:
        # Autobahn's client leaves Nagle on: each line would wait ~40 ms.
        # TCP, or TLS over TCP (whose transport passes it on)
        cast(ITCPTransport, self.transport).setTcpNoDelay(True)

    def onOpen(self) -> None:
        self.sendMessage(json.dumps(self.factory.fields).encode("utf-8"))
        self.factory.stop = self.stop

    def stop(self) -> None:
        """Ask the server to stop ping (its statistics and ``end`` follow)."""
        if self.state == self.STATE_OPEN:
            self.sendMessage(STOP_MESSAGE)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.broken:
            return  # closing: nothing more is shown
        event = None if isBinary else decode(payload)
        if event is None:
            self.factory.printer.error("the server sent something that is not a pingu event")
            self.broken = True
            self.sendClose()
            return
        if event["type"] == events.ERROR and event.get("code") == events.CloseCode.OVERLOADED:
            return  # told by the close, which comes next
        self.factory.printer.event(event)
        if event["type"] in (events.END, events.ERROR):
            self.end = event

    def onClose(self, wasClean: bool, code: Optional[int], reason: Optional[str]) -> None:
        self.factory.stop = lambda: None
        if code == events.CloseCode.OVERLOADED and self.factory.retry_busy(reason):
            return
        if self.end is None and not self.broken:
            why = f": {reason}" if reason else ""
            self.factory.printer.error(f"connection closed before the end{why} ({code})")
        ended = self.end if self.end and self.end["type"] == events.END else None
        self.factory.finish(EXIT_ERROR if self.broken else exit_status(ended))


class WatchFactory(WebSocketClientFactory):
    """One watch: the request, the printer, and the Deferred of its status."""

    protocol = WatchProtocol  # type: ignore[assignment]  # Twisted's stub: a factory's protocol is a callable

    def __init__(self, url: str, fields: dict[str, Any], printer: Printer, reactor: Any) -> None:
        super().__init__(url, protocols=[events.SUBPROTOCOL_JSON], reactor=reactor)
        self.fields = fields
        self.printer = printer
        self.done: defer.Deferred[int] = defer.Deferred()
        self.stop: Any = lambda: None
        self.reactor = reactor
        self.retries = BUSY_RETRIES
        #: the next attempt after a "busy" refusal, while it waits
        self._retry: Optional[Any] = None

    def retry_busy(self, reason: Optional[str]) -> bool:
        """After a "busy, retry in N s" refusal: wait, then connect again
        (False when no try is left: the refusal is the answer)."""
        if self.retries <= 0 or self.done.called:
            if reason:
                self.printer.error(f"the server is busy: {reason}; giving up")
            return False
        self.retries -= 1
        delay = busy_delay(reason, random.random())
        self.printer.error(f"the server is busy: trying again in {delay:.1f} s")
        self._retry = self.reactor.callLater(delay, self._again)
        self.stop = self._give_up
        return True

    def _again(self) -> None:
        self._retry = None
        self.stop = lambda: None
        connectWS(self)

    def _give_up(self) -> None:
        """Ctrl-C while waiting to try again."""
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        self.printer.error("stopped before the server took the run")
        self.finish(EXIT_ERROR)

    def finish(self, status: int) -> None:
        """The watch is over with ``status`` (only the first call counts)."""
        if not self.done.called:
            self.done.callback(status)

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        if not self.done.called:
            self.printer.error(f"cannot connect to {self.url}: {reason.getErrorMessage()}")
            self.finish(EXIT_ERROR)

    def clientConnectionLost(self, connector: Any, reason: Any) -> None:
        # onClose has normally fired the status; this covers a lost handshake
        if not self.done.called and self._retry is None:
            self.printer.error(f"lost the connection to {self.url}: {reason.getErrorMessage()}")
            self.finish(EXIT_ERROR)


def watch_websocket(
    reactor: Any, url: str, fields: dict[str, Any], printer: Printer
) -> defer.Deferred[int]:
    """Run one ping through the pingu WebSocket server at ``url``; a Deferred
    firing the exit status.  Ctrl-C (SIGINT) asks the server to stop it."""
    factory = WatchFactory(url, fields, printer, reactor)

    def interrupted(*_: Any) -> None:
        reactor.callFromThread(lambda: factory.stop())

    signal.signal(signal.SIGINT, interrupted)
    connectWS(factory)
    return factory.done
