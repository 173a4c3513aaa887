"""The WAMP side of ``pingu watch``: one target from one or several nodes.

    pingu watch --router ws://127.0.0.1:8081/ws --node alpha [--node beta] 127.0.0.1

The runs start on every node at once.  Without ``--node`` every node the
router knows answers (:data:`~pingu.events.NODES_PROCEDURE`).  With several
nodes each line is prefixed with its node's name.  The exit status is
ping's own when one node ran, and the worst of them (the highest) when
several did; 2 when the router or a node refused.

Ctrl-C tells each node that this viewer is gone (``stop``): a run nobody
else watches is stopped as ping stops on Ctrl-C, and its statistics are
printed; a run that others still watch goes on for them, and this client
leaves it (exit status 0 if a reply came, else 1).

A call refused for load (the node's ``pingu.error.busy``, "busy, retry in
N s"; the router's ``crossbar.error.max_concurrency_reached``) is tried again
after a while with jitter, a few times, saying so (:mod:`pingu.cli.retry`):
``start``, ``backlog`` and ``pingu.nodes``.  Ctrl-C while it waits gives up.

Only the names in :mod:`pingu.events` tie this module to the node: the
topic it subscribes to is the one those names give for the run id, never
one the node chose.
"""

from __future__ import annotations

import random
import signal
import sys
from typing import IO, Any, Callable, Optional

from autobahn.twisted.component import Component
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, task

from pingu import events
from pingu.cli.args import DEFAULT_BACKLOG_PAGE
from pingu.cli.printer import EXIT_ERROR, EXIT_NO_REPLY, EXIT_OK, Printer, exit_status
from pingu.cli.retry import LOAD_ERRORS, retry_delay
from pingu.events import (
    MAX_CONCURRENCY_REACHED,
    NO_SUCH_RUN,
    NODES_PROCEDURE,
    node_uri,
    run_topic,
)

#: Seconds to wait for the ``end`` after asking a node to stop.
STOP_WAIT = 10.0
#: The router's error for a procedure nobody registered (a node that is not there).
NO_SUCH_PROCEDURE = "wamp.error.no_such_procedure"
#: The router's error for a call the router's authorization refused.
NOT_AUTHORIZED = "wamp.error.not_authorized"
#: How a session ends when the connection went (a router restart, a network blip).
TRANSPORT_LOST = "wamp.close.transport_lost"
#: Reconnections tried after the router went (0.5 s, growing to 3 s: ~30 s).
RECONNECT_TRIES = 12
#: Seconds (one try a second) a resumed watch waits for its node to rejoin.
RESUME_TRIES = 30
#: How a session ends when it was this client that left.
NORMAL_CLOSE = ("wamp.close.normal", "wamp.close.goodbye_and_out")


class StillBusy(Exception):
    """A call was refused for load as many times as a watch tries it."""


class RetryingCaller:
    """Calls through the router, each tried again after a refusal for load
    (:func:`pingu.cli.retry.retry_delay`), saying so with ``say``.

    ``who`` names what answers, for people ("node alpha"); ``jitter`` gives
    the random part of each wait (0 to 1)."""

    def __init__(
        self,
        reactor: Any,
        who: str,
        say: Callable[[str], None],
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.reactor = reactor
        self.who = who
        self.say = say
        self.jitter = jitter
        #: the wait before the next try, while there is one
        self._wait: Optional[defer.Deferred[None]] = None

    @defer.inlineCallbacks
    def call(self, session: Any, procedure: str, *args: Any, **kwargs: Any) -> Any:
        """``session.call(procedure, *args, **kwargs)``, tried again while
        it is refused for load; :class:`StillBusy` after the last try,
        ``CancelledError`` when :meth:`give_up` ended a wait."""
        tries = 0
        while True:
            try:
                answer = yield session.call(procedure, *args, **kwargs)
                return answer
            except ApplicationError as e:
                delay = retry_delay(e.error, _text(e), tries, self.jitter())
                if delay is None and e.error not in LOAD_ERRORS:
                    raise
                why = busy_reason(e)
                if delay is None:
                    raise StillBusy(
                        f"{self.who} is still busy after {tries + 1} tries: giving up ({why})"
                    ) from None
            tries += 1
            self.say(f"{self.who} is busy: trying again in {delay:.1f} s ({why})")
            self._wait = task.deferLater(self.reactor, delay, lambda: None)
            try:
                yield self._wait
            finally:
                self._wait = None

    def give_up(self) -> bool:
        """Stop waiting to try again (Ctrl-C); False when it was not waiting."""
        if self._wait is None:
            return False
        self._wait.cancel()
        return True


def _text(error: ApplicationError) -> Optional[str]:
    return str(error.args[0]) if error.args else None


def busy_reason(error: ApplicationError) -> str:
    """Why a call was refused for load, for people."""
    if error.error == MAX_CONCURRENCY_REACHED:
        return "the router holds as many calls for it as it takes"
    return _text(error) or error.error


def _number(event: events.Event) -> int:
    n = event.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) else 0


