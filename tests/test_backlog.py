"""Backlogs and the one byte budget they share (pingu.backlog)."""

from __future__ import annotations

import pytest

from pingu import events
from pingu.backlog import EVENT_OVERHEAD, Backlog, ByteBudget
from tests.harness.memory import charged


def ev(n: int, raw: str = "x" * 50) -> dict:
    return {"type": "line", "raw": raw, "n": n}


def size(event: dict) -> int:
    """What the budget charges for an event: its JSON and the memory beyond it."""
    return len(events.encode(event).encode("utf-8")) + EVENT_OVERHEAD


def ns(backlog: Backlog) -> list[int]:
    return [e["n"] for e in backlog]


def test_maxlen_drops_the_oldest() -> None:
    b = Backlog(3)
    for n in range(1, 6):
        b.append(ev(n))
    assert ns(b) == [3, 4, 5] and len(b) == 3 and b[0]["n"] == 3


def test_a_budgeted_backlog_charges_the_json_size() -> None:
    budget = ByteBudget(10**6)
    b = Backlog(100, budget)
    b.append(ev(1))
    b.append(ev(2, raw="é" * 10))  # bytes, not characters
    assert budget.used == size(ev(1)) + size(ev(2, raw="é" * 10)) == charged(b)


def test_maxlen_drops_release_their_bytes() -> None:
    budget = ByteBudget(10**6)
    b = Backlog(2, budget)
    for n in range(1, 6):
        b.append(ev(n))
    assert budget.used == charged(b) == size(ev(4)) + size(ev(5))
    assert budget.dropped == 0  # maxlen is not the budget


def test_the_budget_drops_the_oldest_events_of_all_backlogs_first() -> None:
    s = size(ev(1))
    budget = ByteBudget(4 * s)
    a, b = Backlog(100, budget), Backlog(100, budget)
    a.append(ev(1))
    b.append(ev(1))
    a.append(ev(2))
    b.append(ev(2))
    assert budget.used == 4 * s and budget.dropped == 0
    b.append(ev(3))  # over: a's event 1 is the oldest of all
    assert (ns(a), ns(b)) == ([2], [1, 2, 3])
    a.append(ev(3))  # b's event 1 next
    assert (ns(a), ns(b)) == ([2, 3], [2, 3])
    b.append(ev(4))
    assert (ns(a), ns(b)) == ([3], [2, 3, 4])
    assert budget.dropped == 3 and budget.used == 4 * s == charged(a) + charged(b)


def test_what_the_budget_dropped_is_a_gap_in_n() -> None:
    s = size(ev(1))
    budget = ByteBudget(3 * s)
    a, b = Backlog(100, budget), Backlog(100, budget)
    a.append(ev(1))
    a.append(ev(2))
    b.append(ev(1))
    b.append(ev(2))  # drops a's 1
    a.append(ev(3))  # drops a's 2
    assert ns(a) == [3]
    assert [e["n"] for e in a.since(0, 100)] == [3]  # 1 and 2 are visibly missing


def test_detach_releases_the_bytes_and_keeps_the_events() -> None:
    budget = ByteBudget(10**6)
    a, b = Backlog(100, budget), Backlog(100, budget)
    for n in range(1, 11):
        a.append(ev(n))
        b.append(ev(n))
    a.detach()
    assert budget.used == charged(b) and len(a) == 10 and a.budget is None
    a.detach()  # twice is harmless
    b.clear()
    assert budget.used == 0 and len(b) == 0
    assert ns(a) == list(range(1, 11))


def test_a_detached_backlog_is_never_evicted_from() -> None:
    s = size(ev(1))
    budget = ByteBudget(3 * s)
    a, b = Backlog(100, budget), Backlog(100, budget)
    a.append(ev(1))
    a.append(ev(2))
    a.detach()
    for n in range(1, 10):
        b.append(ev(n))
    assert ns(a) == [1, 2]
    assert ns(b) == [7, 8, 9] and budget.used == 3 * s


def test_clear_releases_every_byte() -> None:
    budget = ByteBudget(10**6)
    a = Backlog(100, budget)
    for n in range(1, 51):
        a.append(ev(n))
    a.clear()
    assert budget.used == 0 and len(a) == 0
    a.append(ev(51))  # still budgeted after a clear
    assert budget.used == size(ev(51))


