"""INTERIM parser (iputils only) until the full one lands; to be replaced."""

from __future__ import annotations

import re

from pingu import events
from pingu.events import Event

_REPLY = re.compile(
    r"^(\d+) bytes from (?:\S+ \()?([^\s)]+?)\)?:? icmp_seq=(\d+) ttl=(\d+) time[=<]([\d.]+) ms"
)
_TIMEOUT = re.compile(r"^no answer yet for icmp_seq=(\d+)")
_STATS = re.compile(r"^(\d+) packets transmitted, (\d+) received,.*?([\d.]+)% packet loss")
_RTT = re.compile(r"^rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


class OutputParser:
    def __init__(self) -> None:
        self._held: list[str] = []

    def feed(self, line: str) -> list[Event]:
        out: list[Event] = []
        if self._held:
            stats = self._held.pop()
            m = _RTT.match(line)
            s = _STATS.match(stats)
            assert s
            if m:
                return [events.summary(stats + "\n" + line, int(s[1]), int(s[2]), float(s[3]),
                                       rtt_min=float(m[1]), rtt_avg=float(m[2]),
                                       rtt_max=float(m[3]), rtt_mdev=float(m[4]))]
            out.append(events.summary(stats, int(s[1]), int(s[2]), float(s[3])))
        if _STATS.match(line):
            self._held.append(line)
            return out
        m = _REPLY.match(line)
        if m:
            out.append(events.reply(line, int(m[3]), int(m[4]), float(m[5]), int(m[1]), m[2]))
        elif (t := _TIMEOUT.match(line)):
            out.append(events.timeout(line, int(t[1])))
        else:
            out.append(events.line(line))
        return out

    def finish(self) -> list[Event]:
        if not self._held:
            return []
        stats = self._held.pop()
        s = _STATS.match(stats)
        assert s
        return [events.summary(stats, int(s[1]), int(s[2]), float(s[3]))]