def _events(answer: Any) -> list[events.Event]:
    """The events in a backlog answer (dicts with a string ``type`` only)."""
    if not isinstance(answer, (list, tuple)):
        return []
    return [e for e in answer if isinstance(e, dict) and isinstance(e.get("type"), str)]


class RunFollower:
    """Follows one run: the backlog and the live events, in order of ``n``,
    each once (the protocol of the node: subscribe, then fetch the backlog)."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self.last_n = 0
        self.replies = 0
        self.end: Optional[events.Event] = None
        self.done: defer.Deferred[Optional[events.Event]] = defer.Deferred()
        self._held: Optional[list[events.Event]] = []  # live events before the backlog

    def take(self, event: Any, *_args: Any, **_kwargs: Any) -> None:
        """A live event from the topic (held until the backlog is in);
        anything that is not an event is dropped."""
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return
        if self._held is not None:
            self._held.append(event)
        else:
            self._show(event)

    def hold(self) -> None:
        """A new subscription is being made: hold live events until the
        backlog that fills the gap is in."""
        if self._held is None:
            self._held = []

    def catch_up(self, backlog: Any) -> None:
        """The backlog arrived: show it, then what came live meanwhile."""
        held, self._held = self._held or [], None
        valid = [e for e in backlog or () if isinstance(e, dict) and isinstance(e.get("type"), str)]
        for event in sorted([*valid, *held], key=_number):
            self._show(event)

    def _show(self, event: events.Event) -> None:
        n = _number(event)
        if n <= self.last_n:
            return  # had it already (or it has no number: not from a run)
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
        return EXIT_OK if self.replies else EXIT_NO_REPLY


class NodeRun:
    """One node's part of a watch: start, subscribe, catch up, stop.

    ``backlog_page`` is the node's ``--max-backlog-page``: ``start``'s reply
    carries the first page of the backlog, and each ``backlog(run, since=n)``
    at most that many events numbered above ``n``; a full page means there
    may be more, so the watcher asks again from the last ``n`` it got."""

    def __init__(
        self,
        session: Any,
        node: str,
        printer: Printer,
        backlog_page: int = DEFAULT_BACKLOG_PAGE,
        reactor: Any = None,
    ) -> None:
        self.session = session
        self.node = node
        self.printer = printer
        self.backlog_page = backlog_page
        self.follower = RunFollower(printer)
        self.run: Optional[str] = None
        self.failed = False
        if reactor is None:
            from twisted.internet import reactor
        #: start and backlog, tried again while refused for load
        self.caller = RetryingCaller(reactor, f"node {node}", printer.error)

    @defer.inlineCallbacks
    def begin(self, target: str, options: dict[str, Any]) -> Any:
        """Start (or join) the run on the node and follow it."""
        try:
            reply = yield self.caller.call(
                self.session, node_uri(self.node, "start"), target, **options
            )
            if not isinstance(reply, dict) or not isinstance(reply.get("run"), str):
                raise ValueError(f"node {self.node} answered start with no run id")
            self.run = reply["run"]
            yield self.session.subscribe(self.follower.take, run_topic(self.node, self.run))
            # the rest of the backlog, and what was published between start
            # and the subscription
            backlog = yield self.fetch_backlog(_events(reply.get("backlog")))
            self.follower.catch_up(backlog)
        except ApplicationError as e:
            self.error(refusal(e, self.node))
        except defer.CancelledError:  # Ctrl-C while waiting to try again
            if self.run is None:
                self.error(f"stopped before node {self.node} took the run")
            else:
                self.follower.catch_up([])  # what came live; stop() ends the run
        except Exception as e:  # the connection went away meanwhile, a bad answer
            self.error(str(e) or type(e).__name__)

    @defer.inlineCallbacks
    def resume(self, session: Any, reactor: Any) -> Any:
        """The router came back (a new session): follow the same run again,
        the gap filled from the backlog by ``n`` once the node is back too."""
        self.session = session
        if self.run is None or self.follower.done.called:
            return
        try:
            self.follower.hold()
            yield session.subscribe(self.follower.take, run_topic(self.node, self.run))
            for _ in range(RESUME_TRIES):
                try:
                    backlog = yield self.fetch_backlog([], since=self.follower.last_n)
                    break
                except ApplicationError as e:
                    if e.error != NO_SUCH_PROCEDURE:
                        raise
                    # the node has not rejoined yet: its run waits for it
                    yield task.deferLater(reactor, 1.0, lambda: None)
            else:
                raise RuntimeError(f"node {self.node} did not come back to the router")
            self.follower.catch_up(backlog)
        except ApplicationError as e:
            self.error(refusal(e, self.node))
        except defer.CancelledError:  # Ctrl-C while waiting to try again
            self.follower.catch_up([])
        except Exception as e:
            self.error(str(e) or type(e).__name__)

    @defer.inlineCallbacks
    def fetch_backlog(self, first: list[events.Event], since: int = 0) -> Any:
        """Every backlog event: ``first`` (start's page), then pages of
        ``backlog(run, since=n)`` from the last ``n`` while they come back
        full.  A run the node no longer knows keeps what came so far."""
        got = list(first)
        since = max((_number(e) for e in got), default=since)
        while True:
            try:
                page = yield self.caller.call(
                    self.session, node_uri(self.node, "backlog"), self.run, since=since
                )
            except ApplicationError as e:
                if e.error != NO_SUCH_RUN:
                    raise
                return got
            page = _events(page)
            got += page
            last = max((_number(e) for e in page), default=since)
            # a page that is not full is the last; one that does not move
            # ``since`` on would be asked for again for ever
            if len(page) < self.backlog_page or last <= since:
                return got
            since = last

    def error(self, message: str) -> None:
        """This node's part failed: say why, and count it as exit status 2."""
        self.failed = True
        self.printer.error(message)
        self.follower.finish()

    @defer.inlineCallbacks
    def stop(self, reactor: Any) -> Any:
        """This viewer is gone: wait for the end if the run ends with it."""
        self.caller.give_up()
        if self.run is None or self.follower.done.called:
            return
        try:
            answer = yield self.session.call(node_uri(self.node, "stop"), self.run)
        except ApplicationError:
            answer = None
        if not isinstance(answer, dict):
            answer = {"ending": False}
        if not answer.get("ending"):
            others = answer.get("viewers")
            others = others if isinstance(others, int) and not isinstance(others, bool) else 0
            self.printer.error(
                f"left the run; it goes on for {others} other viewer{'s' if others != 1 else ''}"
            )
            self.follower.finish()
            return
        reactor.callLater(STOP_WAIT, self.follower.finish)

    def status(self) -> int:
        """This node's exit status."""
        return EXIT_ERROR if self.failed else self.follower.status()


def refusal(error: ApplicationError, node: str) -> str:
    """What a WAMP error from ``node`` (or the router) means, for people."""
    if error.error == NO_SUCH_PROCEDURE:
        return f"no node {node!r} on this router ({NODES_PROCEDURE} lists them)"
    if error.error == NOT_AUTHORIZED:
        return f"not allowed: {error.args[0] if error.args else error.error}"
    return str(error.args[0]) if error.args else str(error.error)


def node_names(answer: Any) -> list[str]:
    """The node names in an answer of :data:`~pingu.events.NODES_PROCEDURE`
    (strings only, each once, in order)."""
    if not isinstance(answer, (list, tuple)):
        return []
    return list(dict.fromkeys(name for name in answer if isinstance(name, str) and name))


def watch_wamp(
    reactor: Any,
    router: str,
    realm: str,
    nodes: list[str],
    target: str,
    options: dict[str, Any],
    out: Optional[IO[str]] = None,
    err: Optional[IO[str]] = None,
    backlog_page: int = DEFAULT_BACKLOG_PAGE,
) -> defer.Deferred[int]:
    """Ping ``target`` from ``nodes`` (every node when empty) through the
    router; a Deferred firing the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    console = Printer(out, err)
    status: defer.Deferred[int] = defer.Deferred()
    component = Component(
        transports=[
            {
                "type": "websocket",
                "url": router,
                # a router that restarts is back within seconds: follow it,
                # as the nodes do, for about half a minute
                "max_retries": RECONNECT_TRIES,
                "initial_retry_delay": 0.5,
                "max_retry_delay": 3,
                "options": {"tcpNoDelay": True},
            }
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
        if parts:  # back after the router went: the same runs, the gap filled
            console.error(f"back on {router}")
            resumed = [part.resume(session, reactor) for part in parts]
            yield defer.DeferredList(resumed, consumeErrors=True)
            return
        try:
            names = list(dict.fromkeys(nodes))
            if not names:
                try:
                    listing = RetryingCaller(reactor, NODES_PROCEDURE, console.error)
                    names = node_names((yield listing.call(session, NODES_PROCEDURE)))
                except ApplicationError as e:
                    if e.error != NO_SUCH_PROCEDURE:
                        raise
            if not names:
                raise RuntimeError(f"no pingu node is on the router {router}")
            several = len(names) > 1
            for name in names:
                printer = Printer(out, err, prefix=f"{name}: " if several else "")
                parts.append(NodeRun(session, name, printer, backlog_page, reactor))

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
            console.error(refusal(e, "?"))
            finish(EXIT_ERROR)
        except Exception as e:  # no node on the router, ...
            console.error(e)
            finish(EXIT_ERROR)
        yield session.leave()

    @component.on_leave
    def left(session: Any, details: Any) -> None:
        if status.called or details.reason in NORMAL_CLOSE:
            return
        if details.reason == TRANSPORT_LOST and parts:
            console.error(f"lost {router}: reconnecting (the nodes keep the runs meanwhile)")
            return
        console.error(f"the router ended the session: {details.reason} {details.message}")
        finish(EXIT_ERROR)

    @component.on_connectfailure
    def failed(_component: Any, reason: Any) -> None:
        if parts:
            return  # following runs already: the runner tries again (RECONNECT_TRIES)
        if not status.called:
            console.error(f"cannot connect to {router}: {reason}")
            finish(EXIT_ERROR)

    def over(_: Any) -> None:
        if not status.called:
            console.error(f"lost the connection to {router}")
            finish(EXIT_ERROR)

    component.start(reactor).addBoth(over)
    return status
