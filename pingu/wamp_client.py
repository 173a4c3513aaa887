"""The WAMP side of ``pingu watch``: one target from one or several nodes.

Without ``--node`` every node the router knows answers.  With several nodes
each line is prefixed with its node's name.  The exit status is ping's own
when one node ran, and the worst of them (the highest) when several did.
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
from pingu.wamp import NODES_PROCEDURE


class RunFollower:
    """Follows one run's topic: backlog first, then live, by event number."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self.last_n = 0
        self.end: Optional[events.Event] = None
        self.done: defer.Deferred[Optional[events.Event]] = defer.Deferred()
        self.live: list[events.Event] = []
        self.caught_up = False

    def take(self, event: events.Event) -> None:
        """A live event (held until the backlog is in)."""
        if not self.caught_up:
            self.live.append(event)
        else:
            self._show(event)

    def catch_up(self, backlog: list[events.Event]) -> None:
        """The backlog arrived: show it, then what came live meanwhile."""
        for event in backlog:
            self._show(event)
        self.caught_up = True
        held, self.live = self.live, []
        for event in held:
            self._show(event)

    def _show(self, event: events.Event) -> None:
        n = event.get("n", 0)
        if n <= self.last_n:
            return  # already shown from the backlog
        self.last_n = n
        self.printer.event(event)
        if event["type"] == events.END and not self.done.called:
            self.end = event
            self.done.callback(event)


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

    @component.on_join
    @defer.inlineCallbacks
    def joined(session: Any, details: Any) -> Any:
        try:
            names = nodes or (yield session.call(NODES_PROCEDURE))
            if not names:
                raise RuntimeError("no pingu node is on this router")
            several = len(names) > 1
            followers = []
            runs = []
            for name in names:
                printer = Printer(out, err, prefix=f"{name}: " if several else "")
                follower = RunFollower(printer)
                reply = yield session.call(f"pingu.{name}.start", target, **options)
                yield session.subscribe(follower.take, reply["topic"])
                # the events between start and subscribe: ask again, drop doubles
                try:
                    backlog = yield session.call(f"pingu.{name}.backlog", reply["run"])
                except ApplicationError:
                    backlog = reply["backlog"]  # the run has ended already
                follower.catch_up(backlog)
                followers.append(follower)
                runs.append((name, reply["run"]))

            def interrupted(*_: Any) -> None:
                for name, run in runs:
                    reactor.callFromThread(session.call, f"pingu.{name}.stop", run)
                reactor.callFromThread(session.leave)

            signal.signal(signal.SIGINT, interrupted)
            ends = yield defer.gatherResults([f.done for f in followers])
            worst = max(exit_status(end) for end in ends)
            if not status.called:
                status.callback(worst)
        except ApplicationError as e:
            err.write(f"pingu: {e.args[0] if e.args else e.error}\n")
            if not status.called:
                status.callback(EXIT_ERROR)
        except Exception as e:  # a refused connection, no node...
            err.write(f"pingu: {e}\n")
            if not status.called:
                status.callback(EXIT_ERROR)
        session.leave()

    @component.on_connectfailure
    def failed(_component: Any, reason: Any) -> None:
        if not status.called:  # (after a clean leave, a lost transport is no news)
            err.write(f"pingu: cannot connect to {router}: {reason}\n")
            status.callback(EXIT_ERROR)

    done = component.start(reactor)
    done.addErrback(lambda _f: None)
    done.addBoth(lambda _r: None if status.called else status.callback(EXIT_ERROR))
    return status
