"""The one definition of pingu's limits and of the request fields.

Both faces (plain WebSocket and WAMP), the command line (``pingu.tap``) and
the README's option table take their names, defaults and bounds from here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional


def _limit(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Limits:
    """Server-side ceilings and floors.  Every field is a ``twistd pingu``
    option of the same name with ``_`` written as ``-``."""

    max_duration: int = _limit(3600, "seconds after which any run is ended (a ceiling)")
    max_count: int = _limit(10000, "most echo requests one run may send (a ceiling)")
    min_interval: float = _limit(0.2, "smallest interval between echo requests, seconds")
    max_interval: float = _limit(60.0, "largest interval between echo requests, seconds")
    max_size: int = _limit(1472, "largest ICMP payload, bytes (1472 fills a 1500 MTU)")
    max_runs: int = _limit(1000, "ping processes alive at once in the whole server")
    max_runs_per_client: int = _limit(20, "ping processes alive at once per client address")
    max_connections_per_client: int = _limit(50, "open WebSockets per client address")
    max_starts_per_second: float = _limit(10.0, "run starts per second per client address")
    max_message: int = _limit(1024, "largest message a client may send, bytes")
    max_line: int = _limit(4096, "longest output line kept; the rest is cut, bytes")
    handshake_timeout: float = _limit(10.0, "seconds to finish the WebSocket handshake")
    idle_timeout: float = _limit(
        30.0, "seconds to send a request; also the WebSocket ping interval"
    )
    max_buffered: int = _limit(1024 * 1024, "output bytes queued for a slow client before drop")
    grace: float = _limit(2.0, "seconds between the stop signals INT, TERM and KILL")
    max_backlog: int = _limit(20000, "events kept for late viewers of a shared run")
    max_backlog_bytes: int = _limit(
        64 * 1024 * 1024,
        "bytes of memory the events of all backlogs and ended runs may take together "
        "(their JSON and Python's per-event overhead); oldest dropped first",
    )
    max_backlog_page: int = _limit(1000, "most events in one answer to a WAMP backlog call")
    max_watched_per_client: int = _limit(
        20, "runs one client may keep alive at once (started, joined or subscribed)"
    )
    max_calls_per_second: float = _limit(
        20.0, "WAMP calls (start, backlog, runs, nodes) per second per client"
    )
    max_calls_per_second_total: float = _limit(
        500.0, "WAMP calls per second to this node from all clients together"
    )
    resolve_timeout: float = _limit(5.0, "seconds a name lookup may take before it is refused")
    max_resolving: int = _limit(32, "name lookups in flight at once in the whole server")
    max_resolving_per_client: int = _limit(2, "name lookups in flight at once per client")
    max_handshakes: int = _limit(256, "connections still in their HTTP/WebSocket handshake")
    max_handshakes_per_client: int = _limit(8, "connections in their handshake per client")
    client_prefix6: int = _limit(64, "IPv6 clients in one prefix of this length are one client")
    max_lag: float = _limit(
        0.5, "event loop lag, seconds, over which new sessions are refused (4503)"
    )
    max_hops: int = _limit(30, "largest max_hops (TTL) a traceroute or mtr run may probe to")
    max_queries: int = _limit(10, "most probes per hop one traceroute run may send (queries)")
    max_wait: float = _limit(10.0, "longest wait for a traceroute probe's answer, seconds")
    max_packet_size: int = _limit(
        1500, "largest packet traceroute and mtr send, bytes, IP header included"
    )
    max_rounds: int = _limit(1000, "most rounds one mtr run may make (a ceiling)")
    min_round_interval: float = _limit(
        1.0, "smallest interval between mtr rounds, seconds (below 1 only for root)"
    )

    def replace(self, **changes: Any) -> Limits:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    #: Limits on the whole server.  With ``--workers N`` each worker holds a
    #: share of them and the shares add up to the limit exactly, so the server
    #: as a whole never goes above what the option says.  The per-client
    #: limits are not divided: a client's connections all go to one worker.
    SHARED_BY_WORKERS = ("max_runs", "max_resolving", "max_handshakes", "max_backlog_bytes")

    def share(self, index: int, workers: int, node: Optional[int] = None) -> Limits:
        """Worker ``index``'s (0-based) share of :attr:`SHARED_BY_WORKERS`
        among ``workers``: ``limit // workers``, one more for the first
        ``limit % workers`` workers.  ``node``: the worker that is the WAMP
        node; only its shared runs keep backlogs, so it holds all of
        ``max_backlog_bytes`` (the others none) rather than a share."""
        if not 0 <= index < workers:
            raise ValueError(f"worker {index} of {workers}")

        def part(total: int) -> int:
            return total // workers + (1 if index < total % workers else 0)

        shares = {name: part(getattr(self, name)) for name in self.SHARED_BY_WORKERS}
        if node is not None:
            shares["max_backlog_bytes"] = self.max_backlog_bytes if index == node else 0
        return self.replace(**shares)

    def check_shares(self, workers: int) -> None:
        """``ValueError`` when a whole-server limit is too small to give every
        one of ``workers`` workers at least one."""
        for name in self.SHARED_BY_WORKERS:
            value = getattr(self, name)
            if name in self.AT_LEAST_ONE and value < workers:
                raise ValueError(
                    f"--{name.replace('_', '-')} {value} cannot be shared by {workers} workers "
                    f"(each needs at least 1): raise it or lower --workers"
                )

    # -- start-up validation (check) -------------------------------------------
    # Plain class attributes, not annotated: they are not dataclass fields,
    # so they are neither options nor part of a Limits value.

    #: iputils ping refuses an interval below 2 ms to a user other than root
    #: ("cannot flood; minimal interval allowed for user is 2ms", exit 2).
    PING_USER_MIN_INTERVAL = 0.002
    #: mtr refuses an interval below 1 s to a user other than root (exit 1).
    MTR_USER_MIN_INTERVAL = 1.0
    #: Whole-number limits where 0 would refuse every request or connection.
    AT_LEAST_ONE = (
        "max_duration", "max_count", "max_runs", "max_runs_per_client",
        "max_connections_per_client", "max_message", "max_line", "max_buffered",
        "max_backlog_page", "max_watched_per_client", "max_resolving",
        "max_resolving_per_client", "max_handshakes", "max_handshakes_per_client",
        "max_hops", "max_queries", "max_packet_size", "max_rounds",
    )  # fmt: skip
    #: Limits where 0 is meaningful: no payload, no backlog kept.
    AT_LEAST_ZERO = ("max_size", "max_backlog", "max_backlog_bytes")
    #: Seconds and rates: 0 would be a flood, a timer that fires at once, or no rate at all.
    ABOVE_ZERO = (
        "min_interval", "max_interval", "max_starts_per_second", "handshake_timeout",
        "idle_timeout", "grace", "max_calls_per_second", "max_calls_per_second_total",
        "resolve_timeout", "max_wait", "min_round_interval", "max_lag",
    )  # fmt: skip
    #: Fields whose bounds are spelled out in check() itself.
    CHECKED_APART = ("client_prefix6",)
    #: Ceilings ping itself sets: above them every run would fail with ping's
    #: usage error (iputils 20221126: -s above 65507 cannot fit an IPv4
    #: packet, -i above 2147483 s is "bad timing interval", -w takes at most
    #: 2**31 - 1, -c at most 2**63 - 1).
    PING_CEILINGS = (
        ("max_size", 65507),
        ("max_interval", 2147483),
        ("max_duration", 2**31 - 1),
        ("max_count", 2**63 - 1),
    )
    #: Ceilings traceroute and mtr set (traceroute 2.1: "max hops cannot be
    #: more than 255", "no more than 10 probes per hop"; a packet above 65000
    #: bytes is "too big"; mtr's -c is an int).
    TOOL_CEILINGS = (
        ("max_hops", 255, "traceroute"),
        ("max_queries", 10, "traceroute"),
        ("max_packet_size", 65000, "traceroute"),
        ("max_rounds", 2**31 - 1, "mtr"),
    )
    #: (smaller, larger): a per-client share above the whole, or a floor above its
    #: ceiling, is a typo, and the larger limit would silently win.
    ORDERED = (
        ("min_interval", "max_interval"),
        ("min_round_interval", "max_interval"),
        # (A per-client limit above its total is not nonsense: the total
        # binds first, as on a small box run with --max-runs 1.)
        # a client whose queue cannot hold one line would be dropped on its first line
        ("max_line", "max_buffered"),
    )

    def check(self, *, root: bool) -> None:
        """Refuse limits that make no sense, before the server starts.

        ``root``: ping runs as root, so it accepts any interval; otherwise
        ``min_interval`` may not be below :attr:`PING_USER_MIN_INTERVAL`.
        Raises ``ValueError`` with one line that names the option as the
        command line spells it (``--min-interval``); returns None when all
        is well.
        """

        def option(name: str) -> str:
            return "--" + name.replace("_", "-")

        def show(value: Any) -> str:
            # As the operator typed it: 1048576 stays whole, 0.2 stays short.
            return f"{value:g}" if isinstance(value, float) else str(value)

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = str(f.type)
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{option(f.name)} must be a whole number (got {value!r})")
            if kind not in ("int", "float"):
                continue  # not a number: nothing numeric to check
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{option(f.name)} must be a number (got {value!r})")
            # NaN passes every comparison below as False, and inf is no limit.
            if not math.isfinite(value):
                raise ValueError(f"{option(f.name)} must be a finite number (got {value!r})")
            if f.name in self.AT_LEAST_ONE and value < 1:
                raise ValueError(f"{option(f.name)} must be at least 1 (got {show(value)})")
            if f.name in self.ABOVE_ZERO and value <= 0:
                raise ValueError(f"{option(f.name)} must be above 0 (got {show(value)})")
            # Every other number (fields added later included) is at least 0.
            if value < 0:
                raise ValueError(f"{option(f.name)} may not be negative (got {show(value)})")
        if not 0 <= self.client_prefix6 <= 128:
            raise ValueError(
                f"--client-prefix6 must be between 0 and 128 (got {self.client_prefix6})"
            )
        for name, ceiling in self.PING_CEILINGS:
            if getattr(self, name) > ceiling:
                raise ValueError(
                    f"{option(name)} {show(getattr(self, name))} is above {ceiling}, "
                    "the most ping accepts"
                )
        for name, ceiling, tool in self.TOOL_CEILINGS:
            if getattr(self, name) > ceiling:
                raise ValueError(
                    f"{option(name)} {show(getattr(self, name))} is above {ceiling}, "
                    f"the most {tool} accepts"
                )
        if not root and self.min_round_interval < self.MTR_USER_MIN_INTERVAL:
            raise ValueError(
                f"--min-round-interval {show(self.min_round_interval)} is below "
                f"{self.MTR_USER_MIN_INTERVAL:g} s, the shortest interval mtr allows "
                "a user other than root"
            )
        if not root and self.min_interval < self.PING_USER_MIN_INTERVAL:
            raise ValueError(
                f"--min-interval {show(self.min_interval)} is below "
                f"{self.PING_USER_MIN_INTERVAL:g} s, the shortest interval ping allows "
                "a user other than root"
            )
        for small, large in self.ORDERED:
            if getattr(self, small) > getattr(self, large):
                raise ValueError(
                    f"{option(small)} ({show(getattr(self, small))}) is above "
                    f"{option(large)} ({show(getattr(self, large))})"
                )


def limit_options() -> list[tuple[str, type, Any, str]]:
    """(option name, type, default, help) for every limit, for ``twistd`` options."""
    types = {"int": int, "float": float}
    return [
        (f.name.replace("_", "-"), types[str(f.type)], f.default, f.metadata["help"])
        for f in dataclasses.fields(Limits)
    ]
