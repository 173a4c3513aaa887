"""mtr (Debian's mtr-tiny, 0.95): its fields, its argv, its raw output, its end.

The argv always carries ``--raw`` (one line per probe event, as it
happens), ``-n`` (no reverse lookups), explicit ``-c``, ``-i`` and ``-m``
(the request's, or mtr's defaults clamped to the server's limits; without a
count, ``--max-rounds`` bounds the run as ``--max-count`` bounds ping), and
``--`` right before the target, an IP literal the server resolved itself.

mtr's raw format (``mtr --raw -n -c 3 -- 10.213.2.2`` on this machine)::

    x 0 33000            probe seq 33000 sent to hop 0 (hops count from 0)
    h 0 10.213.0.2       hop 0's address (mtr prints each one twice)
    p 0 226 33000        reply to seq 33000 from hop 0 after 226 microseconds
    d 0 router.example   hop 0's name (never with -n)
    m 0 ...              an MPLS label of hop 0 (ignored)

A lost probe has no line of its own: it is an ``x`` whose ``p`` never
comes.  In its first round mtr probes past the target (the target answers
every TTL from its own on); like mtr's own display, hops above the first
one whose address is the target are left out.

Events:

* ``hop`` when a hop's address is first known (and again for each further
  address of the same hop, when routers balance the load): ``hop`` from 1,
  ``address``, ``addresses`` (all known so far), ``rtt_ms`` empty (mtr
  prints the address before the probe's reply, whose figures come in the
  ``hop_stats`` right after);
* ``hop_stats`` each time one of a hop's probes is settled, which is once
  per round that probed it: answered (its ``p`` line), or lost (no answer
  by the time mtr sends that hop its next probe, at least one interval
  later, or by the end of output).  ``sent`` counts settled probes only,
  as mtr leaves probes in transit out of its loss figure.  ``last``,
  ``best``, ``avg``, ``worst`` are as mtr computes them; ``stdev_ms`` is
  mtr's (the sample standard deviation, Welford's running form, 0 for one
  reply); ``jitter_ms`` is mtr's "Jttr", ``|last - previous|`` of the two
  latest replies (``None`` before a second reply; mtr shows the first RTT
  there), not the mean jitter.  A late reply to a probe already counted
  lost is ignored.

Its ``raw`` is a readable per-hop line, which is what the text mode sends::

     3. 10.213.2.2        0.0%  sent 3  last 0.12 avg 0.10 best 0.08 wrst 0.12 stdev 0.02
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any, Optional, cast

from pingu import events
from pingu.events import Event
from pingu.tools.base import LineParser, ToolBase
from pingu.tools.common import TOOL_ENV, OptionsDict, seconds_arg
from pingu.tools.spec import HOP_STATS, Field, Limit, ResolvedRequest
from pingu.tools.spec import LimitValues as Limits

#: Nothing inherited (mtr reads MTR_OPTIONS and MTR_PACKET from it); PATH
#: is where mtr finds mtr-packet, its privileged helper.
MTR_ENV = TOOL_ENV
#: mtr's own defaults (``-i``, ``-m``), used when a request names none.
DEFAULT_INTERVAL = 1.0
DEFAULT_MAX_HOPS = 30
#: The smallest packet: an IPv4 header and an ICMP header (mtr raises
#: anything smaller to its minimum anyway).
MIN_PACKET = 28
#: Addresses kept per hop (mtr keeps 8 paths per hop too).
MAX_ADDRESSES = 8
#: Hops count from 0 in mtr's raw output; a TTL is at most 255.
MAX_HOP_INDEX = 254

#: The request fields mtr takes (``max_hops`` and ``size`` bounded by the
#: limits traceroute brings).
FIELDS = (
    Field("count", int, 1, "max_rounds", "-c", "c", "Rounds", "stop after N rounds"),
    Field("interval", float, "min_round_interval", "max_interval", "-i", "i", "Interval",
          "seconds between rounds", "s"),
    Field("max_hops", int, 1, "max_hops", "-m", "m", "Max hops", "largest TTL probed"),
    Field("size", int, MIN_PACKET, "max_packet_size", "-s", "s", "Size",
          "packet bytes, IP header included", "B"),
)  # fmt: skip
#: mtr's own limits; a user other than root may not go below 1 s a round
#: (mtr exits 1), and its -c is a C int.
LIMITS = (
    Limit("max_rounds", int, 1000, "most rounds one mtr run may make (a ceiling)",
          ceiling=2**31 - 1),
    Limit("min_round_interval", float, 1.0,
          "smallest interval between mtr rounds, seconds (below 1 only for root)",
          floor="positive", user_floor=1.0, below="max_interval"),
)  # fmt: skip

_SENT = re.compile(r"^x (?P<hop>\d{1,3}) (?P<seq>\d{1,10})$")
_HOST = re.compile(r"^h (?P<hop>\d{1,3}) (?P<addr>[0-9A-Fa-f.:]{1,45})$")
_PING = re.compile(r"^p (?P<hop>\d{1,3}) (?P<usec>\d{1,10}) (?P<seq>\d{1,10})$")
_OTHER = re.compile(r"^[dm] \d{1,3} \S")


@dataclass(frozen=True)
class MtrOptions(OptionsDict):
    """The options a client may choose; ``None`` means mtr's default."""

    count: Optional[int] = None
    interval: Optional[float] = None
    max_hops: Optional[int] = None
    size: Optional[int] = None
    family: Optional[int] = None


