"""Adversarial tests of the WAMP face (issue 11 item 12): the REAL Crossbar
router with the shipped configuration and REAL ``twistd pingu`` nodes.

The hostile viewers are anonymous WAMP sessions spoken by hand (WAMP v2,
JSON) over the ``websockets`` client, so that a session's source address
can be chosen: 127.0.0.1 and 127.0.0.2 are two clients as the router sees
them.  Each test says which defence it checks and how it was shown able to
fail: most have a partner run against the ``lax`` node, whose limit is
raised on the command line, where the same attack gets through.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.harness import crossbar
from tests.harness.crossbar import Node, Router
from tests.harness.procs import children_of
from tests.harness.service import wait_until

pytestmark = [pytest.mark.wamp, crossbar.needed]

SECOND = "127.0.0.2"

STRICT = (
    "--max-runs-per-client", "2",
    "--max-watched-per-client", "2",
    "--max-backlog-page", "5",
    "--max-starts-per-second", "50",
    "--max-calls-per-second", "50",
)  # fmt: skip
LAX = ("--max-starts-per-second", "50", "--max-calls-per-second", "50")
FLOOD = ("--max-calls-per-second", "3",)  # fmt: skip


class WampError(Exception):
    def __init__(self, error: str, args: list, kwargs: dict) -> None:
        super().__init__(error, args, kwargs)
        self.error, self.args_, self.kwargs = error, args, kwargs


class Session:
    """One anonymous WAMP session (caller, subscriber) from ``source``."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        sock = socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0))
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(
                f"ws://127.0.0.1:{port}/ws",
                sock=sock,
                proxy=None,
                subprotocols=["wamp.2.json"],
                open_timeout=5,
                compression=None,
                close_timeout=1,
            )
        )
        self._ids = itertools.count(1)
        self.replies: dict[int, list] = {}
        self.events: dict[int, list[dict]] = {}
        self.ws.send(json.dumps([1, "pingu", {"roles": {"caller": {}, "subscriber": {}}}]))
        welcome = json.loads(self.ws.recv(timeout=5))
        assert welcome[0] == 2, welcome
        self.id = welcome[1]

    def _pump(self, timeout: float) -> None:
        message = json.loads(self.ws.recv(timeout=timeout))
        kind = message[0]
        if kind == 36:  # EVENT [36, sub, pub, details, args, kwargs]
            self.events.setdefault(message[1], []).extend(message[4] if len(message) > 4 else [])
        elif kind in (50, 33, 35):  # RESULT, SUBSCRIBED, UNSUBSCRIBED
            self.replies[message[1]] = message
        elif kind == 8:  # ERROR [8, type, request, details, error, args, kwargs]
            self.replies[message[2]] = message

    def send_call(self, procedure: str, *args: Any, **kwargs: Any) -> int:
        request = next(self._ids)
        self.ws.send(json.dumps([48, request, {}, procedure, list(args), kwargs]))
        return request

    def wait(self, request: int, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while request not in self.replies:
            self._pump(max(0.01, deadline - time.monotonic()))
        message = self.replies.pop(request)
        if message[0] == 8:
            raise WampError(
                message[4],
                message[5] if len(message) > 5 else [],
                message[6] if len(message) > 6 else {},
            )
        if message[0] == 33:
            return message[2]
        if message[0] == 35:
            return None
        return (message[3] if len(message) > 3 else [None])[0]

    def call(self, procedure: str, *args: Any, **kwargs: Any) -> Any:
        return self.wait(self.send_call(procedure, *args, **kwargs))

    def subscribe(self, topic: str) -> int:
        request = next(self._ids)
        self.ws.send(json.dumps([32, request, {}, topic]))
        return self.wait(request)

    def unsubscribe(self, subscription: int) -> None:
        request = next(self._ids)
        self.ws.send(json.dumps([34, request, subscription]))
        self.wait(request)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.send(json.dumps([6, {}, "wamp.close.normal"]))
        with contextlib.suppress(Exception):
            self._stack.close()


def ping_children(pid: int) -> list[int]:
    """The ping processes among ``pid``'s children (the watchdog is one too)."""

    def comm(child: int) -> str:
        try:
            return Path(f"/proc/{child}/comm").read_text().strip()
        except OSError:
            return ""

    return [child for child in children_of(pid) if comm(child) == "ping"]


def settle(pid: int, count: int, timeout: float = 8.0) -> list[int]:
    """Wait until ``pid`` has ``count`` ping children; return them."""
    wait_until(lambda: len(ping_children(pid)) == count, timeout)
    return ping_children(pid)


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    with Router(tmp_path_factory.mktemp("router")) as started:
        yield started


@pytest.fixture(scope="module")
def nodes(router, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nodes")
    started = {
        "strict": Node(workdir, router.url, "strict", args=STRICT),
        "lax": Node(workdir, router.url, "lax", args=LAX),
        "flood": Node(workdir, router.url, "flood", args=FLOOD),
    }
    try:
        for node in started.values():
            node.wait_joined()
        yield started
    finally:
        for node in started.values():
            node.stop()


@contextlib.contextmanager
def sessions(port: int, count: int, source: str = "127.0.0.1"):
    made = [Session(port, source) for _ in range(count)]
    try:
        yield made
    finally:
        for s in made:
            s.close()


def start_and_watch(session: Session, node: str, target: str, **options: Any) -> dict:
    reply = session.call(f"pingu.{node}.start", target, interval=0.2, **options)
    session.subscribe(reply["topic"])
    return reply


def _flood_runs(router: Router, node: str, pid: int) -> tuple[int, list[str]]:
    """Four sessions from 127.0.0.1 start four runs (distinct targets); then
    127.0.0.2 starts one.  (ping children while all are held, refusals)."""
    refused = []
    with sessions(router.port, 4) as mine, sessions(router.port, 1, SECOND) as other:
        for k, session in enumerate(mine):
            try:
                start_and_watch(session, node, f"127.0.0.{k + 1}")
            except WampError as e:
                refused.append(f"{e.error}:{e.kwargs.get('reason')}")
        start_and_watch(other[0], node, "127.0.0.9")
        time.sleep(0.5)
        held = len(ping_children(pid))
    settle(pid, 0)
    return held, refused


# -- 2. many sessions from one address ------------------------------------------------


def test_sessions_from_one_address_share_the_runs_quota(router, nodes):
    """Defence: ``--max-runs-per-client 2`` counted per address as the router
    sees it, not per session: 4 sessions from 127.0.0.1 get 2 pings, the
    others ``pingu.error.busy``; 127.0.0.2 still gets its own.  Can fail:
    :func:`test_runs_quota_raised_lets_every_session_in` (5 pings)."""
    node = nodes["strict"]
    held, refused = _flood_runs(router, "strict", node.pid)
    assert refused == ["pingu.error.busy:too-many-runs-per-client"] * 2
    assert held == 3  # 2 for 127.0.0.1, 1 for 127.0.0.2


def test_runs_quota_raised_lets_every_session_in(router, nodes):
    """The partner: on a node with the default --max-runs-per-client (20) the
    same four sessions run four pings."""
    held, refused = _flood_runs(router, "lax", nodes["lax"].pid)
    assert (held, refused) == (5, [])


# -- 3. subscriptions that try to keep runs alive ---------------------------------


def _keep_alive(router: Router, node: str, pid: int) -> int:
    """Two other clients start 3 runs; 127.0.0.1 subscribes to all 3 topics,
    the starters leave: how many pings does 127.0.0.1 keep alive?"""
    with sessions(router.port, 1, SECOND) as (b,), sessions(router.port, 1, "127.0.0.3") as (c,):
        topics = [
            start_and_watch(b, node, "127.0.0.1")["topic"],
            start_and_watch(b, node, "127.0.0.2")["topic"],
            start_and_watch(c, node, "127.0.0.3")["topic"],
        ]
        settle(pid, 3)
        with sessions(router.port, 1) as (attacker,):
            for topic in topics:
                attacker.subscribe(topic)
                time.sleep(0.3)  # the node hears of each subscription in turn
            b.close()
            c.close()
            # until the router has told the node that the starters left
            # (Crossbar takes a few seconds) and a run nobody counts has ended
            wait_until(
                lambda: all(r["viewers"] == 1 for r in attacker.call(f"pingu.{node}.runs")),
                12,
                0.2,
            )
            time.sleep(0.3)
            kept = len(ping_children(pid))
        left = time.monotonic()
    assert not settle(pid, 0), f"pings outlived their last viewer by {time.monotonic() - left:.1f}s"
    return kept


def test_subscriptions_beyond_the_watch_quota_keep_nothing_alive(router, nodes):
    """Defence: ``--max-watched-per-client 2``: a client subscribed to 3 run
    topics keeps only 2 runs alive once their starters leave; the 3rd ends.
    Can fail: :func:`test_watch_quota_raised_keeps_every_run_alive` (3 kept)."""
    assert _keep_alive(router, "strict", nodes["strict"].pid) == 2


def test_watch_quota_raised_keeps_every_run_alive(router, nodes):
    """The partner: with the default --max-watched-per-client (20) the same
    three subscriptions keep all three pings running."""
    assert _keep_alive(router, "lax", nodes["lax"].pid) == 3


# -- 4. large and frequent backlog calls --------------------------------------------


def _backlog_pages(router: Router, node: str) -> tuple[list[int], list[dict]]:
    with sessions(router.port, 1) as (s,):
        reply = start_and_watch(s, node, "127.0.0.1", count=12)
        deadline = time.monotonic() + 10
        while s.call(f"pingu.{node}.runs") and time.monotonic() < deadline:
            time.sleep(0.2)  # until the run has ended: its whole backlog is kept
        sizes, events, since = [], [], 0
        while True:
            page = s.call(f"pingu.{node}.backlog", reply["run"], since=since)
            if not page:
                break
            sizes.append(len(page))
            events.extend(page)
            since = page[-1]["n"]
        return sizes, events


def test_backlog_pages_are_bounded_and_paging_returns_the_rest_once(router, nodes):
    """Defence: ``--max-backlog-page 5``: backlog(run, since=0) of a run of
    some 16 events answers 5, and paging by ``since`` returns every event
    exactly once, in order, through the end.  Can fail:
    :func:`test_backlog_page_raised_answers_everything_at_once`."""
    sizes, events = _backlog_pages(router, "strict")
    assert len(events) > 5 and max(sizes) == 5, sizes
    assert [e["n"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "start" and events[-1]["type"] == "end"
    assert [e["type"] for e in events].count("reply") == 12


def test_backlog_page_raised_answers_everything_at_once(router, nodes):
    """The partner: with the default --max-backlog-page (1000) the first page is everything."""
    sizes, events = _backlog_pages(router, "lax")
    assert sizes == [len(events)] and len(events) > 5


def _flood_calls(router: Router, node: str, calls: int = 15) -> tuple[list[str], Any]:
    with sessions(router.port, 1) as (s,), sessions(router.port, 1, SECOND) as (other,):
        requests = [s.send_call(f"pingu.{node}.runs") for _ in range(calls)]
        refused = []
        for request in requests:
            try:
                s.wait(request)
            except WampError as e:
                refused.append(f"{e.error}:{e.kwargs.get('reason')}")
        return refused, other.call(f"pingu.{node}.runs")


def test_call_flood_is_refused_busy_and_others_are_served(router, nodes):
    """Defence: ``--max-calls-per-second 3``: 15 calls at once from one client
    get ``pingu.error.busy`` beyond the burst, while 127.0.0.2's call is
    answered.  Can fail: :func:`test_call_flood_with_the_rate_raised_gets_through`."""
    refused, answer = _flood_calls(router, "flood")
    assert len(refused) >= 10, refused
    assert set(refused) == {"pingu.error.busy:too-many-calls-per-client"}
    assert answer == []


def test_call_flood_with_the_rate_raised_gets_through(router, nodes):
    """The partner: at --max-calls-per-second 50 all 15 calls are answered."""
    refused, _ = _flood_calls(router, "lax")
    assert refused == []


# -- 7. a foreign origin against the router -------------------------------------------


def _router_status(router: Router, origin: Optional[str]) -> int:
    try:
        with connect(router.url, origin=origin, subprotocols=["wamp.2.json"], proxy=None):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


def test_router_refuses_a_foreign_origin(router):
    """Defence: the shipped ``allowed_origins`` of the router's /ws: an upgrade
    with ``Origin: http://evil.example`` is refused, while the router's own
    page origin (the control, same request otherwise) is accepted."""
    assert _router_status(router, "http://evil.example") >= 400
    assert _router_status(router, f"http://127.0.0.1:{router.port}.evil.example") >= 400
    assert _router_status(router, f"http://127.0.0.1:{router.port}") == 101
