"""traceroute (Debian's, 2.1): its fields, its argv, its output, its end.

The argv always carries ``-n`` (addresses only: a reverse lookup per hop
would stall each line), explicit ``-m``, ``-q`` and ``-w`` (the tool's own
defaults clamped to the server's limits, so a limit below traceroute's
default still binds), and ``--`` right before the target, an IP literal the
server resolved itself; the packet length, traceroute's one positional
argument after the host, is a whole number the server checked.

Output, as traceroute 2.1.2 prints it with ``-n``::

    traceroute to 10.213.2.2 (10.213.2.2), 30 hops max, 60 byte packets
     1  10.213.0.2  0.110 ms  0.016 ms  0.012 ms
     2  * * *
     3  10.213.2.2  0.025 ms * 0.022 ms
     4  10.0.0.1  1.001 ms 10.0.0.2  2.002 ms  3.003 ms     (load balancing)
     5  10.213.1.2  0.047 ms !H  0.014 ms !H  0.012 ms !H   (ICMP unreachable)

Each hop line becomes one ``hop`` event the moment its last probe is
printed.  That is not when its line ends: traceroute writes a hop's
newline only when it begins the next hop (``"\\n 2  "``), which behind a
silent hop is a whole ``-w`` later (measured: hop 1 printed at 2 ms, its
newline at 2 s).  So the parser is also offered the unended line
(:meth:`TracerouteParser.pending`) and emits a hop from it as soon as it
holds all ``-q`` probes; the newline then adds nothing.  The header and
anything else (errors such as ``connect: Network is unreachable``) become
``line`` events.  Lines are split into tokens, never
matched by a pattern with nested repetition, so no line is slow to read.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Optional, cast

from pingu import events
from pingu.events import Event
from pingu.tools.base import LineParser, ToolBase
from pingu.tools.common import TOOL_ENV, OptionsDict, seconds_arg
from pingu.tools.spec import HOP_TABLE, Field, Limit, ResolvedRequest
from pingu.tools.spec import LimitValues as Limits

#: Nothing inherited; the C locale keeps decimal points as the parser reads them.
TRACEROUTE_ENV = TOOL_ENV
#: traceroute's own defaults (``-m``, ``-q``, ``-w``), used when a request names none.
DEFAULT_MAX_HOPS = 30
DEFAULT_QUERIES = 3
DEFAULT_WAIT = 5.0
#: The shortest wait a request may ask for, seconds: below it every probe
#: of a real network would be counted lost.
MIN_WAIT = 0.1
#: The smallest packet: an IPv4 header and a UDP header (traceroute raises
#: anything smaller to its minimum anyway).
MIN_PACKET = 28

#: The request fields traceroute takes.
FIELDS = (
    Field("max_hops", int, 1, "max_hops", "-m", "m", "Max hops", "largest TTL probed"),
    Field("queries", int, 1, "max_queries", "-q", "q", "Queries", "probes per hop"),
    Field("wait", float, MIN_WAIT, "max_wait", "", "w", "Wait",
          "seconds to wait for a probe's answer", "s"),
    Field("size", int, MIN_PACKET, "max_packet_size", "-s", "s", "Size",
          "packet bytes, IP header included", "B"),
)  # fmt: skip
#: traceroute's limits (mtr's ``max_hops`` and ``size`` are bounded by the
#: same two); the ceilings are traceroute 2.1's: "max hops cannot be more
#: than 255", "no more than 10 probes per hop", a packet above 65000 bytes
#: is "too big".
LIMITS = (
    Limit("max_hops", int, 30, "largest max_hops (TTL) a run may probe to",
          ceiling=255),
    Limit("max_queries", int, 10, "most probes per hop one traceroute run may send (queries)",
          ceiling=10),
    Limit("max_wait", float, 10.0, "longest wait for a traceroute probe's answer, seconds",
          floor="positive"),
    Limit("max_packet_size", int, 1500,
          "largest packet a hop-by-hop run sends, bytes, IP header included", ceiling=65000),
)  # fmt: skip

# " 1  10.213.0.2  0.110 ms ..." : the hop number, then the probes.
_HOP = re.compile(r"^ ?(?P<hop>\d{1,3}) +(?P<rest>\S.*)$")
_RTT = re.compile(r"^\d{1,9}(?:\.\d{1,9})?$")
# !H !N !P !S !A !C !V !X !Z !Q !T !U !W, !F-<mtu>, !<number>
_ANNOTATION = re.compile(r"^!(?:[A-Z]|F-?\d{0,5}|\d{1,3})?$")


@dataclass(frozen=True)
class TracerouteOptions(OptionsDict):
    """The options a client may choose; ``None`` means traceroute's default."""

    max_hops: Optional[int] = None
    queries: Optional[int] = None
    wait: Optional[float] = None
    size: Optional[int] = None
    family: Optional[int] = None


def queries_of(options: TracerouteOptions, limits: Limits) -> int:
    """The run's ``-q``: the request's, or traceroute's default within the limit."""
    return options.queries or min(DEFAULT_QUERIES, limits.max_queries)


