"""http: the time an HTTP request takes, by phase (``curl``).

The ``target`` is an ``http://`` or ``https://`` URL, at most
``--max-url-length`` characters, without user or password, to a port of
``--allow-port``.  Its host is what pingu resolves once and polices like
any target; curl is told that address with ``--resolve host:port:address``
and never resolves the name itself (no DNS rebinding between the check and
the request), while TLS is still verified against the URL's name (SNI and
the certificate's name are the URL's).  Each probe is one request,
``HEAD`` (the default) or ``GET``, with no body and no header of the
client's; the response body goes to ``/dev/null`` and never to a client;
redirects are reported (``redirect``), not followed.

The argv (the URL once per probe, each with its ``-o /dev/null``)::

    stdbuf -oL curl -q -sS --proto =http,https --max-redirs 0 --noproxy *
      --resolve HOST:PORT:ADDRESS --rate N/h -m TIMEOUT [-I] -w FORMAT
      -o /dev/null URL -o /dev/null URL ...

curl 7.88 writes, per request (``-w``)::

    pingu-http 200 0.000089 0.004512 0.006672 0.006736 612 0 https://...

(status, connect, TLS done, first byte, total in seconds since the request
began, bytes received, curl's exit code for it, the redirect's target;
pingu's own format, so an event's ``raw`` is a readable line made of it),
and ``curl: (60) SSL certificate problem: ...`` on stderr when one fails.
A request with curl's exit code 0 is a ``reply`` (``status``, ``rtt_ms``
the total, ``timings`` in ms: ``connect``, ``tls``, ``first_byte``,
``total``, each phase's own duration, and ``bytes``); any other is a
``timeout`` with its ``reason`` (``refused``, ``timed out``, ``tls``...).
The run ends with pingu's ``summary``, plus ``status_counts``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

from pingu import events
from pingu.events import CloseCode, Event
from pingu.refusal import Refused, bad
from pingu.tools.base import SeriesParser, ToolBase
from pingu.tools.common import OptionsDict
from pingu.tools.spec import HTTP_TIMINGS, URL, Field, Limit, ResolvedRequest
from pingu.tools.spec import LimitValues as Limits

#: coreutils' stdbuf: curl's -w lines through a pipe as they are written.
STDBUF = "/usr/bin/stdbuf"
#: What starts each -w line (a body is never written to stdout: -o /dev/null).
MARK = "pingu-http"
FORMAT = (
    f"{MARK} %{{http_code}} %{{time_connect}} %{{time_appconnect}} %{{time_starttransfer}} "
    "%{time_total} %{size_download} %{exitcode} %{redirect_url}\\n"
)
#: curl's exit codes, as the reason a probe was lost.
REASONS = {
    7: "refused",  # "Failed to connect" (refused or unreachable)
    28: "timed out",
    35: "tls",
    51: "tls",
    58: "tls",
    60: "tls",
    52: "empty reply",
    56: "reset",
    47: "redirect",
}
METHODS = ("HEAD", "GET")


#: --http-ca-file's default: curl's own CA store, the system's.
SYSTEM_CAS = "system"


def _ca_file(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a path: {value!r}")
    if value != SYSTEM_CAS and not (os.path.isfile(value) and os.access(value, os.R_OK)):
        raise ValueError(f"{value} is not a readable file")
    return value


FIELDS = (
    Field("count", int, 1, "max_http_count", "-c", "c", "Count", "stop after N requests"),
    Field("interval", float, "min_interval", "max_interval", "-i", "i", "Interval",
          "seconds between requests", "s"),
    Field("method", str, 0, 0, "-X", "x", "Method", "HEAD (the default) or GET", "",
          METHODS),
)  # fmt: skip
LIMITS = (
    Limit("max_http_count", int, 100, "most requests one http run may make (a ceiling)"),
    Limit("max_url_length", int, 2048, "longest URL an http request may name, characters"),
    Limit("http_timeout", float, 10.0, "seconds one http request may take", floor="positive"),
    Limit("http_ca_file", str, SYSTEM_CAS,
          "CA certificates (a PEM file) https is verified against; system: the system's",
          parse=_ca_file),
)  # fmt: skip


@dataclass(frozen=True)
class HttpOptions(OptionsDict):
    """The options a client may choose; ``None`` means pingu's default."""

    url: str = ""
    host: str = ""
    port: int = 80
    method: Optional[str] = None
    count: Optional[int] = None
    interval: Optional[float] = None
    family: Optional[int] = None


def check_url(text: Any, limits: Limits) -> tuple[str, str, int]:
    """(url, host, port) of an http(s) URL the server may request."""
    if not isinstance(text, str):
        raise bad("the target must be a URL", "target", "wrong-type")
    if len(text) > limits.max_url_length:
        raise bad(f"the URL is longer than {limits.max_url_length} characters", "target",
                  "too-long")  # fmt: skip
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise bad("the URL contains whitespace or control characters", "target",
                  "bad-characters")  # fmt: skip
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise bad("the target is not a valid URL", "target", "bad-url") from None
    if parts.scheme not in ("http", "https"):
        raise bad("the URL must start with http:// or https://", "target", "bad-url")
    if parts.username is not None or parts.password is not None:
        raise bad("the URL may not carry a user or password", "target", "bad-url")
    if not parts.hostname:
        raise bad("the URL has no host", "target", "bad-url")
    port = port or (443 if parts.scheme == "https" else 80)
    if port not in _allowed_ports(limits):
        raise Refused(CloseCode.FORBIDDEN, "not-allowed",
                      f"port {port} is not one this server probes", "target")  # fmt: skip
    return text, parts.hostname, port


