"""The one definition of pingu's limits: the server's own, here, and the
tools' own, from the tool registry (:data:`pingu.tools.TOOLS`, each tool's
``limits``).

Both faces (plain WebSocket and WAMP), the command line (``pingu.tap``) and
the manual's limits table (docs/limits.rst) take their names, defaults and bounds from here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from pingu import tools


def _limit(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ServerLimits:
    """Server-side ceilings and floors.  Every field is a ``twistd pingu``
    option of the same name with ``_`` written as ``-``.  :class:`Limits`
    adds the tools' own limits (``limits.max_hops``) to these."""

    max_duration: int = _limit(3600, "seconds after which any run is ended (a ceiling)")
    max_count: int = _limit(10000, "most probes one run may send (a ceiling)")
    min_interval: float = _limit(0.2, "smallest interval between probes, seconds")
    max_interval: float = _limit(60.0, "largest interval between probes, seconds")
    max_runs: int = _limit(1000, "runs (tool processes) alive at once in the whole server")
    max_runs_per_client: int = _limit(20, "runs (tool processes) alive at once per client address")
    max_connections_per_client: int = _limit(50, "open WebSockets per client address")
    max_connections: int = _limit(
        4096, "open WebSockets in the whole server (each holds a file descriptor)"
    )
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
        0.05,
        "seconds behind (the event loop's lag or the oldest start's wait) over which"
        " new sessions are refused (4503)",
    )

    def __getattr__(self, name: str) -> Any:
        # Reached only for a name that is not a field: the tools' limits are
        # fields of Limits, which mypy does not see (they come from the registry).
        raise AttributeError(name)

    def replace(self, **changes: Any) -> Limits:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    #: Limits on the whole server.  With ``--workers N`` each worker holds a
    #: share of them and the shares add up to the limit exactly, so the server
    #: as a whole never goes above what the option says.  The per-client
    #: limits are not divided: a client's connections all go to one worker.
    SHARED_BY_WORKERS = (
        "max_runs", "max_resolving", "max_handshakes", "max_backlog_bytes", "max_connections",
    )  # fmt: skip

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
    #: Whole-number limits where 0 would refuse every request or connection
    #: (with the tools' limits whose floor is "one").
    AT_LEAST_ONE = (
        "max_duration", "max_count", "max_runs", "max_runs_per_client",
        "max_connections_per_client", "max_connections", "max_message", "max_line", "max_buffered",
        "max_backlog_page", "max_watched_per_client", "max_resolving",
        "max_resolving_per_client", "max_handshakes", "max_handshakes_per_client",
        *(limit.name for _, limit in tools.tool_limits()
          if limit.floor == "one" and limit.parse is None),
    )  # fmt: skip
    #: Limits where 0 is meaningful: no payload, no backlog kept.
    AT_LEAST_ZERO = (
        "max_backlog", "max_backlog_bytes",
        *(limit.name for _, limit in tools.tool_limits()
          if limit.floor == "zero" and limit.parse is None),
    )  # fmt: skip
    #: Seconds and rates: 0 would be a flood, a timer that fires at once, or no rate at all.
    ABOVE_ZERO = (
        "min_interval", "max_interval", "max_starts_per_second", "handshake_timeout",
        "idle_timeout", "grace", "max_calls_per_second", "max_calls_per_second_total",
        "resolve_timeout", "max_lag",
        *(limit.name for _, limit in tools.tool_limits()
          if limit.floor == "positive" and limit.parse is None),
    )  # fmt: skip
    #: Fields whose bounds are spelled out in check() itself (or, for a
    #: tool's limit that is not a number, by the tool's own ``parse``).
    CHECKED_APART = (
        "client_prefix6",
        *(limit.name for _, limit in tools.tool_limits() if limit.parse is not None),
    )
    #: Ceilings of the server's own limits that ping, the default tool, sets:
    #: above them every run would fail with ping's usage error (iputils
    #: 20221126: -i above 2147483 s is "bad timing interval", -w takes at
    #: most 2**31 - 1, -c at most 2**63 - 1).
    PING_CEILINGS = (
        ("max_interval", 2147483),
        ("max_duration", 2**31 - 1),
        ("max_count", 2**63 - 1),
    )
    #: (tool, limit) with the most that tool accepts, from the registry.
    TOOL_CEILINGS = tuple(
        (limit.name, limit.ceiling, name)
        for name, limit in tools.tool_limits()
        if limit.ceiling is not None
    )
    #: (smaller, larger): a per-client share above the whole, or a floor above its
    #: ceiling, is a typo, and the larger limit would silently win.
    ORDERED = (
        ("min_interval", "max_interval"),
        *((limit.name, limit.below) for _, limit in tools.tool_limits() if limit.below),
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
            kind = _kind(f)
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{option(f.name)} must be a whole number (got {value!r})")
            if kind == "str" and not isinstance(value, str):
                raise ValueError(f"{option(f.name)} must be text (got {value!r})")
            if kind not in ("int", "float"):
                continue  # not a number: its tool reads it (below)
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
        for tool_limit, tool_ceiling, tool in self.TOOL_CEILINGS:
            if getattr(self, tool_limit) > tool_ceiling:
                raise ValueError(
                    f"{option(tool_limit)} {show(getattr(self, tool_limit))} is above "
                    f"{tool_ceiling}, the most {tool} accepts"
                )
        for tool, limit in tools.tool_limits():
            if limit.parse is not None:
                try:
                    limit.parse(getattr(self, limit.name))
                except ValueError as e:
                    raise ValueError(f"{option(limit.name)}: {e}") from None
            if not root and limit.user_floor is not None:
                value = getattr(self, limit.name)
                if value < limit.user_floor:
                    raise ValueError(
                        f"{option(limit.name)} {show(value)} is below {limit.user_floor:g}, "
                        f"the least {tool} accepts from a user other than root"
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


def _with_tool_limits() -> type[ServerLimits]:
    # The tools' limits become fields of one frozen dataclass with the
    # server's: one value, one set of twistd options, one check.
    extra = [
        (limit.name, limit.kind, _limit(limit.default, limit.help))
        for _, limit in tools.tool_limits()
    ]
    made = dataclasses.make_dataclass("Limits", extra, bases=(ServerLimits,), frozen=True)
    made.__module__ = __name__
    made.__doc__ = ServerLimits.__doc__
    return made


if TYPE_CHECKING:
    Limits = ServerLimits
else:
    #: The server's limits and every tool's: the type every module uses.
    Limits = _with_tool_limits()


def limit_options() -> list[tuple[str, type, Any, str]]:
    """(option name, type, default, help) for every limit, for ``twistd`` options."""
    types = {"int": int, "float": float, "str": str}
    return [
        (f.name.replace("_", "-"), types[_kind(f)], f.default, f.metadata["help"])
        for f in dataclasses.fields(Limits)
    ]


def _kind(f: dataclasses.Field[Any]) -> str:
    """``"int"`` or ``"float"``: a field's type as written (a string under
    ``from __future__ import annotations``) or as a tool declared it (a type)."""
    return f.type if isinstance(f.type, str) else f.type.__name__