def test_a_duplicate_flood_never_exceeds_the_budget() -> None:
    """A target answering every echo request with hundreds of duplicates, or
    long lines: events of any size, many of them."""
    limit = 64 * 1024
    budget = ByteBudget(limit)
    flood, quiet = Backlog(20000, budget), Backlog(20000, budget)
    quiet.append(ev(1, raw="quiet"))
    for n in range(1, 3001):
        flood.append(ev(n, raw="DUP! " * (50 + n % 400)))
        assert budget.used <= limit
    assert budget.used == charged(flood) + charged(quiet)
    assert len(quiet) == 0  # the oldest of all went first
    assert ns(flood)[-1] == 3000 and budget.dropped > 0


def test_one_event_larger_than_the_budget_is_not_kept() -> None:
    budget = ByteBudget(100 + EVENT_OVERHEAD)
    b = Backlog(10, budget)
    b.append(ev(1, raw="y" * 500))
    assert len(b) == 0 and budget.used == 0
    b.append(ev(2, raw="ok"))
    assert ns(b) == [2]


@pytest.mark.parametrize("page", [1, 7, 100, 1000])
def test_since_paging_returns_every_event_exactly_once(page: int) -> None:
    b = Backlog(1000, ByteBudget(10**7))
    for n in range(1, 251):
        b.append(ev(n))
    seen: list[int] = []
    last = 0
    while True:
        got = b.since(last, page)
        assert len(got) <= page
        seen += [e["n"] for e in got]
        if len(got) < page:
            break
        last = got[-1]["n"]
    assert seen == list(range(1, 251))


def test_since_paging_while_events_arrive_and_old_ones_leave() -> None:
    b = Backlog(50)
    for n in range(1, 41):
        b.append(ev(n))
    seen: list[int] = []
    last, next_n = 0, 41
    while True:
        got = b.since(last, 8)
        seen += [e["n"] for e in got]
        if len(got) < 8:
            break
        last = got[-1]["n"]
        for _ in range(3):  # live events meanwhile
            b.append(ev(next_n))
            next_n += 1
    assert seen == sorted(set(seen)) and seen[-1] == next_n - 1


def test_since_above_the_last_is_empty() -> None:
    b = Backlog(10)
    for n in range(1, 4):
        b.append(ev(n))
    assert b.since(3, 10) == [] and b.since(99, 10) == []
    assert [e["n"] for e in b.since(1, 10)] == [2, 3]


def test_holds() -> None:
    b = Backlog(3)
    assert not b.holds(1)
    for n in range(1, 6):
        b.append(ev(n))
    assert [b.holds(n) for n in range(1, 7)] == [False, False, True, True, True, False]


def test_the_order_stays_bounded_when_events_leave_by_maxlen() -> None:
    budget = ByteBudget(10**12)
    b = Backlog(10, budget)
    other = Backlog(10, budget)
    for n in range(1, 100_001):
        b.append(ev(n, raw="r"))
        if n % 1000 == 0:
            other.append(ev(n // 1000, raw="r"))
    assert len(budget._order) <= 2 * (len(b) + len(other)) + 1025
    assert budget.used == charged(b) + charged(other)
    # and the order is still right: the budget drops the oldest kept event first
    budget.limit = budget.used - 1
    b.append(ev(100_001, raw="r"))
    assert ns(b) == list(range(99_992, 100_002))  # b's events are newer: untouched
    assert ns(other)[0] > 91 and ns(other)[-1] == 100  # other's oldest went
    assert budget.used <= budget.limit


def test_the_order_stays_bounded_when_backlogs_are_detached_and_cleared() -> None:
    budget = ByteBudget(10**12)
    for round_ in range(200):
        b = Backlog(1000, budget)
        for n in range(1, 1001):
            b.append(ev(n, raw="r"))
        if round_ % 2:
            b.detach()
        else:
            b.clear()
    assert budget.used == 0
    assert len(budget._order) <= 2 * 1000 + 1025


def test_maxlen_zero_keeps_nothing() -> None:
    budget = ByteBudget(10**6)
    b = Backlog(0, budget)
    b.append(ev(1))
    assert len(b) == 0 and budget.used == 0
