"""The WAMP side of ``pingu watch``: one target from one or several nodes.

    pingu watch --router ws://127.0.0.1:8081/ws --node alpha [--node beta] 127.0.0.1

The runs start on every node at once.  Without ``--node`` every node the
router knows answers (``pingu.nodes``).  With several nodes each line is
prefixed with its node's name.  The exit status is ping's own when one node
ran, and the worst of them (the highest) when several did; 2 when the
router or a node refused.

Ctrl-C tells each node that this viewer is gone (``stop``): a run nobody
else watches is stopped as ping stops on Ctrl-C, and its statistics are
printed; a run that others still watch goes on for them, and this client
leaves it (exit status 0 if a reply came, else 1).
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Optional

from autobahn.twisted.component import Component
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer

from pingu import events
from pingu.client import EXIT_ERROR, Printer, exit_status
from pingu.events import NO_SUCH_RUN, NODES_PROCEDURE

#: Seconds to wait for the ``end`` after asking a node to stop.
STOP_WAIT = 10.0


class RunFollower:
    """Follows one run: the backlog and the live events, in order of ``n``,
    each once (the protocol of :mod:`pingu.wamp`)."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self.last_n = 0
        self.replies = 0
        self.end: Optional[events.Event] = None
        self.done: defer.Deferred[Optional[events.Event]] = defer.Deferred()
        self._held: Optional[list[events.Event]] = []  # live events before the backlog

    def take(self, event: events.Event) -> None:
        """A live event from the topic (held until the backlog is in)."""
        if self._held is not None:
            self._held.append(event)
        else:
            self._show(event)

    def catch_up(self, backlog: list[events.Event]) -> None:
        """The backlog arrived: show it, then what came live meanwhile."""
        held, self._held = self._held or [], None
        for event in sorted([*backlog, *held], key=lambda e: e.get("n", 0)):
            self._show(event)

    def _show(self, event: events.Event) -> None:
        n = event.get("n", 0)
        if n <= self.last_n:
            return  # had it already
        self.last_n = n
        if event["type"] == events.REPLY:
            self.replies += 1
        self.printer.event(event)
        if event["type"] == events.END:
            self.end = event
            self.finish()

    def finish(self) -> None:
        """Nothing more will be shown."""
        if not self.done.called:
            self.done.callback(self.end)

    def status(self) -> int:
        """ping's exit status, or this client's own when it left a shared run."""
        if self.end is not None:
            return exit_status(self.end)
        return 0 if self.replies else 1


class NodeRun:
    """One node's part of a watch: start, subscribe, catch up, stop."""

    def __init__(self, session: Any, node: str, printer: Printer) -> None:
        self.session = session
        self.node = node
        self.follower = RunFollower(printer)
        self.run: Optional[str] = None
        self.failed = False

    @defer.inlineCallbacks
    def begin(self, target: str, options: dict[str, Any]) -> Any:
        try:
            reply = yield self.session.call(f"pingu.{self.node}.start", target, **options)
            self.run = reply["run"]
            yield self.session.subscribe(self.follower.take, reply["topic"])
            # anything published between start and the subscription
            try:
                backlog = yield self.session.call(f"pingu.{self.node}.backlog", self.run)
            except ApplicationError as e:
                if e.error != NO_SUCH_RUN:
                    raise
                backlog = reply["backlog"]
            self.follower.catch_up(backlog)
        except ApplicationError as e:
            self.error(_message(e, self.node))
        except Exception as e:  # the connection went away meanwhile
            self.error(str(e) or type(e).__name__)

    def error(self, message: str) -> None:
        self.failed = True
        self.follower.printer.err.write(f"{self.follower.printer.prefix}pingu: {message}\n")
        self.follower.printer.err.flush()
        self.follower.finish()

    @defer.inlineCallbacks
    def stop(self, reactor: Any) -> Any:
        """This viewer is gone: wait for the end if the run ends with it."""
        if self.run is None or self.follower.done.called:
            return
        try:
            answer = yield self.session.call(f"pingu.{self.node}.stop", self.run)
        except ApplicationError:
            answer = {"ending": False}
        if not answer.get("ending"):
            others = answer.get("viewers", 0)
            self.follower.printer.err.write(
                f"{self.follower.printer.prefix}pingu: left the run; it goes on for "
                f"{others} other viewer{'s' if others != 1 else ''}\n"
            )
            self.follower.finish()
            return
        reactor.callLater(STOP_WAIT, self.follower.finish)

    def status(self) -> int:
        return EXIT_ERROR if self.failed else self.follower.status()


def _message(error: ApplicationError, node: str) -> str:
    if error.error == "wamp.error.no_such_procedure":
        return f"no node {node!r} on this router (pingu.nodes lists them)"
    if error.error == "wamp.error.not_authorized":
        return f"not allowed: {error.args[0] if error.args else error.error}"
    return str(error.args[0]) if error.args else error.error


def watch_wamp(
    reactor: Any,
    router: str,
    realm: str,
    nodes: list[str],
    target: str,
    options: dict[str, Any],
    out: Any = None,
    err: Any = None,
) -> defer.Deferred[int]:
    """Ping ``target`` from ``nodes`` through the router; fires the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    status: defer.Deferred[int] = defer.Deferred()
    component = Component(
        transports=[
            {"type": "websocket", "url": router, "max_retries": 0, "options": {"tcpNoDelay": True}}
        ],
        realm=realm,
    )
    parts: list[NodeRun] = []

    def finish(code: int) -> None:
        if not status.called:
            status.callback(code)

    @component.on_join
    @defer.inlineCallbacks
    def joined(session: Any, details: Any) -> Any:
        try:
            names = list(dict.fromkeys(nodes))
            if not names:
                try:
                    names = yield session.call(NODES_PROCEDURE)
                except ApplicationError as e:
                    if e.error != "wamp.error.no_such_procedure":
                        raise
            if not names:
                raise RuntimeError(f"no pingu node is on the router {router}")
            several = len(names) > 1
            for name in names:
                printer = Printer(out, err, prefix=f"{name}: " if several else "")
                parts.append(NodeRun(session, name, printer))

            def interrupted(*_: Any) -> None:
                for part in parts:
                    reactor.callFromThread(part.stop, reactor)

            signal.signal(signal.SIGINT, interrupted)
            # every node at once, so that the vantage points ping side by side
            begun = [part.begin(target, options) for part in parts]
            yield defer.DeferredList(begun, consumeErrors=True)
            yield defer.DeferredList([part.follower.done for part in parts], consumeErrors=True)
            finish(max(part.status() for part in parts))
        except ApplicationError as e:
            err.write(f"pingu: {_message(e, '?')}\n")
            finish(EXIT_ERROR)
        except Exception as e:  # no node on the router, ...
            err.write(f"pingu: {e}\n")
            finish(EXIT_ERROR)
        yield session.leave()

    @component.on_leave
    def left(session: Any, details: Any) -> None:
        if not status.called and details.reason not in (
            "wamp.close.normal",
            "wamp.close.goodbye_and_out",
        ):
            err.write(f"pingu: the router ended the session: {details.reason} {details.message}\n")
            finish(EXIT_ERROR)

    @component.on_connectfailure
    def failed(_component: Any, reason: Any) -> None:
        if not status.called:
            err.write(f"pingu: cannot connect to {router}: {reason}\n")
            finish(EXIT_ERROR)

    def over(_: Any) -> None:
        if not status.called:
            err.write(f"pingu: lost the connection to {router}\n")
            finish(EXIT_ERROR)

    component.start(reactor).addBoth(over)
    return status