def build_argv(mtr: str, request: ResolvedRequest, limits: Limits) -> list[str]:
    """The full argv (``argv[0]`` is the mtr executable)."""
    options = cast(MtrOptions, request.options)  # the registry hands mtr only its own requests
    count = options.count if options.count is not None else limits.max_rounds
    interval = options.interval
    if interval is None:
        interval = min(max(DEFAULT_INTERVAL, limits.min_round_interval), limits.max_interval)
    max_hops = options.max_hops or min(DEFAULT_MAX_HOPS, limits.max_hops)
    argv = [mtr, "--raw", "-n", f"-{request.family}"]
    argv += ["-c", str(count), "-i", seconds_arg(interval), "-m", str(max_hops)]
    if options.size is not None:
        argv += ["-s", str(options.size)]
    argv += ["--", request.address]
    return argv


@dataclass
class HopState:
    """What the parser knows of one hop (mtr's ``struct nethost``)."""

    addresses: list[str] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    last: Optional[float] = None
    best: Optional[float] = None
    worst: Optional[float] = None
    avg: float = 0.0
    ssd: float = 0.0  # sum of squared differences from the mean (Welford)
    jitter: Optional[float] = None
    outstanding: set[int] = field(default_factory=set)

    def answered(self, rtt: float) -> None:
        """One probe came back after ``rtt`` ms: mtr's net_process_ping."""
        self.sent += 1
        self.received += 1
        if self.last is not None and self.received > 1:
            self.jitter = abs(rtt - self.last)
        self.last = rtt
        self.best = rtt if self.best is None else min(self.best, rtt)
        self.worst = rtt if self.worst is None else max(self.worst, rtt)
        old = self.avg
        self.avg += (rtt - old) / self.received
        self.ssd += (rtt - old) * (rtt - self.avg)

    def lost(self) -> None:
        """One probe got no answer."""
        self.sent += 1

    @property
    def stdev(self) -> Optional[float]:
        """mtr's net_stdev: the sample standard deviation, 0 for one reply."""
        if self.received == 0:
            return None
        if self.received == 1:
            return 0.0
        return math.sqrt(max(self.ssd, 0.0) / (self.received - 1))


def _ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


def _show(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}"


def stats_line(number: int, state: HopState) -> str:
    """The readable per-hop line of a ``hop_stats`` (what text mode sends)."""
    address = state.addresses[0] if state.addresses else "???"
    loss = 100.0 * (state.sent - state.received) / state.sent if state.sent else 0.0
    return (
        f"{number:>2}. {address:<15} {loss:5.1f}%  sent {state.sent}  "
        f"last {_show(state.last)} avg {_show(state.avg if state.received else None)} "
        f"best {_show(state.best)} wrst {_show(state.worst)} stdev {_show(state.stdev)}"
    )


