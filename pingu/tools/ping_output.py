"""Turn ping's output, one line at a time, into events.

iputils is the reference; BusyBox and the BSDs (FreeBSD, macOS) print the
same facts in slightly different words, and are read too.  Each line shape
has one anchored regex without nested repetition, so no line, however long
or strange, can make matching slow, and nothing here raises on any input.

The only state is the statistics line, held until the line after it: when
that is the round-trip line, both become one ``summary``; otherwise the
summary goes out without round-trip figures, followed by what the next line
makes.
"""

from __future__ import annotations

import re
from typing import Optional

from pingu import events
from pingu.events import Event
from pingu.tools.base import LineParser

# "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.119 ms"          iputils
# "64 bytes from localhost (127.0.0.1): icmp_seq=1 ttl=64 time=0.04 ms" iputils, names
# "64 bytes from 127.0.0.1: seq=0 ttl=64 time=0.061 ms"                BusyBox
# "16 bytes from ::1, icmp_seq=0 hlim=64 time=0.054 ms"                FreeBSD IPv6
_REPLY = re.compile(
    r"^(?P<bytes>\d{1,6}) bytes from (?:[^\s(]+ \((?P<paren>[^\s)]+)\)|(?P<addr>[^\s,]+?))[:,]"
    r" (?:icmp_)?seq=(?P<seq>\d{1,10})(?!\d)"
    r"(?: (?:ttl|hlim)=(?P<ttl>\d{1,3}))?"
    r"(?: time[=<](?P<time>\d{1,9}(?:\.\d{1,9})?) ?ms)?"
    r"(?P<rest>.*)$"
)
# iputils -O: "no answer yet for icmp_seq=3"; BSD: "Request timeout for icmp_seq 3"
_TIMEOUT = re.compile(
    r"^(?:no answer yet for icmp_seq=|Request timeout for icmp_seq )(?P<seq>\d{1,10})\s*$"
)
# iputils: "From 10.0.0.1 icmp_seq=1 Destination Host Unreachable"
_ICMP_ERROR = re.compile(
    r"^From (?P<from>\S+?)(?: \((?P<paren>[^\s)]+)\))?:? icmp_seq=(?P<seq>\d{1,10}) (?P<error>.+)$"
)
# BSD: "92 bytes from 10.0.0.1: Destination Host Unreachable"
_BSD_ICMP_ERROR = re.compile(
    r"^\d{1,6} bytes from (?P<from>[^\s:]+): (?P<error>[A-Z][A-Za-z ]+[a-z])\s*$"
)
# "3 packets transmitted, 3 received, +1 duplicates, +2 errors, 0% packet loss, time 408ms"
# "3 packets transmitted, 3 packets received, 0.0% packet loss"          BSD
# "2 packets transmitted, 2 packets received, 1 duplicates, 0% packet loss" BusyBox
_STATS = re.compile(
    r"^(?P<tx>\d{1,10}) packets transmitted, (?P<rx>\d{1,10})(?: packets)? received,"
    r"(?: \+?(?P<dup>\d{1,10}) duplicates,)?(?: \+(?P<err>\d{1,10}) errors,)?"
    r" (?P<loss>\d{1,3}(?:\.\d{1,6})?)% packet loss"
    r"(?:, time (?P<time>\d{1,12})ms)?"
)
# "rtt min/avg/max/mdev = 0.037/0.078/0.119/0.033 ms[, pipe 2, ipg/ewma ...]"  iputils
# "round-trip min/avg/max = 0.061/0.078/0.101 ms"                             BusyBox
# "round-trip min/avg/max/stddev = 0.047/0.061/0.071/0.010 ms"                BSD
_RTT = re.compile(
    r"^(?:rtt|round-trip) min/avg/max(?:/(?:mdev|stddev|std-dev))? = "
    r"(?P<min>\d{1,9}(?:\.\d{1,9})?)/(?P<avg>\d{1,9}(?:\.\d{1,9})?)/"
    r"(?P<max>\d{1,9}(?:\.\d{1,9})?)(?:/(?P<mdev>\d{1,9}(?:\.\d{1,9})?))? ms"
)

# Seq numbers are 16 bits on the wire, but ping counts them further; anything
# beyond this is not a sequence number ping could print.
_MAX_SEQ = 2**32


def _int(text: Optional[str], high: int = _MAX_SEQ) -> Optional[int]:
    if text is None:
        return None
    value = int(text)
    return value if value <= high else None


def _float(text: Optional[str]) -> Optional[float]:
    return None if text is None else float(text)


def parse_line(line: str) -> Optional[Event]:
    """The event one line makes on its own, or ``None`` for a statistics
    line (which :class:`OutputParser` holds for the round-trip line)."""
    match = _REPLY.match(line)
    if match:
        return events.reply(
            line,
            seq=_int(match["seq"]),
            ttl=_int(match["ttl"], 255),
            rtt_ms=_float(match["time"]),
            nbytes=_int(match["bytes"], 65535 + 8),
            source=match["paren"] or match["addr"],
            dup="(DUP!)" in match["rest"],
        )
    match = _TIMEOUT.match(line)
    if match:
        return events.timeout(line, _int(match["seq"]))
    match = _ICMP_ERROR.match(line)
    if match:
        return events.line(
            line,
            seq=_int(match["seq"]),
            error=match["error"].strip(),
            **{"from": match["paren"] or match["from"]},
        )
    match = _BSD_ICMP_ERROR.match(line)
    if match:
        return events.line(line, seq=None, error=match["error"], **{"from": match["from"]})
    if _STATS.match(line):
        return None
    return events.line(line)


def _summary(stats_line: str, rtt_line: Optional[str]) -> Event:
    stats = _STATS.match(stats_line)
    assert stats is not None
    rtt = _RTT.match(rtt_line) if rtt_line is not None else None
    raw = stats_line if rtt_line is None else f"{stats_line}\n{rtt_line}"
    return events.summary(
        raw,
        transmitted=_int(stats["tx"]),
        received=_int(stats["rx"]),
        loss_pct=_float(stats["loss"]),
        time_ms=_float(stats["time"]),
        errors=_int(stats["err"]),
        duplicates=_int(stats["dup"]),
        rtt_min=_float(rtt["min"]) if rtt else None,
        rtt_avg=_float(rtt["avg"]) if rtt else None,
        rtt_max=_float(rtt["max"]) if rtt else None,
        rtt_mdev=_float(rtt["mdev"]) if rtt else None,
    )


class OutputParser(LineParser):
    """Turns ping's output, one line at a time, into events (ping ends each
    line as it prints it: an unended one is read whole)."""

    def __init__(self) -> None:
        self._stats: Optional[str] = None
        #: requests sent, from the statistics line (for the end's ``how``)
        self.transmitted: Optional[int] = None

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""
        out: list[Event] = []
        if self._stats is not None:
            stats, self._stats = self._stats, None
            if _RTT.match(line):
                return [self._summary(stats, line)]
            out.append(self._summary(stats, None))
        event = parse_line(line)
        if event is None:
            self._stats = line
        else:
            out.append(event)
        return out

    def finish(self) -> list[Event]:
        """End of output: the held statistics line, if any."""
        if self._stats is None:
            return []
        stats, self._stats = self._stats, None
        return [self._summary(stats, None)]

    def _summary(self, stats: str, rtt: Optional[str]) -> Event:
        event = _summary(stats, rtt)
        self.transmitted = event["transmitted"]
        return event
