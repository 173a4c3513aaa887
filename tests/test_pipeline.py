"""The one request path (pingu.pipeline.request) to the hub, with a
resolver whose answers the test gives, and the watched quota of runs."""

from __future__ import annotations

import socket
from typing import Any, Optional

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from pingu import pipeline
from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import PingOptions, Policy, ResolvedRequest
from pingu.runs import Run, RunHub
from tests.harness.memory import FakeSpawner


class Resolver:
    """A resolver whose lookups stay in flight until the test answers them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Optional[int], defer.Deferred]] = []

    def __call__(self, name: str, family: Optional[int]) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.calls.append((name, family, d))
        return d

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def answer(self, index: int, *addresses: str) -> None:
        self.calls[index][2].callback(list(addresses))

    def fail(self, index: int) -> None:
        self.calls[index][2].errback(socket.gaierror(socket.EAI_NONAME, "no such name"))


class Env:
    def __init__(self, **limits: Any) -> None:
        self.clock = MemoryReactorClock()
        self.spawner = FakeSpawner()
        self.resolver = Resolver()
        self.hub = RunHub(
            self.clock,
            "/usr/bin/ping",
            Limits(**limits),
            self.resolver,
            Policy(),
            clock_time=lambda: 1700000000.0,
            spawner=self.spawner,
        )

    def request(self, fields: Any, client: str = "a", **kw: Any) -> list[Any]:
        """The outcome, in a list: empty while pending, then the run (or None) or a Failure."""
        if isinstance(fields, str):
            fields = {"target": fields}
        out: list[Any] = []
        pipeline.request(self.hub, fields, client, **kw).addBoth(out.append)
        return out


def refused(out: list[Any]) -> Refused:
    assert len(out) == 1 and isinstance(out[0], Failure), out
    assert out[0].check(Refused), out[0]
    return out[0].value


def run_of(out: list[Any]) -> Run:
    assert len(out) == 1 and isinstance(out[0], Run), out
    return out[0]


# -- check, then admit, before anything costs a lookup ------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"target": "-x.example"}, {"target": "a.example", "count": 0}, {"target": "a b"}, []],
)
def test_a_bad_request_costs_no_lookup_and_no_start_token(fields: Any) -> None:
    env = Env(max_starts_per_second=1)
    for _ in range(5):
        assert refused(env.request(fields)).code == CloseCode.BAD_REQUEST
    assert env.resolver.calls == []
    env.request("a.example")  # the client's one token is still there
    assert env.resolver.names == ["a.example"]


def test_the_rate_limit_comes_before_the_lookup() -> None:
    env = Env(max_starts_per_second=2)
    env.request("a.example")
    env.request("b.example")
    r = refused(env.request("c.example"))
    assert (r.code, r.reason) == (CloseCode.BUSY, "too-many-starts")
    assert env.resolver.names == ["a.example", "b.example"]
    assert env.request("c.example", client="b") == []  # another client's rate is its own
    assert env.resolver.names[-1] == "c.example"


def test_a_private_run_over_capacity_costs_no_lookup() -> None:
    env = Env(max_runs_per_client=1)
    run_of(env.request("127.0.0.1"))
    r = refused(env.request("a.example"))
    assert r.reason == "too-many-runs-per-client" and env.resolver.calls == []


def test_shutting_down_refuses_before_the_lookup() -> None:
    env = Env()
    env.hub.shutdown()
    assert refused(env.request("a.example")).reason == "shutting-down"
    assert env.resolver.calls == []


def test_a_literal_costs_no_lookup_and_no_lookup_slot() -> None:
    env = Env(max_resolving=1)
    assert env.request("a.example") == []
    run_of(env.request("127.0.0.1", client="b"))
    run_of(env.request({"target": "::1"}, client="c"))
    assert env.resolver.names == ["a.example"]


# -- lookups in flight --------------------------------------------------------------


def test_max_resolving_refuses_while_full_and_frees_when_answered() -> None:
    env = Env(max_resolving=2)
    a = env.request("a.example", client="a")
    env.request("b.example", client="b")
    r = refused(env.request("c.example", client="c"))
    assert (r.code, r.reason) == (CloseCode.BUSY, "too-many-lookups")
    assert env.resolver.names == ["a.example", "b.example"]
    env.resolver.answer(0, "192.0.2.1")
    run_of(a)
    assert env.request("c.example", client="c") == []
    assert env.resolver.names[-1] == "c.example"


def test_max_resolving_per_client_keeps_other_clients_served() -> None:
    env = Env(max_resolving_per_client=2)
    env.request("a1.example", client="slow")
    env.request("a2.example", client="slow")
    r = refused(env.request("a3.example", client="slow"))
    assert (r.code, r.reason) == (CloseCode.BUSY, "too-many-lookups-per-client")
    other = env.request("b.example", client="other")
    env.resolver.answer(2, "192.0.2.9")
    assert run_of(other).request.address == "192.0.2.9"
    assert env.resolver.names == ["a1.example", "a2.example", "b.example"]


def test_a_failed_lookup_is_unresolved_and_frees_its_slot() -> None:
    env = Env(max_resolving_per_client=1)
    out = env.request("nx.example")
    env.resolver.fail(0)
    r = refused(out)
    assert (r.code, r.reason, r.field) == (CloseCode.UNRESOLVED, "unresolved", "target")
    assert env.hub.resolving.total == 0
    assert env.request("a.example") == []


def test_the_resolve_timeout_refuses_and_the_lookup_counts_until_it_ends() -> None:
    env = Env(resolve_timeout=5, max_resolving_per_client=1)
    out = env.request("slow.example")
    env.clock.advance(4.9)
    assert out == []
    env.clock.advance(0.2)
    r = refused(out)
    assert (r.code, r.reason, r.field) == (CloseCode.UNRESOLVED, "resolve-timeout", "target")
    # the resolver thread is still blocked: it still counts
    assert env.hub.resolving["a"] == 1
    assert refused(env.request("other.example")).reason == "too-many-lookups-per-client"
    env.resolver.answer(0, "192.0.2.1")  # the late answer starts nothing
    assert env.spawner.started == [] and env.hub.runs == {}
    lookup = env.resolver.calls[0][2]
    assert lookup.called and lookup.result is None  # no AlreadyCalledError left behind
    assert env.hub.resolving.total == 0
    assert env.request("other.example") == []


def test_a_late_failure_after_the_timeout_ends_quietly() -> None:
    env = Env(resolve_timeout=1)
    out = env.request("slow.example")
    env.clock.advance(2)
    assert refused(out).reason == "resolve-timeout"
    env.resolver.fail(0)  # no second errback (AlreadyCalledError), nothing logged
    lookup = env.resolver.calls[0][2]
    assert lookup.called and lookup.result is None
    assert env.hub.resolving.total == 0 and len(out) == 1


def test_an_answer_in_time_cancels_the_timeout() -> None:
    env = Env(resolve_timeout=5)
    out = env.request("a.example")
    env.resolver.answer(0, "192.0.2.1")
    run = run_of(out)
    env.clock.advance(6)  # the timer would errback an answered Deferred
    assert not run.ended and len(out) == 1
    assert len(env.clock.getDelayedCalls()) == 1  # only the run's ceiling


# -- admit again after the lookup; start or join -------------------------------------


def test_capacity_is_checked_again_after_the_lookup() -> None:
    env = Env(max_runs_per_client=1, max_resolving_per_client=2)
    first = env.request("a.example")
    second = env.request("b.example")  # both admitted while nothing runs
    env.resolver.answer(0, "192.0.2.1")
    env.resolver.answer(1, "192.0.2.2")
    run_of(first)
    assert refused(second).reason == "too-many-runs-per-client"
    assert len(env.spawner.started) == 1


def test_server_capacity_is_checked_again_after_the_lookup() -> None:
    env = Env(max_runs=1)
    out = env.request("a.example", client="a")
    run_of(env.request("127.0.0.1", client="b"))
    env.resolver.answer(0, "192.0.2.1")
    assert refused(out).reason == "too-many-runs"


def test_a_client_gone_while_resolving_starts_nothing() -> None:
    env = Env()
    asked: list[bool] = []

    def wanted() -> bool:
        asked.append(True)
        return False

    out = env.request("a.example", wanted=wanted)
    assert asked == []  # asked only once the name has resolved
    env.resolver.answer(0, "192.0.2.1")
    assert out == [None] and asked == [True]
    assert env.spawner.started == [] and env.hub.runs == {}
    assert env.hub.resolving.total == 0


def test_a_wanted_request_starts() -> None:
    env = Env()
    out = env.request("a.example", wanted=lambda: True)
    env.resolver.answer(0, "192.0.2.1")
    assert run_of(out).argv[-2:] == ["--", "192.0.2.1"]


def test_joining_a_shared_run_at_max_runs_works() -> None:
    env = Env(max_runs=1)
    run = run_of(env.request("127.0.0.1", client="a", shared=True))
    joined = env.request("localhost", client="b", shared=True)
    env.resolver.answer(0, "127.0.0.1")
    assert run_of(joined) is run and len(env.spawner.started) == 1
    # a shared request that needs a process is refused once it is known
    other = env.request("b.example", client="c", shared=True)
    env.resolver.answer(1, "192.0.2.5")
    assert refused(other).reason == "too-many-runs"


def test_the_watched_quota_refuses_a_new_run_but_allows_joining_its_own() -> None:
    env = Env(max_watched_per_client=1)
    run = run_of(env.request("127.0.0.1", client="a", shared=True))
    run.add_viewer("a-1", client="a")
    assert env.hub.watched["a"] == 1
    r = refused(env.request("127.0.0.2", client="a", shared=True))
    assert (r.code, r.reason) == (CloseCode.BUSY, "too-many-watched")
    assert refused(env.request("127.0.0.3", client="a")).reason == "too-many-watched"
    assert run_of(env.request("127.0.0.1", client="a", shared=True)) is run
    assert len(env.spawner.started) == 1
    # another client's quota is its own
    assert run_of(env.request("127.0.0.2", client="b", shared=True)) is not run


def test_the_watched_quota_refuses_joining_a_run_it_does_not_watch() -> None:
    env = Env(max_watched_per_client=1)
    mine = run_of(env.request("127.0.0.1", client="a", shared=True))
    mine.add_viewer("a-1", client="a")
    theirs = run_of(env.request("127.0.0.2", client="b", shared=True))
    theirs.add_viewer("b-1", client="b")
    assert refused(env.request("127.0.0.2", client="a", shared=True)).reason == (
        "too-many-watched"
    )


# -- runs: the watched quota through Run.add_viewer ----------------------------------


def make_hub(**limits: Any) -> tuple[RunHub, FakeSpawner]:
    spawner = FakeSpawner()
    hub = RunHub(MemoryReactorClock(), "/usr/bin/ping", Limits(**limits), spawner=spawner)
    return hub, spawner


def req(address: str) -> ResolvedRequest:
    return ResolvedRequest(address, address, 4, PingOptions())


def test_a_viewer_over_quota_is_refused_and_not_counted() -> None:
    hub, _ = make_hub(max_watched_per_client=2)
    runs = [hub.start(req(f"127.0.0.{i}"), shared=True) for i in (1, 2, 3)]
    seen: list[dict] = []
    runs[0].add_viewer("k1", seen.append, "a")
    runs[1].add_viewer("k2", seen.append, "a")
    with pytest.raises(Refused) as error:
        runs[2].add_viewer("k3", seen.append, "a")
    assert (error.value.code, error.value.reason) == (CloseCode.BUSY, "too-many-watched")
    assert "k3" not in runs[2].viewers and not runs[2].watched_by("a")
    assert hub.watched["a"] == 2
    runs[2].remove_viewer("k3")  # harmless: it never was a viewer


def test_a_run_whose_other_viewers_are_over_quota_ends() -> None:
    hub, spawner = make_hub(max_watched_per_client=1)
    a_run = hub.start(req("127.0.0.1"), shared=True)
    a_run.add_viewer("a-1", client="a")
    run = hub.start(req("127.0.0.2"), shared=True)
    run.add_viewer("b-1", client="b")
    with pytest.raises(Refused):
        run.add_viewer("a-2", client="a")
    run.remove_viewer("b-1")  # the over-quota viewer keeps nothing alive
    assert run.ended and spawner.started[1][2].signals == ["TERM"]
    assert not a_run.ended


def test_an_ended_run_releases_its_viewers_quota() -> None:
    hub, spawner = make_hub(max_watched_per_client=1)
    first = hub.start(req("127.0.0.1"), shared=True)
    first.add_viewer("a-1", client="a")
    second = hub.start(req("127.0.0.2"), shared=True)
    with pytest.raises(Refused):
        second.add_viewer("a-2", client="a")
    spawner.started[0][2].exit(0)
    assert first.ended and hub.watched["a"] == 0
    second.add_viewer("a-2", client="a")
    assert hub.watched["a"] == 1


def test_one_client_with_two_viewers_on_one_run_uses_one_unit() -> None:
    hub, _ = make_hub(max_watched_per_client=2)
    run = hub.start(req("127.0.0.1"), shared=True)
    run.add_viewer("tab-1", client="a")
    run.add_viewer("tab-2", client="a")
    run.add_viewer("tab-2", client="a")  # the same key again: still one
    assert hub.watched["a"] == 1
    other = hub.start(req("127.0.0.2"), shared=True)
    other.add_viewer("tab-3", client="a")  # the second unit is still free
    assert hub.watched["a"] == 2
    run.remove_viewer("tab-1")
    assert hub.watched["a"] == 2 and run.watched_by("a")
    run.remove_viewer("tab-2")
    assert hub.watched["a"] == 1 and not run.watched_by("a")


def test_viewers_without_a_client_use_no_quota() -> None:
    hub, _ = make_hub(max_watched_per_client=1)
    for i in range(5):
        hub.start(req(f"127.0.0.{i + 1}"), shared=True).add_viewer(f"k{i}")
    assert hub.watched["a"] == 0
