"""The one definition of pingu's limits and of the request fields.

Both faces (plain WebSocket and WAMP), the command line (``pingu.tap``) and
the README's option table take their names, defaults and bounds from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: The fields a structured request may carry; nothing else is accepted.
REQUEST_FIELDS = ("target", "count", "interval", "size", "family", "deadline")


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
        "bytes of events kept in all backlogs and ended runs together; oldest dropped first",
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

    def replace(self, **changes: Any) -> Limits:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def limit_options() -> list[tuple[str, type, Any, str]]:
    """(option name, type, default, help) for every limit, for ``twistd`` options."""
    types = {"int": int, "float": float}
    return [
        (f.name.replace("_", "-"), types[str(f.type)], f.default, f.metadata["help"])
        for f in dataclasses.fields(Limits)
    ]
