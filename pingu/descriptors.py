"""File descriptors, planned at start-up rather than run out of.

A process may hold ``RLIMIT_NOFILE`` descriptors; a distribution's soft
limit is 1,024, which a few hundred runs exhaust.  At start-up pingu raises
its soft limit to the hard one (:func:`raise_soft_limit`; systemd's
``LimitNOFILE=`` sets the hard one, ``contrib/pingu.service``) and refuses
to start, with one line, when the worst case of its limits cannot fit
(:func:`check`): every run, every WebSocket, every socket in its handshake
and every name lookup at once, plus what an idle server holds.

If descriptors still run out (another process's share of a lower hard
limit, a limit lowered while running), refusals stay clean: Twisted's port
keeps a reserve descriptor to accept and close a connection it has no room
for (and :class:`pingu.handoff.Acceptor` does the same in a ``--workers``
parent), and a run whose pipes cannot be made ends ``spawn-failed``.

The figures were measured from ``/proc/PID/fd`` of a real ``twistd pingu``
(Linux 6, CPython 3.11, Twisted 24): see each constant.
"""

from __future__ import annotations

import resource
from typing import Optional

from pingu.limits import Limits

#: Held by an idle server: stdio, the epoll, the waker's pipe, the log, the
#: listening socket, the watchdog's pipe (12 measured; a --workers worker 13
#: with its metrics socket), and room for what comes and goes (a metrics
#: scrape, the WAMP router's connection, the resolver's thread pool).
BASE = 64
#: A run while it is being spawned: two pipes (four ends) and the pidfd; once
#: spawned, three (measured: 20 runs took 60 descriptors more than 20 idle
#: WebSockets).  Spawns wait in a queue, so every run may be at the peak.
PER_RUN = 5
#: A WebSocket, or a socket in its HTTP request (measured: 20 WebSockets, 20).
PER_SOCKET = 1
#: A name lookup in flight: getaddrinfo's socket to the nameserver, two when
#: it asks for A and AAAA over separate sockets.
PER_LOOKUP = 2
#: A --workers parent, per worker: its channel and the pipe of its log
#: (measured: 11 with no worker, 15 with two, 19 with four).
PER_WORKER = 2


def soft_and_hard() -> tuple[int, int]:
    """This process's ``RLIMIT_NOFILE``: (soft, hard)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def raise_soft_limit() -> int:
    """Raise the soft limit to the hard one; the soft limit now in force."""
    soft, hard = soft_and_hard()
    if soft == hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def worst_case(limits: Limits) -> int:
    """Descriptors one serving process (a single server, or a worker with
    its share of the limits) holds with every limit reached at once."""
    return (
        BASE
        + limits.max_runs * PER_RUN
        + (limits.max_connections + limits.max_handshakes) * PER_SOCKET
        + limits.max_resolving * PER_LOOKUP
    )


def parent_worst_case(workers: int, waiting: int) -> int:
    """Descriptors a --workers parent holds at worst: its own, and per worker
    the channel, the log's pipe and ``waiting`` connections it may queue."""
    return BASE + workers * (PER_WORKER + waiting)


def check(limits: Limits, workers: int = 1, available: Optional[int] = None) -> Optional[str]:
    """What does not fit in ``available`` descriptors (the soft limit, once
    raised), as one line; None when everything does."""
    if available is None:
        available = raise_soft_limit()
    if workers > 1:
        from pingu.handoff import MAX_WAITING

        # Worker 0 holds the largest share of every whole-server limit.
        need, where = worst_case(limits.share(0, workers)), f"each of {workers} workers"
        parent = parent_worst_case(workers, MAX_WAITING)
        if parent > need:
            need, where = parent, f"the --workers parent ({PER_WORKER + MAX_WAITING} a worker)"
    else:
        need, where = worst_case(limits), "the server"
    if need <= available:
        return None
    return (
        f"the limits need up to {need} file descriptors in {where} (--max-runs x {PER_RUN} "
        f"+ --max-connections + --max-handshakes + --max-resolving x {PER_LOOKUP} + {BASE}) "
        f"but RLIMIT_NOFILE allows {available}: raise LimitNOFILE (systemd) or ulimit -n, "
        "or lower those limits"
    )
