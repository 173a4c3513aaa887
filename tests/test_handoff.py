"""The --workers parent's dropped connections (pingu.handoff.Drops): counted
by reason, logged at most once a second per reason with the count since."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from pingu.handoff import Drops
from pingu.metrics import parent_registry


def said(run) -> list[dict]:
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        run()
    finally:
        globalLogPublisher.removeObserver(events.append)
    return [e for e in events if e.get("event") == "dropped"]


def test_a_burst_is_one_line_at_once_and_one_when_its_second_is_up() -> None:
    clock = Clock()
    drops = Drops(clock)

    def burst() -> None:
        for _ in range(5):
            drops.dropped("worker-busy")
            clock.advance(0.1)
        drops.dropped("no-worker")
        clock.advance(1.0)

    lines = said(burst)
    assert [(e["reason"], e["count"]) for e in lines] == [
        ("worker-busy", 1), ("no-worker", 1), ("worker-busy", 4),
    ]  # fmt: skip
    assert drops.counts["worker-busy"] == 5 and drops.counts["no-worker"] == 1


def test_what_is_unsaid_is_said_when_the_parent_stops() -> None:
    clock = Clock()
    drops = Drops(clock)
    drops.dropped("worker-gone", 3)
    lines = said(lambda: (drops.dropped("worker-gone", 2), drops.stop()))
    assert [(e["reason"], e["count"]) for e in lines] == [("worker-gone", 2)]
    assert clock.getDelayedCalls() == []


def test_the_counts_are_the_parents_metric() -> None:
    drops = Drops(Clock())
    drops.dropped("out-of-descriptors", 7)
    registry = parent_registry(drops)
    value = registry.get_sample_value(
        "pingu_parent_dropped_total", {"reason": "out-of-descriptors"}
    )
    assert value == 7
    assert registry.get_sample_value("pingu_parent_dropped_total", {"reason": "no-worker"}) == 0