def build_argv(traceroute: str, request: ResolvedRequest, limits: Limits) -> list[str]:
    """The full argv (``argv[0]`` is the traceroute executable)."""
    # the registry hands traceroute only its own requests
    options = cast(TracerouteOptions, request.options)
    max_hops = options.max_hops or min(DEFAULT_MAX_HOPS, limits.max_hops)
    queries = queries_of(options, limits)
    wait = options.wait if options.wait is not None else min(DEFAULT_WAIT, limits.max_wait)
    argv = [traceroute, "-n", f"-{request.family}"]
    argv += ["-m", str(max_hops), "-q", str(queries), "-w", seconds_arg(wait)]
    argv += ["--", request.address]
    if options.size is not None:
        argv.append(str(options.size))
    return argv


def _address(token: str) -> Optional[str]:
    if not (":" in token or "." in token) or len(token) > 45:
        return None
    try:
        return str(ipaddress.ip_address(token))
    except ValueError:
        return None


def parse_hop(line: str) -> Optional[Event]:
    """The ``hop`` event of one hop line, or ``None`` if it is not one.

    ``address`` is the first address that answered (``None`` when every
    probe was a ``*``); ``addresses`` lists every one, in order (several when
    routers balance the load); ``rtt_ms`` has one entry per probe, ``None``
    for a ``*``; ``annotations`` lists the ``!H``-style marks traceroute
    added (ICMP unreachable and the like), each once."""
    match = _HOP.match(line)
    if match is None:
        return None
    number = int(match["hop"])
    if not 1 <= number <= 255:
        return None
    tokens = match["rest"].split()
    rtts: list[Optional[float]] = []
    addresses: list[str] = []
    annotations: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "*":
            rtts.append(None)
        elif _RTT.match(token) and i + 1 < len(tokens) and tokens[i + 1] == "ms":
            if not addresses:
                return None  # a time before any address: not traceroute's
            rtts.append(float(token))
            i += 1
        elif _ANNOTATION.match(token):
            if not rtts or rtts[-1] is None:
                return None  # a mark belongs to an answered probe
            if token not in annotations:
                annotations.append(token)
        else:
            address = _address(token)
            if address is None:
                return None
            if address not in addresses:
                addresses.append(address)
        i += 1
    if not rtts:
        return None
    return events.hop(
        line,
        number,
        addresses[0] if addresses else None,
        rtts,
        addresses=addresses,
        annotations=annotations,
    )


class TracerouteParser(LineParser):
    """Turns traceroute's output, one line at a time, into events.

    ``queries`` is the run's ``-q``: a hop with that many probes printed is
    complete, whether or not its line has ended (None: only ended lines
    count)."""

    def __init__(self, target: Optional[str] = None, queries: Optional[int] = None) -> None:
        self.target = target
        self.queries = queries
        #: did the target itself answer a probe (for the end's ``how``)?
        self.reached = False
        #: the highest hop seen so far
        self.last_hop = 0
        #: the unended line a hop was emitted from, until its line ends
        #: (its text: the event itself is the run's once emitted)
        self._early: Optional[str] = None

    def pending(self, line: str) -> list[Event]:
        """Take the unended line: its hop, once it holds all its probes."""
        if self.queries is None or self._early is not None:
            return []
        event = parse_hop(line)
        if event is None or len(event["rtt_ms"]) < self.queries:
            return []
        self._early = line.rstrip()
        return [self._seen(event)]

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""
        early, self._early = self._early, None
        if early is not None and line.rstrip() == early:
            return []  # emitted already, when its last probe was printed
        event = parse_hop(line)
        if event is None:
            return [events.line(line)]
        return [self._seen(event)]

    def _seen(self, event: Event) -> Event:
        self.last_hop = max(self.last_hop, event["hop"])
        if self.target is not None and self.target in event["addresses"]:
            self.reached = True
        return event

    def finish(self) -> list[Event]:
        """End of output: traceroute holds nothing back."""
        return []


class Traceroute(ToolBase[TracerouteOptions]):
    """The :class:`pingu.tools.Tool` for Debian's traceroute (2.1).

    It exits 0 whether or not the target answered: a run whose target never
    answered ends ``no-reply`` (4000), one that reached it ``completed``;
    any other exit status (1: a network error such as "connect: Network is
    unreachable", 2: a usage error) is ``ping-error`` (4001, "traceroute
    reported an error").  It does not catch the SIGINT of a client's stop
    (or of the ceiling): dying of it is how it stops, not a crash."""

    name = "traceroute"
    executable = "traceroute"
    package = "traceroute"
    fields = FIELDS
    limits = LIMITS
    display = HOP_TABLE
    env = TRACEROUTE_ENV
    options_type = TracerouteOptions
    argv = staticmethod(build_argv)

    def parser(
        self, request: Optional[ResolvedRequest] = None, limits: Optional[Limits] = None
    ) -> TracerouteParser:
        """A parser that knows the target, to tell whether it answered, and
        the run's ``-q``, to tell when a hop is complete."""
        if request is None:
            return TracerouteParser()
        queries = queries_of(request.options, limits) if limits is not None else None
        return TracerouteParser(request.address, queries)

    def answered(self, parser: Any) -> bool:
        """Did the target itself answer a probe?"""
        return bool(getattr(parser, "reached", True))


TOOL = Traceroute()
