"""The WAMP node's clients, viewers, meters, paging and retention, in memory.

The router's part is played by this test, like tests/test_wamp_session.py's
MemoryNode, but the router here can describe sessions from several
addresses, authenticated ones, or refuse to describe them at all.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import Challenge, ComponentConfig
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from pingu import wamp
from pingu.backlog import Backlog, ByteBudget
from pingu.clients import authid_key
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.runs import RunHub
from pingu.wamp.node import MAX_CRA_ITERATIONS, CallMeter
from pingu.wamp.retention import EndedRuns
from pingu.wamp.state import NodeState
from pingu.wamp.viewers import UNKNOWN_CLIENT, SessionClients, client_of_details
from tests.harness.memory import FakeSpawner, charged, fake_resolver

REPLY = "64 bytes from 127.0.0.1: icmp_seq={} ttl=64 time=0.045 ms"
SECRET = "s3cret"


def details(session: int, host: str = "127.0.0.1", **extra: Any) -> dict:
    """What a router tells of a session (``wamp.session.get`` or ``on_join``)."""
    peer = f"tcp6:[{host}]:4711" if ":" in host else f"tcp4:{host}:{40000 + session}"
    return {
        "session": session,
        "authid": f"anon-{session}",
        "authmethod": "anonymous",
        "transport": {"peer": peer},
        **extra,
    }


class Node(wamp.PinguNode):
    """A node whose router is this test."""

    def __init__(self, hub: RunHub) -> None:
        state = NodeState(hub, "mem")
        super().__init__(ComponentConfig("pingu", {"state": state, "secret": SECRET}))
        self.published: list[tuple[str, dict]] = []
        self.asked: list[tuple[Any, ...]] = []
        self.sessions: dict[int, dict] = {}  # what wamp.session.get answers
        self.refuse = False  # the router will not describe sessions
        self.lookups: dict[int, defer.Deferred] = {}

    def is_attached(self) -> bool:
        return True

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.published.append((topic, args[0]))

    def call(self, procedure: str, *args: Any, **kwargs: Any) -> defer.Deferred:
        self.asked.append((procedure, *args))
        if procedure == "wamp.session.get":
            if self.refuse:
                return defer.fail(ApplicationError("wamp.error.not_authorized", "no"))
            return defer.succeed(self.sessions.get(args[0]) or details(args[0]))
        assert procedure == "wamp.subscription.get"
        self.lookups[args[0]] = d = defer.Deferred()
        return d


def make_node(**limits: Any) -> Any:
    clock = MemoryReactorClock()
    spawner = FakeSpawner()
    options = {"max_starts_per_second": 1000.0, "max_calls_per_second": 1000.0, **limits}
    hub = RunHub(clock, "/usr/bin/ping", Limits(**options), resolver=fake_resolver({}),
                 spawner=spawner)  # fmt: skip
    return SimpleNamespace(session=Node(hub), hub=hub, clock=clock, spawner=spawner)


def caller(session_id: int) -> Any:
    return SimpleNamespace(caller=session_id)


def outcome(d: defer.Deferred) -> Any:
    result: list[Any] = []
    d.addBoth(result.append)
    assert result, "still pending"
    if hasattr(result[0], "value"):
        raise result[0].value
    return result[0]


def start(node: Any, session_id: int, target: str = "127.0.0.1", **options: Any) -> dict:
    return outcome(node.session.start(target, details=caller(session_id), **options))


def call(node: Any, name: str, session_id: int, *args: Any) -> Any:
    """A metered procedure, as the router invokes it."""
    procedure = getattr(node.session, name)
    return outcome(node.session._metered(procedure)(*args, details=caller(session_id)))


def busy_reason(error: Any) -> str:
    assert error.value.error == "pingu.error.busy", error.value
    return error.value.kwargs["reason"]


def subscribe(node: Any, session_id: int, subscription_id: int, topic: str) -> None:
    if subscription_id not in node.session.viewers.topics:
        node.session._on_create(session_id, {"id": subscription_id, "uri": topic, "match": "exact"})
    node.session._on_subscribe(session_id, subscription_id)


# -- who a session is ---------------------------------------------------------------


def test_sessions_from_one_address_share_one_client() -> None:
    node = make_node(max_runs_per_client=2)
    for sid in range(1, 6):
        node.session.sessions[sid] = details(sid, "192.0.2.1")
    start(node, 1, "127.0.0.1")
    start(node, 2, "127.0.0.2")
    for sid in (3, 4, 5):  # more sessions, more tabs: the same quota
        with pytest.raises(ApplicationError) as error:
            start(node, sid, f"127.0.0.{sid}")
        assert busy_reason(error) == "too-many-runs-per-client"
    assert len(node.spawner.started) == 2
    node.session.sessions[6] = details(6, "192.0.2.2")  # a second address is separate
    start(node, 6, "127.0.0.6")
    assert len(node.spawner.started) == 3


def test_ipv6_sessions_of_one_prefix_share_one_client() -> None:
    node = make_node(max_runs_per_client=1)
    node.session.sessions[1] = details(1, "2001:db8:1:2::1")
    node.session.sessions[2] = details(2, "2001:db8:1:2::99")
    node.session.sessions[3] = details(3, "2001:db8:1:3::1")
    start(node, 1, "127.0.0.1")
    with pytest.raises(ApplicationError) as error:
        start(node, 2, "127.0.0.2")
    assert busy_reason(error) == "too-many-runs-per-client"
    start(node, 3, "127.0.0.3")


@pytest.mark.parametrize("method", ["wampcra", "ticket"])
def test_authenticated_sessions_are_keyed_by_authid(method: str) -> None:
    node = make_node(max_runs_per_client=1)
    node.session.sessions[1] = details(1, "192.0.2.1", authid="alice", authmethod=method)
    node.session.sessions[2] = details(2, "192.0.2.2", authid="alice", authmethod=method)
    node.session.sessions[3] = details(3, "192.0.2.1", authid="bob", authmethod=method)
    start(node, 1, "127.0.0.1")
    with pytest.raises(ApplicationError) as error:
        start(node, 2, "127.0.0.2")  # alice from elsewhere: still alice
    assert busy_reason(error) == "too-many-runs-per-client"
    start(node, 3, "127.0.0.3")  # bob from alice's address: bob
    assert outcome(node.session.clients.client(1)) == authid_key("alice")


def test_an_anonymous_authid_is_not_a_client() -> None:
    # every anonymous session has its own authid: they would escape every quota
    a = client_of_details(details(1, "192.0.2.1", authid="anon-1"))
    b = client_of_details(details(2, "192.0.2.1", authid="anon-2"))
    assert a == b == "192.0.2.1"
    assert client_of_details({**details(3, "192.0.2.1"), "authmethod": None}) == "192.0.2.1"


@pytest.mark.parametrize(
    ("peer", "client"),
    [
        ("tcp4:192.0.2.1:4711", "192.0.2.1"),
        ("tcp6:[2001:db8::1]:4711", "2001:db8::/64"),
        ("tcp6:2001:db8::1:4711", "2001:db8::/64"),
        ("tcp6:[::ffff:192.0.2.1]:4711", "192.0.2.1"),
        ("unix:/run/crossbar.sock", UNKNOWN_CLIENT),
        ("tcp4:192.0.2.1", UNKNOWN_CLIENT),
        ("", UNKNOWN_CLIENT),
        ("process:1234", UNKNOWN_CLIENT),
    ],
)
def test_the_client_of_a_transport_peer(peer: str, client: str) -> None:
    assert client_of_details({"session": 1, "transport": {"peer": peer}}) == client


def test_forwarded_headers_count_only_behind_a_trusted_proxy() -> None:
    import ipaddress

    proxy = (ipaddress.ip_network("10.0.0.0/8"),)
    described = {
        "transport": {
            "peer": "tcp4:10.0.0.1:4711",
            "http_headers_received": {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"},
        }
    }
    assert client_of_details(described) == "10.0.0.1"
    assert client_of_details(described, proxy) == "198.51.100.1"
    spoofed = {**described, "transport": {**described["transport"], "peer": "tcp4:192.0.2.1:1"}}
    assert client_of_details(spoofed, proxy) == "192.0.2.1"


def test_on_join_is_cached_and_spares_the_lookup() -> None:
    node = make_node()
    node.session.clients.joined(details(7, "192.0.2.7"))
    start(node, 7)
    assert not any(p == "wamp.session.get" for p, *_ in node.session.asked)
    assert outcome(node.session.clients.client(7)) == "192.0.2.7"
    node.session._on_leave(7)  # forgotten when the session leaves
    outcome(node.session.clients.client(7))
    assert ("wamp.session.get", 7) in node.session.asked


def test_a_looked_up_session_is_asked_once() -> None:
    node = make_node()
    node.session.sessions[4] = details(4, "192.0.2.4")
    start(node, 4, "127.0.0.1")
    start(node, 4, "127.0.0.2")
    call(node, "runs", 4)
    assert node.session.asked.count(("wamp.session.get", 4)) == 1


def test_a_router_that_will_not_describe_sessions_puts_them_in_one_client() -> None:
    node = make_node(max_runs_per_client=1)
    node.session.refuse = True
    start(node, 1, "127.0.0.1")
    with pytest.raises(ApplicationError) as error:
        start(node, 2, "127.0.0.2")  # any other session: the same "unknown" quota
    assert busy_reason(error) == "too-many-runs-per-client"
    assert outcome(node.session.clients.client(3)) == UNKNOWN_CLIENT == "unknown"


def test_a_session_without_a_caller_is_unknown() -> None:
    clients = SessionClients(lambda *a: pytest.fail("asked the router"))
    assert outcome(clients.client(None)) == UNKNOWN_CLIENT


# -- metering -------------------------------------------------------------------------


def test_call_meter_per_client_and_total() -> None:
    meter = CallMeter(per_client=2, total=3)
    meter.take("a", 0.0)
    meter.take("a", 0.0)
    with pytest.raises(Refused) as error:
        meter.take("a", 0.0)
    assert error.value.reason == "too-many-calls-per-client"
    fresh = CallMeter(per_client=2, total=3)
    for client in ("a", "b", "c"):
        fresh.take(client, 0.0)
    with pytest.raises(Refused) as error:
        fresh.take("d", 0.0)  # a client that has called nothing yet
    assert error.value.reason == "too-many-calls"
    fresh.take("d", 1.0)  # both refill


def test_one_clients_refused_flood_does_not_drain_the_total() -> None:
    meter = CallMeter(per_client=2, total=10)
    for _ in range(100):
        try:
            meter.take("flooder", 0.0)
        except Refused:
            pass
    meter.take("someone-else", 0.0)


def test_every_procedure_is_metered_per_client() -> None:
    node = make_node(max_calls_per_second=3)
    node.session.sessions[2] = details(2, "192.0.2.2")
    node.session.sessions[3] = details(3, "192.0.2.2")  # same address, other session
    reply = start(node, 1)  # 1
    call(node, "backlog", 1, reply["run"])  # 2
    call(node, "runs", 1)  # 3
    with pytest.raises(ApplicationError) as error:
        call(node, "backlog", 1, reply["run"])
    assert busy_reason(error) == "too-many-calls-per-client"
    with pytest.raises(ApplicationError) as error:
        start(node, 1, "127.0.0.2")
    assert busy_reason(error) == "too-many-calls-per-client"
    for _ in range(3):
        call(node, "runs", 2)
    with pytest.raises(ApplicationError):
        call(node, "runs", 3)  # the address's quota, not the session's
    node.clock.advance(1)
    call(node, "runs", 1)


def test_the_node_total_is_metered() -> None:
    node = make_node(max_calls_per_second_total=2)
    node.session.sessions[2] = details(2, "192.0.2.2")
    node.session.sessions[3] = details(3, "192.0.2.3")
    call(node, "runs", 1)
    call(node, "runs", 2)
    with pytest.raises(ApplicationError) as error:
        call(node, "runs", 3)
    assert busy_reason(error) == "too-many-calls"


# -- backlog paging -------------------------------------------------------------------


def running(node: Any, replies: int) -> dict:
    reply = start(node, 1, "127.0.0.1")
    for seq in range(1, replies + 1):
        node.spawner.last.say(REPLY.format(seq))
    return reply


def test_backlog_pages_with_since_and_max_backlog_page() -> None:
    node = make_node(max_backlog_page=10)
    reply = running(node, 25)  # 26 events: start and 25 replies
    pages = []
    last = 0
    while True:
        page = node.session.backlog(reply["run"], last)
        assert len(page) <= 10
        pages.append([e["n"] for e in page])
        if len(page) < 10:
            break
        last = page[-1]["n"]
    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 27))]
    assert node.session.backlog(reply["run"], 26) == []


@pytest.mark.parametrize("since", [-1, True, "3", 1.5, None])
def test_backlog_refuses_a_bad_since(since: Any) -> None:
    node = make_node()
    reply = start(node, 1)
    with pytest.raises(ApplicationError) as error:
        node.session.backlog(reply["run"], since)
    assert error.value.error == "pingu.error.invalid_request"


def test_backlog_of_no_such_run() -> None:
    node = make_node()
    with pytest.raises(ApplicationError) as error:
        node.session.backlog("1-nothing")
    assert error.value.error == wamp.NO_SUCH_RUN


def test_starts_backlog_is_one_page() -> None:
    node = make_node(max_backlog_page=10)
    running(node, 25)
    joined = start(node, 2, "127.0.0.1")
    assert [e["n"] for e in joined["backlog"]] == list(range(1, 11))
    rest = node.session.backlog(joined["run"], 10)
    assert [e["n"] for e in rest] == list(range(11, 21))


# -- ended runs -------------------------------------------------------------------------


def ended_run(node: Any, target: str, replies: int = 3) -> dict:
    reply = start(node, 1, target, count=replies)
    for seq in range(1, replies + 1):
        node.spawner.last.say(REPLY.format(seq))
    node.spawner.last.exit(0)
    return reply


def test_ended_runs_stay_in_the_budget_and_leave_it_after_the_linger() -> None:
    node = make_node()
    reply = ended_run(node, "127.0.0.1")
    kept = node.session.ended.get(reply["run"])
    assert kept is not None and [e["type"] for e in kept][-1] == "end"
    assert node.hub.budget.used == charged(kept) > 0
    node.clock.advance(wamp.ENDED_LINGER - 1)
    assert len(node.session.backlog(reply["run"])) == 5
    node.clock.advance(2)
    assert reply["run"] not in node.session.ended
    assert node.hub.budget.used == 0


def test_at_most_keep_ended_runs_are_kept_and_the_rest_release_their_bytes() -> None:
    node = make_node()
    node.session.ended.keep = 2  # ENDED_KEEP is 256: the same rule, smaller
    replies = [ended_run(node, f"127.0.0.{i}") for i in (1, 2, 3)]
    assert len(node.session.ended) == 2 and replies[0]["run"] not in node.session.ended
    kept = [node.session.ended.get(r["run"]) for r in replies[1:]]
    assert node.hub.budget.used == sum(charged(b) for b in kept if b is not None)
    with pytest.raises(ApplicationError):
        node.session.backlog(replies[0]["run"])
    node.clock.advance(wamp.ENDED_LINGER + 1)
    assert len(node.session.ended) == 0 and node.hub.budget.used == 0
    assert not node.clock.getDelayedCalls()


def test_the_default_keep_and_linger() -> None:
    ended = EndedRuns(MemoryReactorClock())
    assert (ended.keep, ended.linger) == (wamp.ENDED_KEEP, wamp.ENDED_LINGER)


def test_ended_runs_unit() -> None:
    clock = MemoryReactorClock()
    budget = ByteBudget(10**6)
    ended = EndedRuns(clock, keep=2, linger=5)
    backlogs = []
    for i in range(3):
        b = Backlog(10, budget)
        ended.retain(b)
        assert b.retained
        b.append({"type": "line", "raw": "x" * 10, "n": 1})
        ended.add(f"run-{i}", b)
        backlogs.append(b)
    assert "run-0" not in ended and len(backlogs[0]) == 0
    assert budget.used == charged(backlogs[1]) + charged(backlogs[2])
    clock.advance(5)
    assert len(ended) == 0 and budget.used == 0
    # a run kept again under the same id is not expired by the first timer
    again = Backlog(10, budget)
    ended.add("run-1", again)
    assert ended.get("run-1") is again


def test_the_budget_drops_the_oldest_ended_events_first() -> None:
    node = make_node()
    old = ended_run(node, "127.0.0.1")
    live = running_at(node, "127.0.0.2")
    kept = node.session.ended.get(old["run"])
    assert kept is not None
    run = node.hub.find(live["run"])
    node.hub.budget.limit = node.hub.budget.used  # full
    node.spawner.last.say(REPLY.format(1))
    assert len(kept) < 5 and kept[0]["n"] > 1  # the ended run's oldest went
    assert [e["n"] for e in run.backlog] == [1, 2]


def running_at(node: Any, target: str) -> dict:
    return start(node, 1, target)


# -- viewers over quota -----------------------------------------------------------------


def test_a_subscriber_over_its_quota_is_not_counted_and_keeps_nothing_alive() -> None:
    node = make_node(max_watched_per_client=1)
    node.session.sessions[1] = details(1, "192.0.2.1")
    node.session.sessions[2] = details(2, "192.0.2.1")  # client A, like session 1
    node.session.sessions[3] = details(3, "192.0.2.3")  # client B
    mine = start(node, 1, "127.0.0.1")
    subscribe(node, 1, 71, mine["topic"])
    theirs = start(node, 3, "127.0.0.2")  # B's run: counted for B while pending
    with pytest.raises(ApplicationError) as error:
        start(node, 2, "127.0.0.2")  # A joining a run it does not watch: over quota
    assert busy_reason(error) == "too-many-watched"
    subscribe(node, 2, 72, theirs["topic"])  # A subscribes anyway: not counted
    run = node.hub.find(theirs["run"])
    assert 2 not in run.viewers and node.hub.watched["192.0.2.1"] == 1
    node.clock.advance(wamp.SUBSCRIBE_GRACE + 1)  # B never subscribed
    assert run.ended and node.spawner.started[1][2].signals == ["TERM"]
    assert not node.hub.find(mine["run"]).ended


# -- WAMP-CRA ---------------------------------------------------------------------------


def test_an_unsalted_challenge_is_answered() -> None:
    node = make_node()
    challenge = Challenge("wampcra", {"challenge": '{"nonce": 1}'})
    expected = auth.compute_wcs(SECRET, '{"nonce": 1}').decode("ascii")
    assert node.session.onChallenge(challenge) == expected


def test_a_normal_salted_challenge_is_answered() -> None:
    node = make_node()
    extra = {"challenge": '{"nonce": 2}', "salt": "salt", "iterations": 1000, "keylen": 32}
    key = auth.derive_key(SECRET, "salt", 1000, 32).decode("ascii")
    expected = auth.compute_wcs(key, '{"nonce": 2}').decode("ascii")
    assert node.session.onChallenge(Challenge("wampcra", extra)) == expected
    extra["iterations"] = MAX_CRA_ITERATIONS  # the limit itself is allowed
    assert node.session.onChallenge(Challenge("wampcra", extra))


@pytest.mark.parametrize(
    "changes",
    [
        {"iterations": MAX_CRA_ITERATIONS + 1},
        {"iterations": 10**9},
        {"iterations": 0},
        {"iterations": -5},
        {"iterations": "1000"},
        {"iterations": 1000.0},
        {"keylen": 65},
        {"keylen": 0},
        {"keylen": "32"},
    ],
)
def test_a_costly_or_odd_salted_challenge_is_refused(changes: dict) -> None:
    node = make_node()
    extra = {"challenge": "c", "salt": "salt", "iterations": 1000, "keylen": 32, **changes}
    with pytest.raises(ApplicationError) as error:
        node.session.onChallenge(Challenge("wampcra", extra))
    assert error.value.error == "pingu.error.auth"


def test_another_method_or_no_secret_is_refused() -> None:
    node = make_node()
    with pytest.raises(ApplicationError):
        node.session.onChallenge(Challenge("ticket", {}))
    node.session.secret = None
    with pytest.raises(ApplicationError):
        node.session.onChallenge(Challenge("wampcra", {"challenge": "c"}))
