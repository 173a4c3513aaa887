"""mtr as a pingu tool: its fields and their bounds, its argv, its raw-mode
parser (fed what ``mtr --raw -n`` of Debian's mtr-tiny 0.95 printed on this
machine's namespaced networks), its statistics, and its end.  The real mtr
on real hops is in tests/test_paths_e2e.py."""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest

from pingu import events, tools
from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import ResolvedRequest, parse_fields
from pingu.tools.mtr import MtrOptions, MtrParser
from tests.harness.messages import refused

LIMITS = Limits()
TOOL = tools.get("mtr")
TARGET = "10.213.2.2"


def request(address: str = TARGET, family: int = 4, **options: Any) -> ResolvedRequest:
    return ResolvedRequest(address, address, family, MtrOptions(**options), "mtr")


def refusal(fields: dict[str, Any], limits: Limits = LIMITS) -> Refused:
    return refused({"target": TARGET, "tool": "mtr", **fields}, limits)


def feed(parser: MtrParser, text: str) -> list[dict]:
    out = []
    for line in text.strip().splitlines():
        out += parser.feed(line.strip())
    return out


# -- fields and argv ------------------------------------------------------------------


def test_options_within_the_limits() -> None:
    req = parse_fields(
        {"target": TARGET, "tool": "mtr", "count": 3, "interval": 2, "max_hops": 8, "size": 64},
        LIMITS,
    )
    assert req.options == MtrOptions(count=3, interval=2.0, max_hops=8, size=64)
    assert req.options.as_dict() == {
        "count": 3, "interval": 2.0, "max_hops": 8, "size": 64, "family": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    "name, value, bound",
    [
        ("count", 0, "1 and 1000"), ("count", 1001, "1 and 1000"),
        ("interval", 0.5, "1 and 60"), ("interval", 61, "1 and 60"),
        ("max_hops", 0, "1 and 30"), ("max_hops", 31, "1 and 30"),
        ("size", 27, "28 and 1500"), ("size", 1501, "28 and 1500"),
    ],
)  # fmt: skip
def test_each_option_out_of_range_is_refused(name: str, value: Any, bound: str) -> None:
    r = refusal({name: value})
    assert (r.code, r.field, r.reason) == (CloseCode.BAD_REQUEST, name, "out-of-range")
    assert bound in r.message


def test_a_root_server_may_lower_the_round_interval() -> None:
    limits = Limits(min_round_interval=0.2)
    limits.check(root=True)
    with pytest.raises(ValueError, match=r"interval 0\.2 is below 1, the least mtr accepts"):
        limits.check(root=False)
    req = parse_fields({"target": TARGET, "tool": "mtr", "interval": 0.2}, limits)
    assert req.options.interval == 0.2
    assert refusal({"interval": 0.1}, limits).field == "interval"


def test_argv_defaults_the_count_to_the_ceiling() -> None:
    assert TOOL.argv("/usr/bin/mtr", request(), LIMITS) == [
        "/usr/bin/mtr", "--raw", "-n", "-4", "-c", "1000", "-i", "1", "-m", "30", "--", TARGET,
    ]  # fmt: skip


def test_argv_with_every_option() -> None:
    argv = TOOL.argv(
        "mtr", request("fd00:213:2::2", 6, count=3, interval=0.25, max_hops=5, size=100), LIMITS
    )
    assert argv == [
        "mtr", "--raw", "-n", "-6", "-c", "3", "-i", "0.25", "-m", "5", "-s", "100",
        "--", "fd00:213:2::2",
    ]  # fmt: skip
    assert argv.index("--") == len(argv) - 2


# -- parser: what mtr printed -----------------------------------------------------------

# mtr --raw -n -c 3 -i 0.2 -- 10.213.2.2, client -- r1 -- r2 -- target
THREE_ROUNDS = """
x 0 33000
x 1 33001
x 2 33002
x 3 33003
x 4 33004
h 0 10.213.0.2
h 0 10.213.0.2
p 0 226 33000
h 1 10.213.1.2
h 1 10.213.1.2
p 1 151 33001
h 2 10.213.2.2
h 2 10.213.2.2
p 2 120 33002
h 3 10.213.2.2
h 3 10.213.2.2
p 3 86 33003
h 4 10.213.2.2
h 4 10.213.2.2
p 4 69 33004
x 5 33005
h 5 10.213.2.2
h 5 10.213.2.2
p 5 106 33005
x 0 33006
p 0 59 33006
x 1 33007
p 1 81 33007
x 2 33008
p 2 83 33008
x 0 33009
p 0 92 33009
x 1 33010
p 1 114 33010
x 2 33011
p 2 107 33011
"""


