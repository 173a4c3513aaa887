"""Backlogs of events, and the byte budget all shared backlogs live within.

A shared run keeps its events for viewers that come late (and, on the
WAMP node, for a while after it ended).  Counting events is not enough: a
target that answers every echo request with hundreds of duplicates, or a
tool that prints long lines, makes events of any size.  So every budgeted
backlog charges the JSON size of each event it keeps to one
:class:`ByteBudget`, and when the total passes the budget the oldest events
of all, whichever run they belong to, are dropped first.  A viewer sees
what was dropped as a gap in the events' numbers ``n``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Optional

from pingu import events
from pingu.events import Event

#: What an event costs in memory beyond its JSON: a dict of a dozen keys and
#: the objects of its values.  Measured with bench/worst_rss.py (a flood of
#: duplicates: ~190 bytes of JSON, ~660 bytes of RSS an event), so that the
#: budget bounds the memory events take, not only their size on the wire.
EVENT_OVERHEAD = 480


class ByteBudget:
    """The bytes every budgeted backlog together may hold."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        #: how many events have been dropped to keep within the budget
        self.dropped = 0
        # (backlog, n) of every charged event, oldest first; entries of events
        # their backlog dropped by itself are skipped when reached.
        self._order: deque[tuple[Backlog, int]] = deque()
        self._live = 0

    def charge(self, backlog: Backlog, n: int, size: int) -> None:
        """``backlog`` keeps event ``n`` of ``size`` bytes; make room if needed."""
        self.used += size
        self._live += 1
        self._order.append((backlog, n))
        while self.used > self.limit and self._order:
            victim, victim_n = self._order.popleft()
            if victim.budget is self:
                self.dropped += victim.drop_through(victim_n)
        if len(self._order) > 2 * self._live + 1024:
            # Entries whose events left by other ways: keep the order short.
            self._order = deque(
                (b, n) for b, n in self._order if b.budget is self and b.holds(n)
            )

    def release(self, size: int) -> None:
        """An event of ``size`` bytes is no longer kept."""
        self.used -= size
        self._live -= 1


class Backlog:
    """A run's events, oldest first, at most ``maxlen`` of them, and within
    ``budget`` bytes when there is one."""

    def __init__(self, maxlen: int, budget: Optional[ByteBudget] = None) -> None:
        self.maxlen = maxlen
        self.budget = budget
        self._events: deque[Event] = deque()
        self._sizes: deque[int] = deque()
        #: kept after its run ended (the WAMP node's ended runs): stays budgeted
        self.retained = False

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __getitem__(self, index: int) -> Event:
        return self._events[index]

    def append(self, event: Event) -> None:
        """Keep ``event`` (it has its ``n``), dropping the oldest beyond ``maxlen``."""
        if self.maxlen <= 0:
            return
        if len(self._events) >= self.maxlen:
            self._pop()
        self._events.append(event)
        if self.budget is None:
            self._sizes.append(0)
            return
        size = len(events.encode(event).encode("utf-8")) + EVENT_OVERHEAD
        self._sizes.append(size)
        self.budget.charge(self, event["n"], size)

    def holds(self, n: int) -> bool:
        """Is event ``n`` still kept?"""
        return bool(self._events) and self._events[0]["n"] <= n <= self._events[-1]["n"]

    def drop_through(self, n: int) -> int:
        """Drop every kept event up to number ``n``; returns how many."""
        dropped = 0
        while self._events and self._events[0]["n"] <= n:
            self._pop()
            dropped += 1
        return dropped

    def clear(self) -> None:
        """Keep nothing any more."""
        while self._events:
            self._pop()

    def detach(self) -> None:
        """Keep the events, but outside the budget (its run has ended)."""
        if self.budget is not None:
            for size in self._sizes:
                self.budget.release(size)
            self.budget = None

    def since(self, n: int, limit: int) -> list[Event]:
        """At most ``limit`` events numbered above ``n``, oldest first."""
        page: list[Event] = []
        for event in self._events:
            if event["n"] > n:
                page.append(event)
                if len(page) >= limit:
                    break
        return page

    def _pop(self) -> None:
        self._events.popleft()
        size = self._sizes.popleft()
        if self.budget is not None:
            self.budget.release(size)
