"""The run hub without any face: sharing, backlog, viewers, ceilings, one end."""

from __future__ import annotations

import itertools

import pytest
from twisted.internet.testing import MemoryReactorClock

from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.request import PingOptions, Refused, ResolvedRequest
from pingu.runs import RunHub
from tests.harness.memory import FakeSpawner

REQUEST = ResolvedRequest("127.0.0.1", "127.0.0.1", 4, PingOptions(count=5))


def make_hub(**limits) -> tuple[RunHub, FakeSpawner, MemoryReactorClock]:
    clock = MemoryReactorClock()
    spawner = FakeSpawner()
    hub = RunHub(clock, "/usr/bin/ping", Limits(**limits), spawner=spawner)
    return hub, spawner, clock


def test_identical_shared_requests_share_one_process() -> None:
    hub, spawner, _ = make_hub()
    first = hub.start(REQUEST, shared=True)
    second = hub.start(ResolvedRequest("localhost", "127.0.0.1", 4, PingOptions(count=5)),
                       shared=True)  # fmt: skip
    assert first is second and len(spawner.started) == 1
    other = hub.start(ResolvedRequest("127.0.0.1", "127.0.0.1", 4, PingOptions(count=6)),
                      shared=True)  # fmt: skip
    assert other is not first and len(spawner.started) == 2


def test_unshared_requests_never_share() -> None:
    hub, spawner, _ = make_hub()
    assert hub.start(REQUEST) is not hub.start(REQUEST)
    assert len(spawner.started) == 2


def test_late_viewer_gets_backlog_then_live_without_gap_or_duplicate() -> None:
    hub, spawner, _ = make_hub()
    run = hub.start(REQUEST, shared=True)
    early: list[dict] = []
    assert [e["type"] for e in run.add_viewer("early", early.append)] == ["start"]
    spawner.last.say("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.")
    spawner.last.say("64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms")
    late: list[dict] = []
    backlog = run.add_viewer("late", late.append)
    spawner.last.say("64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.045 ms")
    assert [e["type"] for e in backlog] == ["start", "line", "reply"]
    assert backlog + late == [run.backlog[0], *early]  # same events, same order, once


def test_last_viewer_leaving_stops_the_run() -> None:
    hub, spawner, _ = make_hub()
    run = hub.start(REQUEST, shared=True)
    run.add_viewer("a", lambda e: None)
    run.add_viewer("b", lambda e: None)
    run.remove_viewer("a")
    assert spawner.last.signals == []
    run.remove_viewer("b")
    assert spawner.last.signals == ["TERM"]
    assert run.ended and hub.runs == {}


def test_ended_shared_run_is_not_joined() -> None:
    hub, spawner, _ = make_hub()
    run = hub.start(REQUEST, shared=True)
    spawner.last.exit(0)
    assert hub.start(REQUEST, shared=True) is not run


def test_max_runs() -> None:
    hub, _, _ = make_hub(max_runs=2)
    hub.start(REQUEST)
    hub.start(REQUEST)
    with pytest.raises(Refused) as refused:
        hub.start(REQUEST)
    assert refused.value.code == CloseCode.BUSY
    # a shared run that exists is joined even at the limit: it costs nothing
    shared_hub, _, _ = make_hub(max_runs=1)
    run = shared_hub.start(REQUEST, shared=True)
    assert shared_hub.start(REQUEST, shared=True) is run


def test_describe() -> None:
    hub, _, clock = make_hub()
    run = hub.start(REQUEST, shared=True)
    run.add_viewer("a", lambda e: None)
    clock.advance(2.5)
    assert run.describe() == {
        "run": run.id, "target": "127.0.0.1", "address": "127.0.0.1", "family": 4,
        "options": {"count": 5, "interval": None, "size": None, "family": None,
                    "deadline": None},
        "age_s": 2.5, "viewers": 1,
    }  # fmt: skip


ACTIONS = ["client-stop", "viewer-leaves", "child-exits", "child-crashes", "ceiling", "shutdown"]


@pytest.mark.parametrize("order", list(itertools.permutations(ACTIONS, 3)))
def test_exactly_one_end_whatever_the_order(order) -> None:
    hub, spawner, clock = make_hub(max_duration=10)
    run = hub.start(REQUEST, shared=True)
    seen: list[dict] = []
    run.add_viewer("v", seen.append)
    child = spawner.last
    child.ignore = {"INT", "TERM"}  # so that every action finds the child alive
    for action in order:
        if action == "client-stop":
            run.stop("client")
        elif action == "viewer-leaves":
            run.remove_viewer("v")
        elif action == "child-exits" and child.pid is not None:
            child.exit(0)
        elif action == "child-crashes" and child.pid is not None:
            child.die(11)
        elif action == "ceiling":
            clock.advance(10)
        elif action == "shutdown":
            hub.shutdown()
    clock.advance(60)  # any escalation runs out
    ends = [e for e in run.backlog if e["type"] == "end"]
    assert len(ends) == 1
    assert run.ended and hub.runs == {}
    assert not clock.getDelayedCalls()


def test_counting_viewers_and_a_publishing_listener() -> None:
    """The WAMP face's shape: one listener publishes, subscribers only count."""
    hub, spawner, _ = make_hub()
    run = hub.start(REQUEST, shared=True)
    published: list[dict] = []
    run.add_listener(published.append)
    run.add_viewer("session-1")
    run.add_viewer("session-2")
    spawner.last.say("64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms")
    assert [e["type"] for e in published] == ["reply"]  # once, not once per viewer
    run.remove_viewer("session-1")
    run.remove_viewer("session-1")  # twice is harmless
    assert spawner.last.signals == []
    run.remove_viewer("session-2")
    assert spawner.last.signals == ["TERM"] and published[-1]["type"] == "end"


def test_a_private_run_keeps_only_a_few_events() -> None:
    """A private run's one viewer has every event; the run does not keep
    them all (1000 sessions would hold gigabytes by --max-duration)."""
    from pingu.runs import PRIVATE_BACKLOG

    hub, spawner, _ = make_hub()
    run = hub.start(REQUEST)
    seen: list[dict] = []
    assert [e["type"] for e in run.add_viewer("v", seen.append)] == ["start"]
    for seq in range(1, 101):
        spawner.last.say(f"64 bytes from 127.0.0.1: icmp_seq={seq} ttl=64 time=0.045 ms")
    assert len(seen) == 100
    assert len(run.backlog) <= PRIVATE_BACKLOG


def test_a_shared_run_keeps_its_backlog() -> None:
    hub, spawner, _ = make_hub()
    run = hub.start(REQUEST, shared=True)
    run.add_viewer("v", lambda e: None)
    for seq in range(1, 101):
        spawner.last.say(f"64 bytes from 127.0.0.1: icmp_seq={seq} ttl=64 time=0.045 ms")
    assert len(run.backlog) == 101