def test_three_rounds_on_three_hops() -> None:
    parser = MtrParser(TARGET)
    out = feed(parser, THREE_ROUNDS) + parser.finish()
    hops = [e for e in out if e["type"] == "hop"]
    # each address once, the hops past the target (mtr's first round) left out
    assert [(e["hop"], e["address"]) for e in hops] == [
        (1, "10.213.0.2"), (2, "10.213.1.2"), (3, "10.213.2.2"),
    ]  # fmt: skip
    assert hops[0] == {
        "type": "hop", "raw": " 1. 10.213.0.2", "hop": 1, "address": "10.213.0.2",
        "rtt_ms": [], "addresses": ["10.213.0.2"],
    }  # fmt: skip
    stats = [e for e in out if e["type"] == "hop_stats"]
    assert [e["hop"] for e in stats] == [1, 2, 3, 1, 2, 3, 1, 2, 3]
    first = stats[-3]
    assert first == {
        "type": "hop_stats", "raw": first["raw"], "hop": 1, "address": "10.213.0.2",
        "addresses": ["10.213.0.2"], "sent": 3, "received": 3, "loss_pct": 0.0,
        "last_ms": 0.092, "best_ms": 0.059, "avg_ms": round((0.226 + 0.059 + 0.092) / 3, 3),
        "worst_ms": 0.226, "stdev_ms": round(statistics.stdev([0.226, 0.059, 0.092]), 3),
        "jitter_ms": round(abs(0.092 - 0.059), 3),
    }  # fmt: skip
    assert first["raw"] == (
        " 1. 10.213.0.2        0.0%  sent 3  last 0.09 avg 0.13 best 0.06 wrst 0.23 stdev 0.09"
    )
    assert parser.reached and parser.destination == 2 and parser.rounds == 3
    # the first hop_stats of a hop: one reply, no jitter yet, stdev 0 as mtr shows
    assert (stats[0]["stdev_ms"], stats[0]["jitter_ms"], stats[0]["sent"]) == (0.0, None, 1)


# client -- r1 -- r2 -- target, r2 drops its time-exceeded: mtr -c 3 -i 0.2
SILENT_HOP = """
x 0 33000
h 0 10.213.0.2
h 0 10.213.0.2
p 0 106 33000
x 1 33001
x 2 33002
h 2 10.213.2.2
h 2 10.213.2.2
p 2 149 33002
x 3 33003
h 3 10.213.2.2
h 3 10.213.2.2
p 3 111 33003
x 0 33004
p 0 76 33004
x 1 33005
x 2 33006
p 2 110 33006
x 0 33007
p 0 96 33007
x 1 33008
x 2 33009
p 2 107 33009
"""


def test_a_silent_hop_is_lossy_alone() -> None:
    parser = MtrParser(TARGET)
    out = feed(parser, SILENT_HOP) + parser.finish()
    assert [e["hop"] for e in out if e["type"] == "hop"] == [1, 3]
    last = {e["hop"]: e for e in out if e["type"] == "hop_stats"}
    assert sorted(last) == [1, 2, 3]
    assert (last[2]["sent"], last[2]["received"], last[2]["loss_pct"]) == (3, 0, 100.0)
    assert last[2]["address"] is None and last[2]["last_ms"] is None
    assert last[2]["raw"].startswith(" 2. ???") and "100.0%" in last[2]["raw"]
    assert [last[h]["loss_pct"] for h in (1, 3)] == [0.0, 0.0]
    # one hop_stats per hop and round: the silent hop's losses are settled
    # when mtr probes it again, and the last one at the end of output
    per_hop = [e["hop"] for e in out if e["type"] == "hop_stats"]
    assert per_hop.count(1) == per_hop.count(2) == per_hop.count(3) == 3


# the target drops everything: mtr -c 2 -i 0.2 -m 4 (probes up to max_hops, exit 0)
SILENT_TARGET = """
x 0 33000
h 0 10.213.0.2
h 0 10.213.0.2
p 0 93 33000
x 1 33001
x 2 33002
x 3 33003
x 0 33004
p 0 86 33004
x 1 33005
x 2 33006
x 3 33007
"""