class MtrParser(LineParser):
    """Turns ``mtr --raw`` output, one line at a time, into events (mtr's
    raw mode ends each line as it prints it: an unended one is read whole)."""

    def __init__(self, target: Optional[str] = None) -> None:
        self.target = target
        self.hops: dict[int, HopState] = {}
        #: seq -> the hop index it was sent to, while unanswered
        self._probes: dict[int, int] = {}
        #: the lowest hop index whose address is the target's
        self.destination: Optional[int] = None
        #: rounds begun (probes sent to the first hop), for the ceiling
        self.rounds = 0

    @property
    def reached(self) -> bool:
        """Did the target itself answer?"""
        return self.destination is not None

    def _visible(self, index: int) -> bool:
        return self.destination is None or index <= self.destination

    def _stats(self, index: int) -> list[Event]:
        if not self._visible(index):
            return []
        state = self.hops[index]
        number = index + 1
        return [
            events.hop_stats(
                stats_line(number, state),
                number,
                state.addresses,
                state.sent,
                state.received,
                _ms(state.last),
                _ms(state.best),
                _ms(state.avg) if state.received else None,
                _ms(state.worst),
                _ms(state.stdev),
                _ms(state.jitter),
            )
        ]

    def _settle_lost(self, index: int) -> list[Event]:
        state = self.hops[index]
        out: list[Event] = []
        for seq in sorted(state.outstanding):
            self._probes.pop(seq, None)
            state.lost()
            out += self._stats(index)
        state.outstanding.clear()
        return out

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""
        match = _SENT.match(line)
        if match:
            index, seq = int(match["hop"]), int(match["seq"])
            if index > MAX_HOP_INDEX:
                return [events.line(line)]  # no TTL mtr could have sent
            if seq in self._probes:
                return []
            state = self.hops.setdefault(index, HopState())
            out = self._settle_lost(index)  # its previous probe had its chance
            state.outstanding.add(seq)
            self._probes[seq] = index
            if index == 0:
                self.rounds += 1
            return out
        match = _PING.match(line)
        if match:
            index, seq = int(match["hop"]), int(match["seq"])
            if self._probes.get(seq) != index:
                return []  # late (already counted lost), or never sent
            del self._probes[seq]
            state = self.hops[index]
            state.outstanding.discard(seq)
            state.answered(int(match["usec"]) / 1000.0)
            return self._stats(index)
        match = _HOST.match(line)
        if match:
            return self._host(int(match["hop"]), match["addr"])
        if _OTHER.match(line):
            return []
        return [events.line(line)]

    def _host(self, index: int, text: str) -> list[Event]:
        try:
            address = str(ipaddress.ip_address(text))
        except ValueError:
            address = None
        if address is None or index > MAX_HOP_INDEX:
            return [events.line(f"h {index} {text}")]
        state = self.hops.setdefault(index, HopState())
        if address in state.addresses or len(state.addresses) >= MAX_ADDRESSES:
            return []
        state.addresses.append(address)
        if address == self.target and (self.destination is None or index < self.destination):
            self.destination = index
        if not self._visible(index):
            return []
        number = index + 1
        return [
            events.hop(
                f"{number:>2}. {address}",
                number,
                address,
                [],
                addresses=list(state.addresses),
            )
        ]

    def finish(self) -> list[Event]:
        """End of output: every probe still unanswered is lost."""
        out: list[Event] = []
        for index in sorted(self.hops):
            out += self._settle_lost(index)
        return out


class Mtr(ToolBase[MtrOptions]):
    """The :class:`pingu.tools.Tool` for mtr (mtr-tiny 0.95, ``--raw``).

    mtr exits 0 whether or not the target answered: ``completed`` when it
    did, ``no-reply`` (4000) when not; any other exit status (1: mtr's own
    error, such as "udp socket connect failed: Network is unreachable" or
    an "Unexpected mtr-packet error" for a packet above the MTU) is
    ``ping-error`` (4001, "mtr reported an error").  It does not catch the
    SIGINT of a client's stop (or of the ceiling): dying of it is how it
    stops, not a crash."""

    name = "mtr"
    executable = "mtr"
    package = "mtr-tiny"
    fields = FIELDS
    limits = LIMITS
    display = HOP_STATS
    env = MTR_ENV
    options_type = MtrOptions
    argv = staticmethod(build_argv)

    def parser(
        self, request: Optional[ResolvedRequest] = None, limits: Optional[Limits] = None
    ) -> MtrParser:
        """A parser that knows the target, to leave out the hops past it."""
        return MtrParser(request.address if request is not None else None)

    def how(
        self,
        exit_code: Optional[int],
        signal: Optional[int],
        parser: Any,
        request: ResolvedRequest,
        limits: Limits,
    ) -> str:
        """A run without a count that made ``--max-rounds`` rounds hit the
        ceiling; otherwise as any tool that exits 0 whether or not the
        target answered."""
        rounds = getattr(parser, "rounds", 0)
        options = cast(MtrOptions, request.options)
        if exit_code == 0 and options.count is None and rounds >= limits.max_rounds:
            return "ceiling"
        return super().how(exit_code, signal, parser, request, limits)

    def answered(self, parser: Any) -> bool:
        """Did the target itself answer?"""
        return bool(getattr(parser, "reached", True))


TOOL = Mtr()
