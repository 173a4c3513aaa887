"""dns: the time a resolver takes to answer a query (``dnsping``, from dnsdiag).

The request's ``target`` is the name to query, sent to the resolver as
data and never resolved by pingu; ``server`` is the resolver's host name
or address, which is what pingu resolves once, polices like any target
(``--public``, ``--allow``, ``--deny``) and sends the queries to.  The
record ``type`` is one of :data:`RECORD_TYPES` (never ``ANY``); EDNS is
off (``-e``), so an answer over UDP is at most 512 bytes.

The argv::

    dnsping -F -v -e -4 -c COUNT -i INTERVAL -w WAIT -t TYPE -s SERVER -- NAME

dnsping 2.0.2 prints, per query (``-F``: flags and rcode; ``-v``: the whole
answer, which pingu reads only to count the answer records)::

    50 bytes from 10.213.1.2: seq=1   time=0.502 ms [QR RA]  NOERROR
    id 30640
    ...
    ;ANSWER
    www.test.example. 60 IN A 192.0.2.7
    ;AUTHORITY
    ;ADDITIONAL
    Request timeout

A reply is emitted once its ``;ANSWER`` section is over, with ``seq``,
``rtt_ms``, ``rcode`` and ``answers``; the record lines themselves are not
passed on.  A ``Request timeout`` is a lost query.  The run ends with
pingu's ``summary`` (loss, min/avg/max, p95, jitter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from pingu import events
from pingu.events import Event
from pingu.refusal import bad
from pingu.tools.base import SeriesParser, ToolBase
from pingu.tools.common import OptionsDict
from pingu.tools.spec import NAME_AT_RESOLVER, RTT_SERIES, Field, ResolvedRequest
from pingu.tools.spec import LimitValues as Limits

#: The record types a client may ask for: never ANY (the amplifier's).
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT", "CAA", "PTR")
#: Seconds dnsping waits for an answer (it takes whole seconds only).
WAIT = 2

FIELDS = (
    Field("count", int, 1, "max_count", "-c", "c", "Count", "stop after N queries"),
    # dnsping reads whole seconds: from 1 (and never below --min-interval)
    Field("interval", float, 1, "max_interval", "-i", "i", "Interval",
          "seconds between queries (whole seconds)", "s"),
    Field("type", str, 0, 0, "-t", "y", "Type", "record type to query", "",
          RECORD_TYPES),
)  # fmt: skip


@dataclass(frozen=True)
class DnsOptions(OptionsDict):
    """The options a client may choose; ``None`` means pingu's default."""

    name: str = ""
    type: Optional[str] = None
    count: Optional[int] = None
    interval: Optional[float] = None
    family: Optional[int] = None


def build_argv(dnsping: str, request: ResolvedRequest, limits: Limits) -> list[str]:
    """The full argv (``argv[0]`` is the dnsping executable)."""
    options = request.options
    count = options.count if options.count is not None else limits.max_count
    interval = int(options.interval) if options.interval is not None else 1
    argv = [dnsping, "-F", "-v", "-e", f"-{request.family}", "-c", str(count)]
    argv += ["-i", str(interval), "-w", str(WAIT), "-t", options.type or "A"]
    argv += ["-s", request.address, "--", options.name]
    return argv


class DnsParser(SeriesParser):
    """Turns dnsping's output, one line at a time, into events (dnsping
    flushes each line as it prints it)."""

    def __init__(self) -> None:
        super().__init__(TOOL.name)
        #: a reply whose answer section is being read: (event, answers so far or None)
        self._reply: Optional[Event] = None
        self._answers: Optional[int] = None

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""
        if self._reply is not None:
            return self._section(line)
        words = line.split()
        if len(words) >= 6 and words[1:3] == ["bytes", "from"] and words[3].endswith(":"):
            seq = _number(words[4].partition("seq=")[2], int)
            rtt = _number(words[5].partition("time=")[2], float) if len(words) > 6 else None
            if seq is not None and rtt is not None and words[6] == "ms":
                self.series.probe()
                self.series.answered(rtt)
                self._reply = events.reply(line, seq, None, rtt, _number(words[0], int),
                                           words[3][:-1])  # fmt: skip
                self._reply["rcode"] = words[-1] if words[-1].isalpha() else None
                return []
        if line.strip() in ("Request timeout", "Read timeout", "Invalid Response"):
            seq = self.series.probe()
            event = events.timeout(line, seq)
            event["reason"] = "timed out" if "timeout" in line else "invalid"
            return [event]
        return [events.line(line)]

    def _section(self, line: str) -> list[Event]:
        # -v's answer: only the number of records in ;ANSWER is kept.
        assert self._reply is not None
        if line == ";ANSWER":
            self._answers = 0
            return []
        if line.startswith(";") and self._answers is not None:  # ;AUTHORITY: done
            return self._settle()
        if self._answers is not None and line.strip():
            self._answers += 1
        return []

    def _settle(self) -> list[Event]:
        reply, self._reply = self._reply, None
        assert reply is not None
        reply["answers"], self._answers = self._answers, None
        return [reply]

    def held(self) -> list[Event]:
        """End of output: a reply still held."""
        return self._settle() if self._reply is not None else []


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        return None


class Dns(ToolBase[DnsOptions]):
    """The :class:`pingu.tools.Tool` for DNS query times (dnsping).

    dnsping exits 0 whether or not an answer came: ``completed`` when one
    did (whatever its rcode), ``no-reply`` (4000) when none did; exit 1 (no
    nameserver, a bad argument) is ``ping-error`` (4001)."""

    name = "dns"
    executable = "dnsping"
    package = "dnsdiag"
    fields = FIELDS
    target = NAME_AT_RESOLVER
    display = RTT_SERIES
    options_type = DnsOptions
    argv = staticmethod(build_argv)
    #: dnsping's output needs nothing of the request
    parser_type = DnsParser

    def text_fields(self, message: str) -> dict[str, Any]:
        """The text face's message (its only field): ``name@resolver`` or
        ``name/TYPE@resolver`` (``www.example.org/AAAA@192.0.2.53``).  Only
        split here: each part is then checked like any request's field (no
        ``@``: a request without a resolver, refused as such)."""
        name, at, server = message.rpartition("@")
        if not at:
            return {"target": message}
        name, slash, kind = name.rpartition("/")
        return {"target": name, "server": server, "type": kind} if slash else {
            "target": kind, "server": server,
        }  # fmt: skip

    def options(self, fields: Mapping[str, Any], limits: Limits) -> DnsOptions:
        """Check count, interval (whole seconds: dnsping reads an int) and type."""
        options = self.checked_options(fields, limits, name=fields["target"])
        interval = options.interval
        if interval is not None and interval != int(interval):
            raise bad("interval must be whole seconds for dns", "interval", "out-of-range")
        if interval is not None and interval < limits.min_interval:
            raise bad(f"interval must be at least {limits.min_interval:g}", "interval",
                      "out-of-range")  # fmt: skip
        return options


TOOL = Dns()
