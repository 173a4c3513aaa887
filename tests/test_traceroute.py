"""traceroute as a pingu tool: its fields and their bounds, its argv, its
parser (fed lines Debian's traceroute 2.1.2 printed on this machine's
namespaced networks), and its end.  The real traceroute on real hops is in
tests/test_paths_e2e.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher

from pingu import config, events, pipeline, tools
from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import Policy, ResolvedRequest, parse_fields
from pingu.tools.traceroute import TracerouteOptions, TracerouteParser, parse_hop
from tests.harness.memory import FakeSpawner
from tests.harness.messages import refused

LIMITS = Limits()
TOOL = tools.get("traceroute")
PING = shutil.which("ping") or "/usr/bin/ping"


def request(address: str = "10.213.2.2", family: int = 4, **options: Any) -> ResolvedRequest:
    return ResolvedRequest(address, address, family, TracerouteOptions(**options), "traceroute")


def refusal(fields: dict[str, Any], limits: Limits = LIMITS) -> Refused:
    return refused({"target": "10.213.2.2", "tool": "traceroute", **fields}, limits)


# -- fields -------------------------------------------------------------------------


def test_options_within_the_limits() -> None:
    req = parse_fields(
        {"target": "10.0.0.1", "tool": "traceroute", "max_hops": 5, "queries": 2, "wait": 0.5,
         "size": 100, "family": 4},
        LIMITS,
    )  # fmt: skip
    assert req.tool == "traceroute"
    assert req.options == TracerouteOptions(max_hops=5, queries=2, wait=0.5, size=100, family=4)
    assert req.options.as_dict() == {
        "max_hops": 5, "queries": 2, "wait": 0.5, "size": 100, "family": 4,
    }  # fmt: skip


@pytest.mark.parametrize(
    "name, value, bound",
    [
        ("max_hops", 0, "1 and 30"), ("max_hops", 31, "1 and 30"),
        ("queries", 0, "1 and 10"), ("queries", 11, "1 and 10"),
        ("wait", 0.05, "0.1 and 10"), ("wait", 10.5, "0.1 and 10"),
        ("size", 27, "28 and 1500"), ("size", 1501, "28 and 1500"),
    ],
)  # fmt: skip
def test_each_option_out_of_range_is_refused(name: str, value: Any, bound: str) -> None:
    r = refusal({name: value})
    assert (r.code, r.field, r.reason) == (CloseCode.BAD_REQUEST, name, "out-of-range")
    assert bound in r.message


def test_the_bounds_are_the_servers_limits() -> None:
    limits = Limits(max_hops=5, max_queries=2, max_wait=1.0, max_packet_size=100)
    for name, value in (("max_hops", 6), ("queries", 3), ("wait", 1.5), ("size", 101)):
        assert refusal({name: value}, limits).field == name
    parse_fields({"target": "10.0.0.1", "tool": "traceroute", "max_hops": 5}, limits)


@pytest.mark.parametrize("name", ["max_hops", "queries", "size"])
@pytest.mark.parametrize("value", [True, 2.5, "3", [3]])
def test_whole_number_fields_refuse_other_types(name: str, value: Any) -> None:
    assert (refusal({name: value}).field, refusal({name: value}).reason) == (name, "wrong-type")


def test_ping_fields_are_not_traceroutes() -> None:
    r = refusal({"count": 3})
    assert (r.field, r.reason) == ("count", "unknown-field")
    assert "max_hops" in r.message


# -- argv ---------------------------------------------------------------------------


def test_argv_defaults_are_traceroutes_clamped_to_the_limits() -> None:
    assert TOOL.argv("/usr/sbin/traceroute", request(), LIMITS) == [
        "/usr/sbin/traceroute", "-n", "-4", "-m", "30", "-q", "3", "-w", "5", "--", "10.213.2.2",
    ]  # fmt: skip
    small = Limits(max_hops=4, max_queries=1, max_wait=2.0)
    assert TOOL.argv("tr", request(), small)[3:9] == ["-m", "4", "-q", "1", "-w", "2"]


def test_argv_with_every_option_has_the_literal_after_the_double_dash() -> None:
    argv = TOOL.argv(
        "tr", request("fd00:213:2::2", 6, max_hops=7, queries=2, wait=0.25, size=120), LIMITS
    )
    assert argv == [
        "tr", "-n", "-6", "-m", "7", "-q", "2", "-w", "0.25", "--", "fd00:213:2::2", "120",
    ]  # fmt: skip


# -- parser -------------------------------------------------------------------------

HEADER = "traceroute to 10.213.2.2 (10.213.2.2), 30 hops max, 60 byte packets"


def test_the_header_and_other_lines_are_line_events() -> None:
    parser = TracerouteParser("10.213.2.2")
    assert parser.feed(HEADER) == [events.line(HEADER)]
    assert parser.feed("connect: Network is unreachable") == [
        events.line("connect: Network is unreachable")
    ]
    for junk in ("", " 1", " 1  0.1 ms", " 1  10.0.0.1 ms", "300  10.0.0.1  1 ms", " 1  !H *",
                 " 1  hostname  1.0 ms", " 2  10.0.0.1  1.0 ms  junk"):  # fmt: skip
        assert parser.feed(junk) == [events.line(junk)], junk


def test_a_hop_that_answered_every_probe() -> None:
    line = " 1  10.213.0.2  0.110 ms  0.016 ms  0.012 ms"
    assert parse_hop(line) == {
        "type": "hop", "raw": line, "hop": 1, "address": "10.213.0.2",
        "rtt_ms": [0.110, 0.016, 0.012], "addresses": ["10.213.0.2"], "annotations": [],
    }  # fmt: skip


def test_a_silent_hop_and_a_partly_silent_one() -> None:
    silent = parse_hop(" 2  * * *")
    assert silent is not None
    assert (silent["hop"], silent["address"], silent["rtt_ms"]) == (2, None, [None] * 3)
    assert silent["addresses"] == []
    late = parse_hop(" 7  * 10.213.1.2  0.033 ms  0.010 ms")
    assert late is not None
    assert (late["address"], late["rtt_ms"]) == ("10.213.1.2", [None, 0.033, 0.010])
    lost_last = parse_hop(" 4  10.213.3.2  0.030 ms *")
    assert lost_last is not None and lost_last["rtt_ms"] == [0.030, None]


def test_load_balancing_gives_every_address() -> None:
    line = " 5  10.0.0.1  1.001 ms 10.0.0.2  2.002 ms 10.0.0.1  3.003 ms"
    hop = parse_hop(line)
    assert hop is not None
    assert hop["address"] == "10.0.0.1"
    assert hop["addresses"] == ["10.0.0.1", "10.0.0.2"]
    assert hop["rtt_ms"] == [1.001, 2.002, 3.003]


def test_annotations_are_kept() -> None:
    hop = parse_hop(" 2  10.213.1.2  0.047 ms !H  0.014 ms !H  0.012 ms !H")
    assert hop is not None
    assert hop["annotations"] == ["!H"] and hop["rtt_ms"] == [0.047, 0.014, 0.012]
    mixed = parse_hop("12  192.0.2.1  5.1 ms !N  5.2 ms !X  * ")
    assert mixed is not None
    assert mixed["annotations"] == ["!N", "!X"] and mixed["rtt_ms"] == [5.1, 5.2, None]
    mtu = parse_hop(" 3  192.0.2.9  1.0 ms !F-1400")
    assert mtu is not None and mtu["annotations"] == ["!F-1400"]


def test_ipv6_hops() -> None:
    hop = parse_hop(" 1  fd00:213::2  0.076 ms  0.013 ms  0.012 ms")
    assert hop is not None and hop["address"] == "fd00:213::2"


def test_the_parser_tells_whether_the_target_answered() -> None:
    parser = TracerouteParser("10.213.2.2")
    for line in (HEADER, " 1  10.213.0.2  0.1 ms", " 2  * * *"):
        parser.feed(line)
    assert not parser.reached and parser.last_hop == 2
    parser.feed(" 3  10.213.2.2  0.025 ms  0.016 ms  0.022 ms")
    assert parser.reached and parser.finish() == []


HOP_1 = " 1  10.213.0.2  0.326 ms  0.221 ms  0.205 ms"


def test_a_hop_is_emitted_once_its_probes_are_in_not_at_its_newline() -> None:
    # Debian's traceroute ends hop 1's line only when hop 2 begins.
    parser = TracerouteParser("10.213.2.2", queries=3)
    assert parser.feed(HEADER) == [events.line(HEADER)]
    assert parser.pending(" 1  10.213.0.2  0.326 ms") == []  # one probe of three
    assert parser.pending(" 1  10.213.0.2  0.326 ms  0.221 ms") == []
    (early,) = parser.pending(HOP_1)
    assert early == parse_hop(HOP_1) and parser.last_hop == 1
    early["n"] = 3  # the run numbers each event it emits
    assert parser.pending(HOP_1) == []  # offered again: not twice
    assert parser.feed(HOP_1) == []  # its newline adds nothing
    assert parser.pending(" 2  *") == []
    assert parser.feed(" 2  * * *") == [parse_hop(" 2  * * *")]  # ended before offered whole
    (silent,) = parser.pending(" 3  * * *")
    assert silent["hop"] == 3 and parser.feed(" 3  * * *  ") == []  # trailing blanks


def test_an_early_hop_whose_line_ends_different_is_emitted_again() -> None:
    parser = TracerouteParser("10.213.2.2", queries=1)
    (early,) = parser.pending(" 2  10.213.1.2  0.047 ms")
    (ended,) = parser.feed(" 2  10.213.1.2  0.047 ms !H")
    assert early["annotations"] == [] and ended["annotations"] == ["!H"]


def test_without_the_runs_queries_only_ended_lines_count() -> None:
    parser = TracerouteParser("10.213.2.2")
    assert parser.pending(HOP_1) == []
    assert parser.feed(HOP_1) == [parse_hop(HOP_1)]


def test_the_parser_knows_the_runs_queries() -> None:
    assert TOOL.parser(request(), Limits(max_queries=2)).queries == 2
    assert TOOL.parser(request(queries=5), Limits()).queries == 5


def test_a_very_long_line_is_read_quickly() -> None:
    line = " 1  " + "10.0.0.1  1.0 ms " * 5000
    hop = parse_hop(line)
    assert hop is not None and len(hop["rtt_ms"]) == 5000
    assert parse_hop(" 1  " + "* " * 100000 + "x") is None


# -- end ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exit_code, signal, reached, how",
    [
        (0, None, True, "completed"),
        (0, None, False, "no-reply"),
        (1, None, False, "ping-error"),  # "connect: Network is unreachable"
        (2, None, False, "ping-error"),  # a usage error
        (None, 9, False, "signal"),
        (None, 2, True, "completed"),  # a stop: traceroute does not catch SIGINT
        (None, 2, False, "no-reply"),
    ],
)
def test_how(exit_code: Any, signal: Any, reached: bool, how: str) -> None:
    parser = TracerouteParser("10.213.2.2")
    parser.reached = reached
    assert TOOL.how(exit_code, signal, parser, request(), LIMITS) == how
    assert events.end(how, exit_code, signal, 1.0, "traceroute")["message"].startswith(
        "traceroute" if how != "signal" else "traceroute was"
    )


# -- a server without traceroute ------------------------------------------------------


class Reactor(MemoryReactorClock):
    def suggestThreadPoolSize(self, size: int) -> None:
        self.pool_size = size


def test_a_tool_that_is_not_installed_is_refused_but_the_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No traceroute or mtr on PATH (an empty folder): the hub still builds,
    one log line says so, and a traceroute request is refused on ``tool``."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(config, "SYSTEM_PATH", str(tmp_path))
    logged: list[dict] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        hub = config.build_hub(Reactor(), LIMITS, Policy(), ping=PING, spawner=FakeSpawner())
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert set(hub.executables) == {"ping"}
    said = [formatEvent(e) for e in logged if "not available" in formatEvent(e)]
    # one line for each tool but ping, naming the package that installs it
    others = [tool for tool in tools.TOOLS.values() if tool.name != "ping"]
    assert len(said) == len(others)
    for tool in others:
        assert any(f"{tool.name} is not" in s and f"install {tool.package}" in s for s in said)
    outcome: list[Any] = []
    fields = {"target": "127.0.0.1", "tool": "traceroute"}
    pipeline.request(hub, fields, "client").addBoth(outcome.append)
    refused = outcome[0].value
    assert isinstance(refused, Refused)
    assert (refused.code, refused.field, refused.reason) == (
        CloseCode.BAD_REQUEST, "tool", "not-installed",
    )  # fmt: skip
    assert refused.message == "traceroute is not installed on this server"
    # ping still works on that server
    ok: list[Any] = []
    pipeline.request(hub, {"target": "127.0.0.1", "count": 1}, "client").addBoth(ok.append)
    assert ok[0].tool.name == "ping"


def test_a_tool_the_operator_named_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="install traceroute, or pass its path"):
        config.find_tools({"traceroute": str(tmp_path / "nowhere")})
    found = config.find_tools({"traceroute": "/usr/sbin/traceroute"})
    assert found["traceroute"] == "/usr/sbin/traceroute"
