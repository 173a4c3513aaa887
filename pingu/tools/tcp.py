"""tcp: the time a TCP connection takes (``nping --tcp-connect``, from nmap).

Where ICMP is filtered, a TCP handshake to a port the host serves still
answers.  Each probe is one ``connect()`` by an unprivileged user (no raw
socket): a ``reply`` when the handshake completes, with its time; a
``timeout`` with its ``reason`` otherwise: ``refused`` (an RST),
``unreachable`` (an ICMP error), ``timed out`` (nothing came back).

The target is a host like ping's (resolved once by the server, policed,
and only the checked literal reaches the argv, after ``--``); the ``port``
must be one of ``--allow-port`` (80 and 443 unless the operator says
otherwise), so that pingu cannot be used to scan ports: a client may time
connections to the ports a public service answers on, not find which ports
a host has open.

The argv::

    stdbuf -oL nping --tcp-connect -4 -c COUNT --delay INTERVAL -p PORT -- ADDRESS

``stdbuf -oL`` because nping writes its ``RCVD`` line to a pipe only when
its next probe is sent (measured: a handshake done at 1 ms came through
the pipe at 1.006 s with ``--delay 1``).  nping prints, per probe::

    SENT (0.0013s) Starting TCP Handshake > 10.213.1.2:80
    RCVD (0.0013s) Handshake with 10.213.1.2:80 completed
    RCVD (0.0014s) Possible TCP RST received from 10.213.1.2:79 --> Connection refused
    RCVD (0.0024s) Possible TCP RST received from 10.213.1.2:82 --> No route to host

and nothing after ``SENT`` for a filtered port.  The times are seconds
since nping started, to 0.1 ms: a probe's round trip is the difference of
its two lines, so it is exact to 0.1 ms (nping's own per-probe figure is
not printed).  A probe without an answer is counted lost when the next
one is sent, or at nping's closing statistics; the run ends with pingu's
``summary`` (loss, min/avg/max, p95, jitter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from pingu import events
from pingu.events import CloseCode, Event
from pingu.refusal import Refused
from pingu.tools.base import SeriesParser, ToolBase
from pingu.tools.common import OptionsDict, seconds_arg
from pingu.tools.series import seconds
from pingu.tools.spec import RTT_SERIES, Field, Limit, ResolvedRequest
from pingu.tools.spec import LimitValues as Limits

#: coreutils' stdbuf (Essential in Debian): nping's stdout line-buffered.
STDBUF = "/usr/bin/stdbuf"
#: The ports a client may probe unless the operator allows others.
DEFAULT_PORTS = "80,443"
#: nping's answers to a failed handshake, and the reason a client is told.
REASONS = {
    "Connection refused": "refused",
    "No route to host": "unreachable",
    "Network is unreachable": "unreachable",
    "Host is unreachable": "unreachable",
    "Connection timed out": "timed out",
}


def parse_ports(text: Any) -> frozenset[int]:
    """``"80,443,8000-8010"`` as the set of ports; ``ValueError`` when it is
    not a list of ports and ranges between 1 and 65535."""
    if not isinstance(text, str):
        raise ValueError(f"not a list of ports: {text!r}")
    ports: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        if not (low.isdigit() and (high.isdigit() or not high)):
            raise ValueError(f"{part!r} is not a port or a range of ports (80, 8000-8010)")
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"{part!r} is not between 1 and 65535")
        ports.update(range(first, last + 1))
    return frozenset(ports)


FIELDS = (
    Field("count", int, 1, "max_count", "-c", "c", "Count", "stop after N probes"),
    Field("interval", float, "min_interval", "max_interval", "-i", "i", "Interval",
          "seconds between probes", "s"),
    Field("port", int, 1, 65535, "-p", "p", "Port",
          "TCP port to connect to (one of the server's --allow-port)"),
)  # fmt: skip
LIMITS = (
    Limit("allow_port", str, DEFAULT_PORTS,
          "TCP ports a client's probes may connect to: ports and ranges, 80,443,8000-8010; "
          "keep it to the ports of public services, or pingu becomes a port scanner",
          parse=parse_ports),
)  # fmt: skip


@dataclass(frozen=True)
class TcpOptions(OptionsDict):
    """The options a client may choose; ``None`` means pingu's default."""

    count: Optional[int] = None
    interval: Optional[float] = None
    port: Optional[int] = None
    family: Optional[int] = None


