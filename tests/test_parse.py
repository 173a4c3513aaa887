"""The parser on recorded outputs of iputils, BusyBox, FreeBSD and macOS ping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingu.events import EVENT_TYPES
from pingu.tools.ping_output import OutputParser


def parse(text: str) -> list[dict]:
    parser = OutputParser()
    out = [event for line in text.split("\n") for event in parser.feed(line)]
    return out + parser.finish()


def brief(events: list[dict]) -> list[tuple]:
    """(type, the interesting numbers) of each event, for compact asserts."""
    keys = {
        "reply": ("seq", "ttl", "rtt_ms", "bytes", "from", "dup"),
        "timeout": ("seq",),
        "summary": ("transmitted", "received", "loss_pct", "time_ms", "errors", "duplicates",
                    "min_ms", "avg_ms", "max_ms", "mdev_ms"),
        "line": ("seq", "error", "from"),
    }
    return [
        (e["type"], *(e.get(k) for k in keys[e["type"]])) for e in events
    ]


# Recorded on Debian 12, iputils 20221126, as pingu runs it (LC_ALL=C, -n -O).
IPUTILS_V4 = """\
PING 127.0.0.1 (127.0.0.1) 100(128) bytes of data.
108 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.129 ms
108 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.049 ms
108 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=0.044 ms

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 405ms
rtt min/avg/max/mdev = 0.044/0.074/0.129/0.038 ms"""

IPUTILS_V6 = """\
PING ::1(::1) 56 data bytes
64 bytes from ::1: icmp_seq=1 ttl=64 time=0.071 ms
64 bytes from ::1: icmp_seq=2 ttl=64 time=0.046 ms

--- ::1 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 202ms
rtt min/avg/max/mdev = 0.046/0.058/0.071/0.012 ms"""

IPUTILS_LOSSES = """\
PING 10.0.0.9 (10.0.0.9) 56(84) bytes of data.
64 bytes from 10.0.0.9: icmp_seq=1 ttl=63 time=12.4 ms
no answer yet for icmp_seq=2
From 10.0.0.1 icmp_seq=3 Destination Host Unreachable
64 bytes from 10.0.0.9: icmp_seq=4 ttl=63 time=11.9 ms
64 bytes from 10.0.0.9: icmp_seq=4 ttl=63 time=13.0 ms (DUP!)

--- 10.0.0.9 ping statistics ---
4 packets transmitted, 2 received, +1 duplicates, +1 errors, 50% packet loss, time 3004ms
rtt min/avg/max/mdev = 11.900/12.433/13.000/0.450 ms, pipe 2, ipg/ewma 1001.3/12.2 ms"""

IPUTILS_NO_REPLY = """\
PING 10.0.0.9 (10.0.0.9) 56(84) bytes of data.
no answer yet for icmp_seq=1
no answer yet for icmp_seq=2

--- 10.0.0.9 ping statistics ---
2 packets transmitted, 0 received, 100% packet loss, time 1024ms
"""

BUSYBOX = """\
PING 127.0.0.1 (127.0.0.1): 56 data bytes
64 bytes from 127.0.0.1: seq=0 ttl=64 time=0.061 ms
64 bytes from 127.0.0.1: seq=1 ttl=64 time=0.095 ms
64 bytes from 127.0.0.1: seq=1 ttl=64 time=0.120 ms (DUP!)

--- 127.0.0.1 ping statistics ---
2 packets transmitted, 2 packets received, 1 duplicates, 0% packet loss
round-trip min/avg/max = 0.061/0.078/0.120 ms"""

FREEBSD = """\
PING6(56=40+8+8 bytes) ::1 --> ::1
16 bytes from ::1, icmp_seq=0 hlim=64 time=0.054 ms
Request timeout for icmp_seq 1
16 bytes from ::1, icmp_seq=2 hlim=64 time=0.070 ms

