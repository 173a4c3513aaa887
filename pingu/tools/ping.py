"""ping, the first tool: its fields, its argv, its output, its end.

The argv always carries ``-n`` (print addresses, no reverse lookups that
would stall output), ``-O`` (iputils reports each missing reply, which
becomes a ``timeout`` event), and ``--`` right before the target, which is
an IP literal the server resolved itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional, cast

from pingu import events
from pingu.refusal import bad
from pingu.tools.base import ToolBase
from pingu.tools.common import TOOL_ENV, OptionsDict, seconds_arg
from pingu.tools.ping_output import OutputParser
from pingu.tools.spec import RTT_SERIES, Field, Limit, ResolvedRequest
from pingu.tools.spec import LimitValues as Limits

#: The environment ping runs in: nothing inherited; the C locale keeps the
#: output in the format the parser reads (decimal points, English words).
PING_ENV = TOOL_ENV
#: ping's own interval when the request names none, seconds.
DEFAULT_INTERVAL = 1.0


#: The request fields ping takes; ``count`` and ``interval`` are bounded by
#: the server's own limits (every probe tool's), ``size`` by ping's.
FIELDS = (
    Field("count", int, 1, "max_count", "-c", "c", "Count",
          "stop after N replies"),
    Field("interval", float, "min_interval", "max_interval", "-i", "i", "Interval",
          "seconds between probes", "s"),
    Field("size", int, 0, "max_size", "-s", "s", "Size",
          "payload bytes", "B"),
    Field("deadline", int, 1, "max_duration", "-w", "d", "Deadline",
          "stop after S seconds", "s"),
)  # fmt: skip
#: ping's own limit.
LIMITS = (
    Limit("max_size", int, 1472, "largest ICMP payload, bytes (1472 fills a 1500 MTU)",
          floor="zero", ceiling=65507),  # iputils: above 65507 cannot fit an IPv4 packet
)  # fmt: skip


@dataclass(frozen=True)
class PingOptions(OptionsDict):
    """The options a client may choose; ``None`` means ping's default."""

    count: Optional[int] = None
    interval: Optional[float] = None
    size: Optional[int] = None
    family: Optional[int] = None
    deadline: Optional[int] = None


def build_argv(ping: str, request: ResolvedRequest, limits: Limits) -> list[str]:
    """The full argv (``argv[0]`` is the ping executable)."""
    options = cast(PingOptions, request.options)  # the registry hands ping only its own requests
    argv = [ping, "-n", "-O", f"-{request.family}"]
    # Without a count, the server's ceiling bounds the run; ping stops by itself.
    argv += ["-c", str(options.count if options.count is not None else limits.max_count)]
    if options.interval is not None:
        argv += ["-i", seconds_arg(options.interval)]
    if options.size is not None:
        argv += ["-s", str(options.size)]
    if options.deadline is not None:
        argv += ["-w", str(options.deadline)]
    argv += ["--", request.address]
    return argv


class Ping(ToolBase[PingOptions]):
    """The :class:`pingu.tools.Tool` for iputils ping (BusyBox and BSD output read too)."""

    name = "ping"
    executable = "ping"
    package = "iputils-ping"
    fields = FIELDS
    limits = LIMITS
    display = RTT_SERIES
    env = PING_ENV
    options_type = PingOptions
    argv = staticmethod(build_argv)
    #: reads iputils, BusyBox and BSD ping output (it needs nothing of the request)
    parser_type = OutputParser

    def options(self, fields: Mapping[str, Any], limits: Limits) -> PingOptions:
        """Check count, interval, size and deadline against the limits."""
        options = self.checked_options(fields, limits)
        if options.deadline is not None:
            # iputils with -w keeps sending past -c until the deadline when
            # replies do not come: the deadline, not the count, bounds what a
            # silent target receives, and that must stay within --max-count.
            interval = options.interval or DEFAULT_INTERVAL
            # Exactly, with the interval as ping will read it: 17 / 0.34 is
            # 49.999... in floating point, and ping would send 51.
            sends = math.floor(Fraction(options.deadline) / Fraction(seconds_arg(interval))) + 1
            if sends > limits.max_count:
                raise bad(
                    f"a deadline of {options.deadline} s at one request every {interval:g} s "
                    f"may send {sends} requests; this server sends at most {limits.max_count}",
                    "deadline",
                    "out-of-range",
                )
        return options

    def how(
        self,
        exit_code: Optional[int],
        signal: Optional[int],
        parser: Any,
        request: ResolvedRequest,
        limits: Limits,
    ) -> str:
        """A run without a count that sent ``--max-count`` requests hit the
        server's ceiling; otherwise ping's exit status says."""
        transmitted = getattr(parser, "transmitted", None)
        options = cast(PingOptions, request.options)
        if (
            options.count is None
            and transmitted is not None
            and transmitted >= limits.max_count
        ):
            return "ceiling"
        return events.how_from_exit(exit_code, signal)


TOOL = Ping()