def build_argv(nping: str, request: ResolvedRequest, limits: Limits) -> list[str]:
    """The full argv (``argv[0]`` is stdbuf, then the nping executable)."""
    options = request.options
    count = options.count if options.count is not None else limits.max_count
    interval = options.interval if options.interval is not None else 1.0
    argv = [STDBUF, "-oL", nping, "--tcp-connect", f"-{request.family}"]
    argv += ["-c", str(count), "--delay", seconds_arg(interval), "-p", str(options.port)]
    argv += ["--", request.address]
    return argv


class TcpParser(SeriesParser):
    """Turns nping's output, one line at a time, into events (its lines are
    ended as they are printed: ``stdbuf -oL``)."""

    def __init__(self) -> None:
        super().__init__(TOOL.name)
        #: the probe sent and not answered yet: (seq, sent at, its line)
        self._waiting: Optional[tuple[int, float, str]] = None
        #: nping printed its statistics: it probed, whatever ended it
        self.statistics = False

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""
        words = line.split()
        at = seconds(words[1]) if len(words) > 2 else None
        if at is not None and words[0] == "SENT" and "Handshake" in words:
            out = self._lost("timed out")
            self._waiting = (self.series.probe(), at, line)
            return out
        if at is not None and words[0] == "RCVD" and self._waiting is not None:
            seq, sent, _ = self._waiting
            if words[-1] == "completed":
                self._waiting = None
                rtt = round(max(0.0, at - sent) * 1000, 1)
                self.series.answered(rtt)
                source = words[-2].rsplit(":", 1)[0] if len(words) > 4 else None
                return [events.reply(line, seq, None, rtt, None, source)]
            why = line.partition("--> ")[2].strip()
            if why:
                return self._lost(REASONS.get(why, why.lower()[:60]), line)
        if line.startswith("Max rtt:"):  # nping's statistics: it waits no more
            self.statistics = True
            return [*self._lost("timed out"), events.line(line)]
        return [events.line(line)]

    def held(self) -> list[Event]:
        """End of output: a probe still waiting is lost."""
        return self._lost("timed out")

    def _lost(self, reason: str, raw: Optional[str] = None) -> list[Event]:
        if self._waiting is None:
            return []
        seq, _, sent_line = self._waiting
        self._waiting = None
        event = events.timeout(raw or sent_line, seq)
        event["reason"] = reason
        return [event]


class Tcp(ToolBase[TcpOptions]):
    """The :class:`pingu.tools.Tool` for TCP connect times (nping).

    nping exits 0 whether or not a handshake completed: ``completed`` when
    one did, ``no-reply`` (4000) when none did."""

    name = "tcp"
    executable = "nping"
    package = "nmap"
    fields = FIELDS
    limits = LIMITS
    display = RTT_SERIES
    options_type = TcpOptions
    argv = staticmethod(build_argv)
    #: nping's output needs nothing of the request
    parser_type = TcpParser

    def text_fields(self, message: str) -> dict[str, Any]:
        """The text face's message (its only field): ``host:port`` or
        ``[v6-address]:port``.  Only split here: the target and the port are
        then checked like any request's (an IPv6 literal without brackets,
        or no port, is a request without a port, refused as such)."""
        host, colon, port = message.rpartition(":")
        if not colon or (":" in host and not (host.startswith("[") and host.endswith("]"))):
            return {"target": message}
        host = host[1:-1] if host.startswith("[") else host
        return {"target": host, "port": int(port) if port.isdigit() else port}

    def options(self, fields: Mapping[str, Any], limits: Limits) -> TcpOptions:
        """Check count, interval and port; the port must be one the operator allows."""
        options = self.checked_options(fields, limits)
        if options.port is None:
            raise Refused(CloseCode.BAD_REQUEST, "missing", "tcp needs a port", "port")
        allowed = parse_ports(limits.allow_port)
        if options.port not in allowed:
            shown = ", ".join(str(p) for p in sorted(allowed)[:20]) or "none"
            raise Refused(
                CloseCode.FORBIDDEN,
                "not-allowed",
                f"port {options.port} is not one this server probes (allowed: {shown})",
                "port",
            )
        return options

    def failed(self, exit_code: Optional[int], parser: Any) -> bool:
        """Any status but 0 is the tool's own error (such as a bad argument);
        but a stop is a SIGINT, which nping catches: it prints its
        statistics and exits 1 (measured, nping 0.7.93), unlike an error,
        which comes before any statistics; so exit 1 after the statistics
        counts as exit 0."""
        stopped = exit_code == 1 and getattr(parser, "statistics", False)
        return exit_code not in (0, None) and not stopped


TOOL = Tcp()