--- ::1 ping6 statistics ---
3 packets transmitted, 2 packets received, 33.3% packet loss
round-trip min/avg/max/std-dev = 0.054/0.062/0.070/0.008 ms"""

MACOS = """\
PING 127.0.0.1 (127.0.0.1): 56 data bytes
64 bytes from 127.0.0.1: icmp_seq=0 ttl=64 time=0.047 ms
Request timeout for icmp_seq 1
92 bytes from 10.0.0.1: Destination Host Unreachable
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.071 ms

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 2 packets received, 33.3% packet loss
round-trip min/avg/max/stddev = 0.047/0.059/0.071/0.012 ms"""


def test_iputils_ipv4() -> None:
    events = parse(IPUTILS_V4)
    assert brief(events) == [
        ("line", None, None, None),
        ("reply", 1, 64, 0.129, 108, "127.0.0.1", False),
        ("reply", 2, 64, 0.049, 108, "127.0.0.1", False),
        ("reply", 3, 64, 0.044, 108, "127.0.0.1", False),
        ("line", None, None, None),
        ("line", None, None, None),
        ("summary", 3, 3, 0.0, 405.0, None, None, 0.044, 0.074, 0.129, 0.038),
    ]
    assert events[-1]["raw"] == IPUTILS_V4.split("\n", 6)[-1]


def test_iputils_ipv6() -> None:
    assert brief(parse(IPUTILS_V6))[1:3] == [
        ("reply", 1, 64, 0.071, 64, "::1", False),
        ("reply", 2, 64, 0.046, 64, "::1", False),
    ]


def test_iputils_losses_errors_and_duplicates() -> None:
    assert brief(parse(IPUTILS_LOSSES))[1:6] + brief(parse(IPUTILS_LOSSES))[-1:] == [
        ("reply", 1, 63, 12.4, 64, "10.0.0.9", False),
        ("timeout", 2),
        ("line", 3, "Destination Host Unreachable", "10.0.0.1"),
        ("reply", 4, 63, 11.9, 64, "10.0.0.9", False),
        ("reply", 4, 63, 13.0, 64, "10.0.0.9", True),
        ("summary", 4, 2, 50.0, 3004.0, 1, 1, 11.9, 12.433, 13.0, 0.45),
    ]


def test_no_reply_summary_has_no_rtt_and_is_flushed_by_the_next_line() -> None:
    events = parse(IPUTILS_NO_REPLY)
    assert brief(events)[-2:] == [
        ("summary", 2, 0, 100.0, 1024.0, None, None, None, None, None, None),
        ("line", None, None, None),  # the empty last line came after the statistics
    ]
    assert events[-2]["raw"] == "2 packets transmitted, 0 received, 100% packet loss, time 1024ms"


def test_busybox() -> None:
    assert brief(parse(BUSYBOX))[1:4] + brief(parse(BUSYBOX))[-1:] == [
        ("reply", 0, 64, 0.061, 64, "127.0.0.1", False),
        ("reply", 1, 64, 0.095, 64, "127.0.0.1", False),
        ("reply", 1, 64, 0.12, 64, "127.0.0.1", True),
        ("summary", 2, 2, 0.0, None, None, 1, 0.061, 0.078, 0.12, None),
    ]


def test_freebsd_ipv6() -> None:
    assert brief(parse(FREEBSD))[1:4] + brief(parse(FREEBSD))[-1:] == [
        ("reply", 0, 64, 0.054, 16, "::1", False),
        ("timeout", 1),
        ("reply", 2, 64, 0.07, 16, "::1", False),
        ("summary", 3, 2, 33.3, None, None, None, 0.054, 0.062, 0.07, 0.008),
    ]


def test_macos() -> None:
    assert brief(parse(MACOS))[1:5] + brief(parse(MACOS))[-1:] == [
        ("reply", 0, 64, 0.047, 64, "127.0.0.1", False),
        ("timeout", 1),
        ("line", None, "Destination Host Unreachable", "10.0.0.1"),
        ("reply", 2, 64, 0.071, 64, "127.0.0.1", False),
        ("summary", 3, 2, 33.3, None, None, None, 0.047, 0.059, 0.071, 0.012),
    ]


@pytest.mark.parametrize(
    ("line", "source"),
    [
        ("64 bytes from localhost (127.0.0.1): icmp_seq=1 ttl=64 time=0.04 ms", "127.0.0.1"),
        ("64 bytes from fe80::1%eth0: icmp_seq=1 ttl=64 time=1 ms", "fe80::1%eth0"),
        ("64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time<1 ms", "127.0.0.1"),
    ],
)
def test_reply_variants(line: str, source: str) -> None:
    (event,) = parse(line)
    assert event["type"] == "reply" and event["from"] == source and event["seq"] == 1


def test_stats_then_finish() -> None:
    parser = OutputParser()
    assert parser.feed("1 packets transmitted, 1 received, 0% packet loss, time 0ms") == []
    (summary,) = parser.finish()
    assert summary["type"] == "summary" and summary["min_ms"] is None
    assert parser.finish() == []


def test_absurd_numbers_do_not_crash() -> None:
    (event,) = parse("64 bytes from 127.0.0.1: icmp_seq=9999999999 ttl=999 time=0.1 ms")
    assert event["type"] == "reply" and event["seq"] is None and event["ttl"] is None
    (event,) = parse("64 bytes from 127.0.0.1: icmp_seq=99999999999999999999 ttl=64 time=1 ms")
    assert event["type"] == "line"


# -- properties --------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "64 bytes from ", "127.0.0.1", "::1", ": ", "icmp_seq=", "seq=", "1", "64", " ttl=",
        " time=", "0.05", " ms", " (DUP!)", "no answer yet for icmp_seq=", "From ",
        "packets transmitted, ", " received, ", "% packet loss", ", time ",
        "rtt min/avg/max/mdev = ",
        "/", "round-trip ", "\x1b", "\u202e", " ", "(", ")", "+", "errors,",
    ]
)  # fmt: skip
_LINES = st.lists(
    st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=12).map("".join)), max_size=30
)


@given(_LINES)
def test_any_output_parses_losslessly(lines: list[str]) -> None:
    lines = [line.replace("\n", " ") for line in lines]
    parser = OutputParser()
    events = [event for line in lines for event in parser.feed(line)] + parser.finish()
    assert all(event["type"] in EVENT_TYPES for event in events)
    # every line comes out once, in order: nothing lost, nothing doubled
    assert [raw for event in events for raw in event["raw"].split("\n")] == lines
