"""``pingu watch`` over WAMP tries a call refused for load again
(:mod:`pingu.cli.retry`, :class:`pingu.cli.wamp.RetryingCaller`): against a
FAKE session (the router and node's answers, as a test plays them) and a
fake clock, so that every wait is a number, not a sleep.  The same against
a real Crossbar and node: ``tests/test_wamp_overload.py``.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer
from twisted.internet.task import Clock

from pingu.cli import retry
from pingu.cli.printer import EXIT_ERROR, Printer
from pingu.cli.wamp import NodeRun, RetryingCaller
from pingu.events import MAX_CONCURRENCY_REACHED

BUSY = ApplicationError("pingu.error.busy", "busy, retry in 2 s", code=4503, reason="busy")
FULL = ApplicationError(
    MAX_CONCURRENCY_REACHED,
    "maximum concurrency 256 of callee/endpoint reached (on non-shared/single registration)",
)
INVALID = ApplicationError("pingu.error.invalid_request", "no such tool", code=4400)
START = {"type": "start", "raw": None, "n": 1}
REPLY = {"type": "reply", "raw": "64 bytes from 127.0.0.1", "n": 2}
END = {"type": "end", "raw": None, "how": "completed", "exit_code": 0, "n": 3}


class Session:
    """A FAKE router session: each procedure answers from its own list, in
    order (an exception is raised as the router's or node's error); the
    last answer repeats."""

    def __init__(self, **answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def call(self, procedure: str, *args: Any, **kwargs: Any) -> defer.Deferred:
        name = procedure.rsplit(".", 1)[-1]
        self.calls.append(name)
        queue = self.answers[name]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return defer.fail(answer) if isinstance(answer, Exception) else defer.succeed(answer)

    def subscribe(self, handler: Any, topic: str) -> defer.Deferred:
        self.calls.append("subscribe")
        return defer.succeed(None)


def watch(session: Session, jitter: float = 0.5) -> tuple[NodeRun, Clock, io.StringIO, io.StringIO]:
    """One node's part of a watch, begun."""
    clock = Clock()
    out, err = io.StringIO(), io.StringIO()
    part = NodeRun(session, "alpha", Printer(out, err), reactor=clock)
    part.caller.jitter = lambda: jitter
    part.begin("127.0.0.1", {"count": 1})
    return part, clock, out, err


def started(backlog: list[dict[str, Any]]) -> dict[str, Any]:
    return {"run": "r1", "topic": "pingu.alpha.run.r1", "backlog": backlog}


def test_a_busy_start_is_tried_again_after_what_the_node_says_plus_jitter() -> None:
    """Defence: the node's "busy, retry in 2 s" is waited out (2 s and a
    quarter more at jitter 0.5), said, and the start made again; the run is
    then followed to its end."""
    session = Session(start=[BUSY, BUSY, started([START, REPLY, END])], backlog=[[]])
    part, clock, out, err = watch(session)
    assert session.calls == ["start"]
    assert err.getvalue() == (
        "pingu: node alpha is busy: trying again in 2.5 s (busy, retry in 2 s)\n"
    )
    clock.advance(2.49)
    assert session.calls == ["start"]  # not before the wait is over
    clock.advance(0.01)
    assert session.calls == ["start", "start"]
    clock.advance(2.5)
    assert session.calls == ["start", "start", "start", "subscribe", "backlog"]
    assert part.follower.done.called and part.status() == 0
    assert out.getvalue() == "64 bytes from 127.0.0.1\n"
    assert err.getvalue().count("trying again") == 2


def test_the_routers_concurrency_refusal_backs_off_doubling_then_gives_up() -> None:
    """Defence: the router's max_concurrency_reached is tried again after
    0.2 s (jitter 0), 0.4, 0.8, ... ; after the last try the watch says it
    gives up, and exits 2."""
    session = Session(start=[FULL])
    part, clock, _out, err = watch(session, jitter=0.0)
    waits = []
    for _ in range(retry.BUSY_RETRIES):
        (pending,) = clock.getDelayedCalls()
        waits.append(round(pending.getTime() - clock.seconds(), 6))
        clock.advance(waits[-1])
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2]
    assert session.calls == ["start"] * (retry.BUSY_RETRIES + 1)
    assert not clock.getDelayedCalls()
    assert part.follower.done.called and part.status() == EXIT_ERROR
    lines = err.getvalue().splitlines()
    assert lines[0] == (
        "pingu: node alpha is busy: trying again in 0.2 s "
        "(the router holds as many calls for it as it takes)"
    )
    assert lines[-1] == (
        "pingu: node alpha is still busy after 6 tries: giving up "
        "(the router holds as many calls for it as it takes)"
    )


def test_ctrl_c_while_waiting_to_try_again_gives_up_at_once() -> None:
    session = Session(start=[BUSY])
    part, clock, _out, err = watch(session)
    part.stop(clock)
    assert part.follower.done.called and part.status() == EXIT_ERROR
    assert err.getvalue().endswith("pingu: stopped before node alpha took the run\n")
    clock.advance(60)
    assert session.calls == ["start"] and not clock.getDelayedCalls()


def test_a_refusal_that_is_not_for_load_is_the_answer_at_once() -> None:
    session = Session(start=[INVALID])
    part, clock, _out, err = watch(session)
    assert session.calls == ["start"] and not clock.getDelayedCalls()
    assert part.status() == EXIT_ERROR and err.getvalue() == "pingu: no such tool\n"


def test_a_backlog_page_refused_for_load_is_tried_again() -> None:
    session = Session(start=[started([START])], backlog=[FULL, [REPLY, END]])
    part, clock, out, _err = watch(session, jitter=1.0)
    assert session.calls == ["start", "subscribe", "backlog"]
    clock.advance(1.0)  # the longest first wait
    assert session.calls == ["start", "subscribe", "backlog", "backlog"]
    assert part.status() == 0 and out.getvalue() == "64 bytes from 127.0.0.1\n"


def test_the_listing_of_nodes_is_tried_again_too() -> None:
    clock = Clock()
    said: list[str] = []
    session = Session(nodes=[FULL, ["alpha"]])
    got: list[Any] = []
    RetryingCaller(clock, "pingu.nodes", said.append, lambda: 0.0).call(
        session, "pingu.nodes"
    ).addBoth(got.append)
    assert got == [] and len(said) == 1
    clock.advance(0.2)
    assert got == [["alpha"]]


@pytest.mark.parametrize(
    "error, message, tries, jitter, delay",
    [
        ("pingu.error.busy", "busy, retry in 3 s", 0, 0.0, 3.0),
        ("pingu.error.busy", "busy, retry in 3 s", 4, 1.0, 4.5),  # N s and at most half more
        ("pingu.error.busy", "this node is answering too many calls", 0, 0.0, 1.0),
        (MAX_CONCURRENCY_REACHED, "", 0, 1.0, 1.0),
        (MAX_CONCURRENCY_REACHED, "", 2, 0.5, 2.4),  # 0.6 s, doubled twice
        (MAX_CONCURRENCY_REACHED, "", 4, 1.0, retry.MAX_BACKOFF),  # 16 s, capped
        ("pingu.error.busy", "busy, retry in 3 s", retry.BUSY_RETRIES, 0.0, None),  # no try left
        ("pingu.error.invalid_request", "bad", 0, 0.0, None),  # not for load
        ("wamp.error.no_such_procedure", "", 0, 0.0, None),
    ],
)
def test_retry_delays(error: str, message: str, tries: int, jitter: float, delay: Any) -> None:
    got = retry.retry_delay(error, message, tries, jitter)
    assert got == (pytest.approx(delay) if delay is not None else None)
