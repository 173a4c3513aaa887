"""When ``pingu watch`` tries again after a refusal for load.

Two answers mean "not now" rather than "no":

* **busy**: a server or node behind its load says "busy, retry in N s"
  (:func:`pingu.refusal.overloaded`: close code 4503 on a WebSocket; on WAMP
  ``pingu.error.busy``, whose other reasons are limits that free up as runs
  end and seconds pass).  The watch waits the N seconds it says (1 when it
  says none), plus a random half of that more;
* **the router's** ``crossbar.error.max_concurrency_reached``: it already
  holds as many calls of that procedure for the node as the node takes (the
  node is behind; see ``MAX_PENDING_CALLS`` in :mod:`pingu.wamp.node`).  The
  watch waits a short random while, twice as long with every try, at most
  :data:`MAX_BACKOFF`.

The random part spreads a crowd that was refused together, so that it does
not come back together.  After :data:`BUSY_RETRIES` tries the refusal is the
answer.  The page does the same (``web/retry.js``).
"""

from __future__ import annotations

import re
from typing import Optional

from pingu.events import ERROR_URIS, MAX_CONCURRENCY_REACHED, CloseCode

#: How many times a watch tries a refused start (or call) again.
BUSY_RETRIES = 5
#: The node's WAMP error for "busy" (4429 and 4503 alike).
BUSY = ERROR_URIS[CloseCode.BUSY]
#: The first wait after the router's refusal: somewhere in this range, seconds.
FIRST_BACKOFF = (0.2, 1.0)
#: The longest wait after the router's refusal, seconds.
MAX_BACKOFF = 8.0
#: The WAMP errors that a call is tried again after.
LOAD_ERRORS = frozenset({BUSY, MAX_CONCURRENCY_REACHED})

_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?) s")


def busy_delay(reason: Optional[str], jitter: float) -> float:
    """Seconds to wait after a "busy, retry in N s" refusal: N (1 when the
    reason does not say), plus ``jitter`` (0 to 1) times half of it."""
    found = _RETRY_IN.search(reason or "")
    wait = float(found.group(1)) if found else 1.0
    return wait * (1 + jitter / 2)


def backoff_delay(tries: int, jitter: float) -> float:
    """Seconds to wait after the router's ``max_concurrency_reached``, when
    ``tries`` tries were made again already: first somewhere in
    :data:`FIRST_BACKOFF` (``jitter``, 0 to 1, says where), twice that each
    time after, at most :data:`MAX_BACKOFF`."""
    low, high = FIRST_BACKOFF
    return min(MAX_BACKOFF, (low + (high - low) * jitter) * 2**tries)


def retry_delay(error: str, message: Optional[str], tries: int, jitter: float) -> Optional[float]:
    """Seconds before a call refused with the WAMP error ``error`` (its text
    ``message``) is tried again, when ``tries`` tries were made again
    already; ``None`` when it is not: not a refusal for load, or no try left."""
    if error not in LOAD_ERRORS or tries >= BUSY_RETRIES:
        return None
    if error == MAX_CONCURRENCY_REACHED:
        return backoff_delay(tries, jitter)
    return busy_delay(message, jitter)
