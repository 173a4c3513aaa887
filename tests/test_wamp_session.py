"""The WAMP node's bookkeeping in memory: no router, a fake clock, a fake ping.

The router's part is played by calling the session's meta-event handlers in
the orders a router can produce; ``tests/test_wamp.py`` checks the same
against a real Crossbar.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from pingu import wamp
from pingu.lag import TICK, WINDOW
from pingu.limits import Limits
from pingu.runs import RunHub
from pingu.wamp.state import ROUTER_GRACE, VIEWER_GRACE, NodeState
from tests.harness.memory import FakeSpawner, fake_resolver

REPLY = "64 bytes from 127.0.0.1: icmp_seq={} ttl=64 time=0.045 ms"


class MemoryNode(wamp.PinguNode):
    """A node whose router is this test: publications and meta calls are kept."""

    def __init__(self, hub: RunHub) -> None:
        super().__init__(ComponentConfig("pingu", {"state": NodeState(hub, "mem"), "secret": "s"}))
        self.published: list[tuple[str, dict]] = []
        self.lookups: dict[int, defer.Deferred] = {}

    def is_attached(self) -> bool:
        return True

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.published.append((topic, args[0]))

    def call(self, procedure: str, *args: Any, **kwargs: Any) -> defer.Deferred:
        if procedure == "wamp.session.get":  # every session comes from one host here
            return defer.succeed(session_details(args[0]))
        assert procedure == "wamp.subscription.get"
        self.lookups[args[0]] = d = defer.Deferred()
        return d


def session_details(session_id: int, host: str = "127.0.0.1") -> dict:
    """What a router tells of an anonymous session (``wamp.session.get``)."""
    return {
        "session": session_id,
        "authid": f"anon-{session_id}",
        "authmethod": "anonymous",
        "transport": {"peer": f"tcp4:{host}:{40000 + session_id}"},
    }


@pytest.fixture
def node() -> Any:
    clock = MemoryReactorClock()
    spawner = FakeSpawner()
    hub = RunHub(clock, "/usr/bin/ping", Limits(), resolver=fake_resolver({}), spawner=spawner)
    session = MemoryNode(hub)
    return SimpleNamespace(session=session, hub=hub, clock=clock, spawner=spawner)


def caller(session_id: int) -> Any:
    return SimpleNamespace(caller=session_id)


def start(node: Any, session_id: int, *args: Any, **options: Any) -> dict:
    result: list[Any] = []
    node.session.start(*args, details=caller(session_id), **options).addBoth(result.append)
    if isinstance(result[0], Exception) or hasattr(result[0], "value"):
        raise getattr(result[0], "value", result[0])
    return result[0]


def subscribe(node: Any, session_id: int, subscription_id: int, topic: str, first: bool) -> None:
    """The meta events a router sends when a session subscribes."""
    if first:
        node.session._on_create(session_id, {"id": subscription_id, "uri": topic, "match": "exact"})
    node.session._on_subscribe(session_id, subscription_id)


def test_node_names_are_uri_safe() -> None:
    assert wamp.node_name("My-Host.example.com") == "my_host"
    assert wamp.node_name("node7") == "node7"
    assert wamp.node_name("") == "node"
    assert wamp.check_node_name("paris_1") == "paris_1"
    for bad in ("Paris", "a.b", "a-b", "", "é"):
        with pytest.raises(ValueError):
            wamp.check_node_name(bad)


def test_a_node_needs_its_secret_and_a_good_name(node: Any) -> None:
    from twisted.internet import reactor

    args = (node.hub, "ws://127.0.0.1:1/ws", "pingu")
    with pytest.raises(SystemExit, match="PINGU_WAMP_SECRET"):
        wamp.make_wamp_service(*args, "alpha", None, reactor)
    with pytest.raises(SystemExit, match="--node"):
        wamp.make_wamp_service(*args, "Not.OK", "s", reactor)
    assert wamp.make_wamp_service(*args, None, "s", reactor) is not None


def test_events_are_published_on_the_run_topic_with_their_numbers(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1", count=2)
    assert reply["topic"] == f"pingu.mem.run.{reply['run']}"
    assert [e["type"] for e in reply["backlog"]] == ["start"]
    node.spawner.last.say(REPLY.format(1))
    assert [(t, e["type"], e["n"]) for t, e in node.session.published] == [
        (reply["topic"], "reply", 2)
    ]


def test_a_subscriber_keeps_the_run_and_its_unsubscribe_ends_it(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1")
    run = node.hub.find(reply["run"])
    subscribe(node, 1, 77, reply["topic"], first=True)
    assert set(run.viewers) == {1}  # no longer pending
    node.clock.advance(wamp.SUBSCRIBE_GRACE + 1)
    assert not run.ended  # the subscriber keeps it
    node.session.viewers.unsubscribed(1, 77)
    assert node.spawner.last.signals == ["TERM"] and run.ended


def test_a_caller_that_never_subscribes_counts_for_a_while_only(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1")
    run = node.hub.find(reply["run"])
    node.clock.advance(wamp.SUBSCRIBE_GRACE - 1)
    assert not run.ended
    node.clock.advance(2)
    assert run.ended and node.spawner.last.signals == ["TERM"]


def test_identical_requests_share_and_a_session_leaving_counts(node: Any) -> None:
    a = start(node, 1, "127.0.0.1", interval=0.5)
    b = start(node, 2, "127.0.0.1", interval=0.5)
    assert a["run"] == b["run"] and len(node.spawner.started) == 1
    subscribe(node, 1, 77, a["topic"], first=True)
    subscribe(node, 2, 77, a["topic"], first=False)
    assert [r["viewers"] for r in node.session.runs()] == [2]
    node.session._on_leave(1)
    assert [r["viewers"] for r in node.session.runs()] == [1]
    node.session._on_leave(2)
    # a session that left may be a viewer whose connection blipped: its place
    # is kept for a short grace (issue 13), then the run ends
    assert [r["viewers"] for r in node.session.runs()] == [0]
    node.clock.advance(VIEWER_GRACE + 0.1)
    assert node.session.runs() == [] and node.spawner.last.signals == ["TERM"]


def test_a_subscription_made_before_the_node_joined_is_looked_up(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1")
    run = node.hub.find(reply["run"])
    node.session._on_subscribe(1, 55)  # no on_create seen: ask the router
    node.session.lookups[55].callback({"id": 55, "uri": reply["topic"], "match": "exact"})
    assert 1 in run.viewers


def test_an_unsubscribe_during_the_lookup_is_not_forgotten(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1")
    run = node.hub.find(reply["run"])
    start(node, 2, "127.0.0.1")  # another viewer keeps the run meanwhile
    node.session._on_subscribe(1, 55)
    node.session.viewers.unsubscribed(1, 55)  # before the router answered
    node.session.lookups[55].callback({"id": 55, "uri": reply["topic"], "match": "exact"})
    assert 1 not in run.viewers


def test_other_topics_are_not_viewers(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1")
    run = node.hub.find(reply["run"])
    subscribe(node, 3, 90, "pingu.nodes.joined", first=True)
    subscribe(node, 3, 91, "pingu.other.run." + reply["run"], first=True)
    assert 3 not in run.viewers
    node.session._on_delete(3, 90)
    assert 90 not in node.session.viewers.topics


def test_stop_leaves_a_run_others_watch_and_ends_it_for_the_last(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1")
    start(node, 2, "127.0.0.1")
    subscribe(node, 1, 77, reply["topic"], first=True)
    subscribe(node, 2, 77, reply["topic"], first=False)
    assert node.session.stop(reply["run"], details=caller(2)) == {"ending": False, "viewers": 1}
    assert node.spawner.last.signals == []
    assert node.session.stop(reply["run"], details=caller(1)) == {"ending": True, "viewers": 0}
    # SIGINT, as ping's own Ctrl-C: the statistics and the end still come
    assert node.spawner.last.signals == ["INT"]
    types = [e["type"] for _, e in node.session.published]
    assert types[-2:] == ["summary", "end"]


def test_the_backlog_answers_a_while_after_the_end(node: Any) -> None:
    reply = start(node, 1, "127.0.0.1", count=1)
    node.spawner.last.say(REPLY.format(1))
    node.spawner.last.exit(0)
    backlog = node.session.backlog(reply["run"])
    assert [e["type"] for e in backlog] == ["start", "reply", "end"]
    assert [e["n"] for e in backlog] == [1, 2, 3]
    assert node.session.stop(reply["run"], details=caller(1))["ending"] is True
    node.clock.advance(wamp.ENDED_LINGER + 1)
    with pytest.raises(ApplicationError) as error:
        node.session.backlog(reply["run"])
    assert error.value.error == wamp.NO_SUCH_RUN


@pytest.mark.parametrize(
    ("args", "options", "uri"),
    [
        (("127.0.0.1", 3), {}, "pingu.error.invalid_request"),
        (("127.0.0.1",), {"target": "::1"}, "pingu.error.invalid_request"),
        ((), {}, "pingu.error.invalid_request"),
        (("127.0.0.1",), {"count": "many"}, "pingu.error.invalid_request"),
        (("ff02::1",), {}, "pingu.error.forbidden"),
        (("no.such.name",), {}, "pingu.error.unresolved"),
    ],
)
def test_refusals(node: Any, args: tuple, options: dict, uri: str) -> None:
    with pytest.raises(ApplicationError) as error:
        start(node, 1, *args, **options)
    assert error.value.error == uri and error.value.args[0]
    assert node.spawner.started == []


def test_too_many_runs_is_busy_but_joining_is_not(node: Any) -> None:
    node.hub.limits = Limits(max_runs=1)
    first = start(node, 1, "127.0.0.1")
    with pytest.raises(ApplicationError) as error:
        start(node, 2, "::1")
    assert error.value.error == "pingu.error.busy"
    assert start(node, 2, "127.0.0.1")["run"] == first["run"]


def behind(node: Any, seconds: float) -> None:
    """The node joins (its lag is measured from then on), then falls
    ``seconds`` behind: its clock moves on and none of its timers has run
    yet (as while a long step blocks the loop)."""
    node.session.state.attached(node.session)
    node.clock.advance(TICK)
    node.clock.rightNow += seconds


def test_a_new_run_is_refused_busy_while_the_node_is_behind(node: Any) -> None:
    """Defence: over --max-lag (the default) ``start`` is refused at once with
    pingu.error.busy, code 4503 and when to come back, as the WebSocket face
    refuses a new session; nothing is started, it is counted as "busy", and
    the run admitted before goes on (its backlog still answers)."""
    admitted = start(node, 1, "127.0.0.1")
    behind(node, 1.2)
    for request in ("::1", "127.0.0.1"):  # a new run, or joining one: both wait
        with pytest.raises(ApplicationError) as refused:
            start(node, 2, request)
        error = refused.value
        assert error.error == "pingu.error.busy"
        assert error.args == ("busy, retry in 3 s",)
        assert (error.kwargs["code"], error.kwargs["reason"]) == (4503, "busy")
    assert len(node.spawner.started) == 1 and node.spawner.last.signals == []
    assert node.hub.metrics._refusals.labels(reason="busy")._value.get() == 2
    assert [e["type"] for e in node.session.backlog(admitted["run"])] == ["start"]


def test_a_node_that_keeps_up_or_caught_up_starts_runs(node: Any) -> None:
    """The partner: under --max-lag the same stall is admitted, and so is a
    start once a window of on-time ticks has passed."""
    node.hub.limits = Limits(max_lag=2.0)
    behind(node, 1.2)
    start(node, 1, "127.0.0.1")
    node.hub.limits = Limits(max_lag=0.5)
    for _ in range(WINDOW + 1):  # the late tick, then a window of on-time ones
        node.clock.advance(TICK)
    start(node, 2, "::1")
    assert len(node.spawner.started) == 2


def test_leaving_the_router_ends_every_shared_run(node: Any) -> None:
    start(node, 1, "127.0.0.1")
    node.session.onLeave(SimpleNamespace(reason="wamp.close.transport_lost", message=None))
    # the runs go on for --router-grace, time for the runner to rejoin (issue 13)
    assert node.spawner.last.signals == []
    node.clock.advance(ROUTER_GRACE + 0.1)
    assert node.hub.runs == {} and node.spawner.last.signals == ["TERM"]


def test_the_watch_client_merges_backlog_and_live_events_once_each() -> None:
    import io

    from pingu.cli.printer import Printer
    from pingu.cli.wamp import RunFollower

    out = io.StringIO()
    follower = RunFollower(Printer(out, io.StringIO(), prefix="n1: "))
    events = [
        {"type": "start", "raw": None, "n": 1},
        {"type": "line", "raw": "PING 127.0.0.1", "n": 2},
        {"type": "reply", "raw": "reply 1", "n": 3},
        {"type": "reply", "raw": "reply 2", "n": 4},
        {"type": "end", "raw": None, "how": "completed", "exit_code": 0, "n": 5},
    ]
    follower.take(events[2])  # live, while the backlog is on its way
    follower.take(events[3])
    follower.catch_up(events[:3])  # the backlog, with event 3 again
    follower.take(events[3])  # late duplicate
    assert not follower.done.called
    follower.take(events[4])
    assert follower.done.called and follower.status() == 0 and follower.replies == 2
    assert out.getvalue() == "n1: PING 127.0.0.1\nn1: reply 1\nn1: reply 2\n"


def test_the_tools_procedure_is_pingu_info_jsons_tools() -> None:
    """pingu.<node>.tools: the page's form in WAMP mode, from describe() (one source)."""
    from pingu import tools

    hub = RunHub(MemoryReactorClock(), "/usr/bin/ping", Limits(max_hops=7), spawner=FakeSpawner())
    described = MemoryNode(hub).tools()
    assert described == tools.describe(hub.limits, hub.executables)
    assert [t["installed"] for t in described] == [t == tools.DEFAULT_TOOL for t in tools.TOOLS]
    hops = [f["max"] for t in described for f in t["fields"] if f["name"] == "max_hops"]
    assert hops and set(hops) == {7}
