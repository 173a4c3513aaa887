"""Ended runs, kept a while so that ``backlog`` still answers for them.

A run can end between a viewer's ``start`` and its subscription; the
viewer then fetches the whole run from ``backlog``.  So the node keeps the
events of an ended run for :data:`ENDED_LINGER` seconds, at most
:data:`ENDED_KEEP` runs, and inside the hub's byte budget like the live
backlogs (the budget may drop their oldest events first).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

from pingu.backlog import Backlog

#: Seconds ``backlog`` still answers for a run that has ended, and how many
#: ended runs are kept that long at most.
ENDED_LINGER = 60.0
ENDED_KEEP = 256


class EndedRuns:
    """A bounded, expiring store of ended runs' backlogs, by run id."""

    def __init__(self, clock: Any, keep: int = ENDED_KEEP, linger: float = ENDED_LINGER):
        self.clock = clock
        self.keep = keep
        self.linger = linger
        self._runs: OrderedDict[str, Backlog] = OrderedDict()

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._runs

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: str) -> Optional[Backlog]:
        """The backlog of an ended run, while it is kept."""
        return self._runs.get(run_id)

    def retain(self, backlog: Backlog) -> None:
        """Mark a live run's backlog as one to keep once the run has ended
        (before its end, so the hub leaves it in the budget)."""
        backlog.retained = True

    def add(self, run_id: str, backlog: Backlog) -> None:
        """Keep an ended run's backlog for a while."""
        self._runs[run_id] = backlog
        while len(self._runs) > self.keep:
            _, oldest = self._runs.popitem(last=False)
            oldest.clear()
        self.clock.callLater(self.linger, self._expire, run_id, backlog)

    def _expire(self, run_id: str, backlog: Backlog) -> None:
        if self._runs.get(run_id) is backlog:
            del self._runs[run_id]
            backlog.clear()
