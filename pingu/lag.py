"""How far behind the server is, measured as it runs.

One process serves every session on one thread, and starts their tools on a
few threads of its own.  When sessions come faster than it can start them,
each new one waits behind all the others, and everybody's first line comes
seconds late.  Either part can fall behind first:

* the event loop: the server measures how late a timer of its own fires (a
  tick every :data:`TICK` seconds, which costs nothing next to a session);
* the starts: how long the oldest tool asked for has waited for its
  ``posix_spawn`` (:func:`pingu.spawner.start_wait`).  In the bench's churn
  at 600 sessions/s the loop was never 0.5 s late while the starts waited
  1.9 s (bench/PROFILE.md): the loop's lag alone admitted everybody.

A new session is refused at once, with close code 4503 and "busy, retry in
N s" (in WAMP, ``pingu.error.busy``), while the worse of the two is over
``--max-lag``: the sessions already admitted keep their pace.
"""

from __future__ import annotations

import gc
import math
from collections import deque
from collections.abc import Sequence
from typing import Any, Callable, Optional

#: seconds between two ticks
TICK = 0.02
#: the loop's lag is the worse of the latest tick's and the median of the
#: last this many (0.2 s of them, a tick not yet measured counting as on
#: time): one late tick (a full collection, a stall) refuses only until the
#: next one fires on time, while a loop that stays behind refuses for as
#: long as half its ticks come late, rather than flapping tick by tick
WINDOW = 10
#: the longest "retry in" the server tells, seconds
MAX_RETRY = 30


class LagMeter:
    """How far behind the server is: the event loop's lag (how late the
    latest tick fired, or the median of the last :data:`WINDOW`, or how
    overdue the next one is: while the loop is stuck this grows, the tick
    itself cannot run to say so), or how long the oldest start has waited
    (``waits``: the hub of a real server gives :func:`pingu.spawner.start_wait`),
    whichever is worse."""

    def __init__(
        self,
        reactor: Any,
        clock: Optional[Callable[[], float]] = None,
        waits: Optional[Sequence[Callable[[], float]]] = None,
    ) -> None:
        self.reactor = reactor
        self.clock = clock or reactor.seconds
        self.waits = tuple(waits or ())
        #: how late the latest ticks fired, seconds
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self._due: Optional[float] = None
        self._call: Optional[Any] = None

    def start(self) -> None:
        if self._call is None:
            self._schedule()

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._due = None
        self.recent.clear()

    def _schedule(self) -> None:
        self._due = self.clock() + TICK
        self._call = self.reactor.callLater(TICK, self._tick)

    def _tick(self) -> None:
        assert self._due is not None
        self.recent.append(max(0.0, self.clock() - self._due))
        self._schedule()

    def lag(self) -> float:
        """Seconds behind, now (the loop's part is 0 until started)."""
        behind = max((wait() for wait in self.waits), default=0.0)
        if self._due is None:
            return behind
        if not self.recent:
            return max(behind, self.clock() - self._due)
        late = sorted(self.recent)
        # the median of a full window: the ticks not yet measured were on time
        half = WINDOW // 2  # (the half-th latest of the window)
        median = late[len(late) - half] if len(late) >= half else 0.0
        return max(behind, self.recent[-1], median, self.clock() - self._due)

    def retry_after(self, lag: float) -> int:
        """Whole seconds a refused client should wait: twice the lag, at
        least 1, at most :data:`MAX_RETRY` (the client adds jitter)."""
        return min(MAX_RETRY, max(1, math.ceil(2 * lag)))


def freeze_boot_objects() -> None:
    """Move what exists once the process has started out of the garbage
    collector's reach (:func:`gc.freeze`): a full collection then walks only
    what came later, instead of stalling the loop, and every session with it
    (an idle server's 62,000 objects: 11-25 ms a full collection, against a
    ``--max-lag`` of 50 ms; the router does the same, see
    ``.crossbar/pingu_router.py``)."""
    gc.collect()
    gc.freeze()