def test_a_silent_target() -> None:
    parser = MtrParser("10.213.1.2")
    out = feed(parser, SILENT_TARGET) + parser.finish()
    last = {e["hop"]: e for e in out if e["type"] == "hop_stats"}
    assert sorted(last) == [1, 2, 3, 4]
    assert [last[h]["loss_pct"] for h in (1, 2, 3, 4)] == [0.0, 100.0, 100.0, 100.0]
    assert not parser.reached
    assert TOOL.how(0, None, parser, request("10.213.1.2", count=2), LIMITS) == "no-reply"


def test_load_balanced_hop_addresses_and_dns_lines() -> None:
    parser = MtrParser(TARGET)
    out = feed(parser, """
        x 0 1
        h 0 192.0.2.1
        p 0 1000 1
        x 0 2
        h 0 192.0.2.9
        h 0 192.0.2.1
        d 0 router.example
        m 0 100 0 1 255
        p 0 3000 2
    """)  # fmt: skip
    hops = [e for e in out if e["type"] == "hop"]
    assert [(e["address"], e["addresses"]) for e in hops] == [
        ("192.0.2.1", ["192.0.2.1"]), ("192.0.2.9", ["192.0.2.1", "192.0.2.9"]),
    ]  # fmt: skip
    stats = [e for e in out if e["type"] == "hop_stats"]
    assert stats[-1]["addresses"] == ["192.0.2.1", "192.0.2.9"]
    assert (stats[-1]["last_ms"], stats[-1]["jitter_ms"]) == (3.0, 2.0)
    assert not [e for e in out if e["type"] == "line"]


def test_a_late_reply_after_its_probe_was_counted_lost_is_ignored() -> None:
    parser = MtrParser(TARGET)
    out = feed(parser, "x 0 1\nx 0 2\np 0 500 1\np 0 700 2")
    stats = [e for e in out if e["type"] == "hop_stats"]
    assert [(e["sent"], e["received"]) for e in stats] == [(1, 0), (2, 1)]


def test_errors_and_strange_lines_are_line_events() -> None:
    parser = MtrParser(TARGET)
    for text in ("mtr: udp socket connect failed: Network is unreachable",
                 "mtr: Unexpected mtr-packet error", "h 0 not-an-address!", "x 0",
                 "p 0 12 x", "x 999 1", "q 1 2"):  # fmt: skip
        got = parser.feed(text)
        if text == "x 999 1":
            assert got == [events.line(text)]
            continue
        assert [e["type"] for e in got] == ["line"], text
    assert parser.feed("p 3 100 77") == []  # a reply to no probe sent


def test_standard_deviation_over_many_rounds_matches_statistics() -> None:
    parser = MtrParser(TARGET)
    rtts = [0.5, 1.5, 0.25, 8.0, 3.125, 0.75, 2.0]
    for seq, rtt in enumerate(rtts):
        parser.feed(f"x 0 {seq}")
        parser.feed("h 0 10.213.0.2")
        (stats,) = parser.feed(f"p 0 {int(rtt * 1000)} {seq}")
    assert math.isclose(stats["stdev_ms"], statistics.stdev(rtts), abs_tol=0.001)
    assert math.isclose(stats["avg_ms"], statistics.mean(rtts), abs_tol=0.001)
    assert (stats["best_ms"], stats["worst_ms"]) == (0.25, 8.0)
    assert stats["jitter_ms"] == abs(rtts[-1] - rtts[-2])


# -- end ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exit_code, signal, how",
    [(0, None, "completed"), (1, None, "ping-error"), (None, 15, "signal"),
     (None, 2, "completed")],
)
def test_how(exit_code: Any, signal: Any, how: str) -> None:
    parser = MtrParser(TARGET)
    feed(parser, "x 0 1\nh 0 10.213.2.2\np 0 100 1")
    assert TOOL.how(exit_code, signal, parser, request(count=1), LIMITS) == how


def test_a_run_without_count_that_made_every_round_hit_the_ceiling() -> None:
    limits = Limits(max_rounds=2)
    parser = MtrParser(TARGET)
    feed(parser, "x 0 1\nh 0 10.213.2.2\np 0 100 1\nx 0 2\np 0 100 2")
    assert TOOL.how(0, None, parser, request(), limits) == "ceiling"
    assert TOOL.how(0, None, parser, request(count=2), limits) == "completed"