def _allowed_ports(limits: Limits) -> frozenset[int]:
    # --allow-port is the tcp tool's limit: the same ports for both.
    from pingu.tools.tcp import parse_ports

    return parse_ports(limits.allow_port)


def build_argv(curl: str, request: ResolvedRequest, limits: Limits) -> list[str]:
    """The full argv (``argv[0]`` is stdbuf, then curl)."""
    options = request.options
    count = options.count if options.count is not None else limits.max_http_count
    interval = options.interval if options.interval is not None else 1.0
    address = request.address if request.family == 4 else f"[{request.address}]"
    argv = [STDBUF, "-oL", curl, "-q", "-sS", "--proto", "=http,https", "--max-redirs", "0"]
    argv += ["--noproxy", "*", "--resolve", f"{options.host}:{options.port}:{address}"]
    argv += ["--rate", f"{max(1, round(3600 / interval))}/h"]
    argv += ["-m", f"{limits.http_timeout:g}", "-A", "pingu", "-w", FORMAT]
    if limits.http_ca_file != SYSTEM_CAS:
        argv += ["--cacert", limits.http_ca_file]
    if (options.method or "HEAD") == "HEAD":
        argv.append("-I")
    for _ in range(count):
        argv += ["-o", "/dev/null", options.url]
    return argv


class HttpParser(SeriesParser):
    """Turns curl's -w lines (and its error lines) into events (they are
    ended as they are written: ``stdbuf -oL``).  A request's ``raw`` is a
    readable line (the -w line is pingu's own format, so the text face and
    the CLI print this one instead)::

        200 from 10.213.1.2: seq=1 connect=0.3 tls=3 first_byte=2 total=6.5 ms, 612 bytes
    """

    def __init__(self, address: Optional[str] = None) -> None:
        super().__init__(TOOL.name)
        self.address = address
        self.status_counts: dict[str, int] = {}

    def feed(self, line: str) -> list[Event]:
        """Take one line (without its newline); return the events it completes."""
        words = line.split()
        if len(words) < 8 or words[0] != MARK:
            return [events.line(line)]
        try:
            status = int(words[1])
            connect, tls, first, total = (float(w) * 1000 for w in words[2:6])
            size, code = int(words[6]), int(words[7])
        except ValueError:
            return [events.line(line)]
        seq = self.series.probe()
        where = f" to {self.address}" if self.address else ""
        if code != 0 or status == 0:
            reason = REASONS.get(code, f"curl error {code}")
            event = events.timeout(f"request{where}: seq={seq} {reason}", seq)
            event["reason"] = reason
            return [event]
        self.series.answered(round(total, 3))
        key = str(status)
        self.status_counts[key] = self.status_counts.get(key, 0) + 1
        # Each phase's own time: curl's figures are since the request began.
        done_tls = tls if tls > 0 else connect
        timings = {
            "connect": round(connect, 3),
            "tls": round(done_tls - connect, 3) if tls > 0 else None,
            "first_byte": round(max(0.0, first - done_tls), 3),
            "total": round(total, 3),
        }
        redirect = words[8] if len(words) > 8 and 300 <= status < 400 else None
        shown = " ".join(f"{k}={v:g}" for k, v in timings.items() if v is not None)
        raw = f"{status} from {self.address or '?'}: seq={seq} {shown} ms, {size} bytes"
        reply = events.reply(raw + (f" -> {redirect}" if redirect else ""), seq, None,
                             timings["total"], size, self.address)  # fmt: skip
        reply.update(status=status, timings=timings, redirect=redirect)
        return [reply]

    def summary(self) -> Event:
        """The statistics, with each status counted."""
        summary = super().summary()
        summary["status_counts"] = dict(self.status_counts)
        return summary


class Http(ToolBase[HttpOptions]):
    """The :class:`pingu.tools.Tool` for HTTP request times (curl)."""

    name = "http"
    executable = "curl"
    package = "curl"
    fields = FIELDS
    limits = LIMITS
    target = URL
    display = HTTP_TIMINGS
    options_type = HttpOptions
    argv = staticmethod(build_argv)

    def options(self, fields: Mapping[str, Any], limits: Limits) -> HttpOptions:
        """Check the URL (scheme, length, no user, an allowed port), method,
        count and interval."""
        url, host, port = check_url(fields.get("target"), limits)
        try:  # an IP literal's brackets are the URL's, not the host's
            host = str(ipaddress.ip_address(host))
        except ValueError:
            pass
        return self.checked_options(fields, limits, url=url, host=host, port=port)

    def parser(
        self, request: Optional[ResolvedRequest] = None, limits: Optional[Limits] = None
    ) -> HttpParser:
        """A parser of curl's -w lines that names the address in its lines."""
        return HttpParser(request.address if request is not None else None)

    def failed(self, exit_code: Optional[int], parser: Any) -> bool:
        """Never: curl's exit status is the last request's, so it says
        nothing of the run (``completed`` when any request got a response,
        whatever its status, ``no-reply`` when none did)."""
        return False


TOOL = Http()
