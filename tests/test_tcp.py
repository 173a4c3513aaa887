"""tcp (``nping --tcp-connect``): its fields, its port limit, its argv, its
parser, and whole runs through the real ``twistd pingu`` and the real nping
on a namespaced network: client -- r1 -- target, where the target serves
HTTP on port 80, refuses port 79 (RST), drops port 81 (nftables) and r1
rejects port 82 (ICMP unreachable)."""

from __future__ import annotations

import json
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from pingu import tools
from pingu.events import CloseCode
from pingu.limits import Limits
from pingu.refusal import Refused
from pingu.request import ResolvedRequest, parse_fields
from pingu.tools.tcp import TcpOptions, TcpParser, parse_ports
from tests.harness import netns
from tests.harness import pingu as harness_pingu
from tests.harness.messages import refused

TOOL = tools.get("tcp")
LIMITS = Limits()


def refusal(fields: dict[str, Any], limits: Limits = LIMITS) -> Refused:
    return refused({"target": "10.0.0.1", "tool": "tcp", **fields}, limits)


# -- fields and the port limit ---------------------------------------------------------


def test_a_port_the_operator_allows() -> None:
    request = parse_fields(
        {"target": "10.0.0.1", "tool": "tcp", "port": 443, "count": 3, "interval": 0.5}, LIMITS
    )
    assert request.options == TcpOptions(count=3, interval=0.5, port=443)


@pytest.mark.parametrize("port", [22, 25, 79, 8080, 65535])
def test_any_other_port_is_refused_as_forbidden(port: int) -> None:
    r = refusal({"port": port})
    assert (r.code, r.reason, r.field) == (CloseCode.FORBIDDEN, "not-allowed", "port")
    assert "allowed: 80, 443" in r.message


@pytest.mark.parametrize(
    ("port", "reason"), [(0, "out-of-range"), (65536, "out-of-range"), ("80", "wrong-type"),
                         (True, "wrong-type"), (80.5, "wrong-type")],
)  # fmt: skip
def test_a_port_that_is_no_port_is_refused(port: Any, reason: str) -> None:
    assert (refusal({"port": port}).reason, refusal({"port": port}).field) == (reason, "port")


def test_the_port_is_required_and_the_count_bounded() -> None:
    assert (refusal({}).reason, refusal({}).field) == ("missing", "port")
    assert refusal({"port": 80, "count": LIMITS.max_count + 1}).field == "count"
    assert refusal({"port": 80, "interval": LIMITS.min_interval / 2}).field == "interval"


def test_allow_port_takes_ports_and_ranges_and_is_checked_at_start_up() -> None:
    assert parse_ports("80, 443,8000-8002") == {80, 443, 8000, 8001, 8002}
    assert parse_ports("") == frozenset()
    roomy = Limits(allow_port="8000-8002")
    assert parse_fields({"target": "10.0.0.1", "tool": "tcp", "port": 8001}, roomy)
    assert refusal({"port": 80}, roomy).reason == "not-allowed"
    for bad in ("http", "0", "70000", "90-80", "80;443", "-1"):
        with pytest.raises(ValueError, match="--allow-port"):
            Limits(allow_port=bad).check(root=True)


# -- argv and parser -------------------------------------------------------------------


def resolved(address: str = "10.213.1.2", family: int = 4, **options: Any) -> ResolvedRequest:
    return ResolvedRequest(address, address, family, TcpOptions(**options), "tcp")


def test_argv_is_a_list_with_the_literal_after_the_double_dash() -> None:
    argv = TOOL.argv("/usr/bin/nping", resolved(port=443, count=3, interval=0.25), LIMITS)
    assert argv == [
        "/usr/bin/stdbuf", "-oL", "/usr/bin/nping", "--tcp-connect", "-4",
        "-c", "3", "--delay", "0.25", "-p", "443", "--", "10.213.1.2",
    ]  # fmt: skip
    default = TOOL.argv("nping", resolved("fd00::2", 6, port=80), Limits(max_count=7))
    assert default[4:] == ["-6", "-c", "7", "--delay", "1", "-p", "80", "--", "fd00::2"]


# What nping 0.7.93 printed here (open, refused, unreachable, filtered).
OUTPUT = """
Starting Nping 0.7.93 ( https://nmap.org/nping ) at 2026-12-06 15:19 UTC
SENT (0.0013s) Starting TCP Handshake > 10.213.1.2:80
RCVD (0.0016s) Handshake with 10.213.1.2:80 completed
SENT (0.3030s) Starting TCP Handshake > 10.213.1.2:80
RCVD (0.3014s) Possible TCP RST received from 10.213.1.2:80 --> Connection refused
SENT (0.6041s) Starting TCP Handshake > 10.213.1.2:80
RCVD (0.6043s) Possible TCP RST received from 10.213.1.2:80 --> No route to host
SENT (0.9050s) Starting TCP Handshake > 10.213.1.2:80
SENT (1.2050s) Starting TCP Handshake > 10.213.1.2:80
RCVD (1.2250s) Handshake with 10.213.1.2:80 completed
SENT (1.5050s) Starting TCP Handshake > 10.213.1.2:80
\x20
Max rtt: 20.000ms | Min rtt: 0.300ms | Avg rtt: 10.150ms
TCP connection attempts: 6 | Successful connections: 2 | Failed: 4 (66.67%)
Nping done: 1 IP address pinged in 2.51 seconds
""".splitlines()[1:]


def test_each_probe_is_a_reply_or_a_loss_with_its_reason() -> None:
    parser = TcpParser()
    got = [e for line in OUTPUT for e in parser.feed(line)] + parser.finish()
    probes = [e for e in got if e["type"] in ("reply", "timeout")]
    assert [(e["type"], e["seq"], e.get("rtt_ms"), e.get("reason")) for e in probes] == [
        ("reply", 1, 0.3, None),
        ("timeout", 2, None, "refused"),
        ("timeout", 3, None, "unreachable"),
        ("timeout", 4, None, "timed out"),  # known lost when the 5th is sent
        ("reply", 5, 20.0, None),
        ("timeout", 6, None, "timed out"),  # known lost at nping's statistics
    ]
    assert probes[0]["from"] == "10.213.1.2"
    (summary,) = [e for e in got if e["type"] == "summary"]
    assert (summary["transmitted"], summary["received"], summary["loss_pct"]) == (6, 2, 66.7)
    assert (summary["min_ms"], summary["max_ms"], summary["p95_ms"]) == (0.3, 20.0, 20.0)
    assert summary["jitter_ms"] == 19.7
    assert got[-1] is summary and parser.finish() == []
    assert next(e["raw"] for e in got if e["type"] == "line").startswith("Starting Nping")


def test_lines_that_are_not_nping_s_are_lines() -> None:
    parser = TcpParser()
    for junk in ("RCVD (0.1s) Handshake with 1.2.3.4:80 completed",  # no probe waiting
                 "SENT (xs) Starting TCP Handshake > 1.2.3.4:80", "SENT", "", "RCVD (1s)"):
        assert [e["type"] for e in parser.feed(junk)] == ["line"], junk


@pytest.mark.parametrize(
    ("exit_code", "signal", "answered", "how"),
    [(0, None, True, "completed"), (0, None, False, "no-reply"), (1, None, True, "ping-error"),
     (None, 2, True, "completed"), (None, 2, False, "no-reply"), (None, 9, True, "signal")],
)  # fmt: skip
def test_how(exit_code: Any, signal: Any, answered: bool, how: str) -> None:
    parser = TcpParser()
    if answered:
        parser.feed("SENT (0.1s) Starting TCP Handshake > 10.0.0.1:80")
        parser.feed("RCVD (0.2s) Handshake with 10.0.0.1:80 completed")
    assert TOOL.how(exit_code, signal, parser, resolved(port=80), LIMITS) == how


# -- the real nping, through twistd pingu, on a namespaced network ---------------------

needs_network = pytest.mark.skipif(
    bool(netns.unavailable() or netns.nft_unavailable() or not shutil.which("nping")),
    reason=str(netns.unavailable() or netns.nft_unavailable() or "no nping (apt-get install nmap)"),
)


#: what the tests on the namespaced network start: namespaces, servers in them, twistd pingu
NETWORK = pytest.mark.netns


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if netns.unavailable() or netns.nft_unavailable() or not shutil.which("nping"):
        pytest.skip("needs network namespaces, nftables and nping")
    workdir = tmp_path_factory.mktemp("tcp")
    with netns.Chain(routers=1, prefix="pt") as made:
        made.target.rule("input", "tcp dport 81 drop")  # filtered: no answer at all
        made.routers[0].rule("forward", "tcp dport 82 reject with icmpx type host-unreachable")
        web = made.target.popen(
            sys.executable, "-m", "http.server", "80", "--bind", "::",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        args = ("--allow-port", "79-82", "--min-interval", "0.05", "--max-count", "20")
        with harness_pingu.chain_served(made, workdir, args, web) as served:
            yield served


def run(chain: Any, request: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    return chain.server.run_json({"tool": "tcp", "count": 3, "interval": 0.2, **request})


def probes(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(e["type"], e.get("reason")) for e in events if e["type"] in ("reply", "timeout")]


@needs_network
@pytest.mark.parametrize("family", ["v4", "v6"])
@NETWORK
def test_an_open_port_answers_every_probe(chain: Any, family: str) -> None:
    address = getattr(chain.target, family)[0]
    events, code = run(chain, {"target": address, "port": 80})
    start, end = events[0], events[-1]
    assert (start["tool"], start["address"], start["options"]["port"]) == ("tcp", address, 80)
    assert probes(events) == [("reply", None)] * 3, events
    replies = [e for e in events if e["type"] == "reply"]
    assert [e["seq"] for e in replies] == [1, 2, 3] and all(e["rtt_ms"] >= 0 for e in replies)
    (summary,) = [e for e in events if e["type"] == "summary"]
    assert (summary["received"], summary["loss_pct"]) == (3, 0.0)
    assert summary["p95_ms"] is not None and summary["jitter_ms"] is not None
    assert (end["how"], code) == ("completed", 1000)


@needs_network
@pytest.mark.parametrize(
    ("port", "reason"), [(79, "refused"), (81, "timed out"), (82, "unreachable")]
)
@NETWORK
def test_a_closed_a_filtered_and_an_unreachable_port(chain: Any, port: int, reason: str) -> None:
    events, code = run(chain, {"target": chain.target.v4[0], "port": port})
    assert probes(events) == [("timeout", reason)] * 3, events
    (summary,) = [e for e in events if e["type"] == "summary"]
    assert (summary["received"], summary["loss_pct"]) == (0, 100.0)
    assert (events[-1]["how"], code) == ("no-reply", 4000)


@needs_network
@NETWORK
def test_a_port_outside_allow_port_is_refused_and_nothing_runs(chain: Any) -> None:
    events, code = run(chain, {"target": chain.target.v4[0], "port": 22})
    assert [e["type"] for e in events] == ["error"]
    assert (events[0]["reason"], events[0]["field"], code) == ("not-allowed", "port", 4403)


@needs_network
@NETWORK
def test_the_policy_still_decides_the_address(chain: Any) -> None:
    # --deny is every defence's: a denied address is refused before any port matters
    events, code = run(chain, {"target": "0.0.0.0", "port": 80})
    assert (events[0]["type"], code) == ("error", 4403)


@needs_network
@NETWORK
def test_the_cli_prints_each_probe_and_the_statistics(chain: Any) -> None:
    cli = Path(sys.executable).parent / "pingu"
    done = chain.client.run(
        str(cli), "watch", "--tool", "tcp", f"ws://127.0.0.1:{chain.server.port}/ws",
        chain.target.v4[0], "-p", "80", "-c", "2", "-i", "0.2", timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("Handshake with" in line and "completed" in line for line in lines) == 2, lines
    assert lines[-1].startswith("--- tcp statistics: 2 probes, 2 answered, 0% loss, rtt min/avg")


@needs_network
@NETWORK
def test_a_reply_arrives_when_the_handshake_completes_not_at_the_next_probe(chain: Any) -> None:
    # nping writes its RCVD line to a pipe only with its next SENT, unless
    # line-buffered: without stdbuf, reply 1 came a whole interval late.
    interval = 4.0
    request = {"tool": "tcp", "target": chain.target.v4[0], "port": 80, "count": 2,
               "interval": interval}  # fmt: skip
    with connect(
        f"ws://127.0.0.1:{chain.server.port}/ws", sock=chain.server.socket(), proxy=None,
        open_timeout=5, subprotocols=["pingu.json"],
    ) as conn:  # fmt: skip
        conn.send(json.dumps(request))
        assert json.loads(conn.recv(timeout=10))["type"] == "start"
        started = time.monotonic()
        while (event := json.loads(conn.recv(timeout=3 * interval)))["type"] != "reply":
            pass
        took = time.monotonic() - started
        harness_pingu.json_events(conn, 3 * interval)
    assert event["seq"] == 1 and took < interval / 2, took


@needs_network
@NETWORK
def test_the_unprivileged_service_user_probes_tcp(chain: Any) -> None:
    # nping --tcp-connect needs no raw socket: pingu as nobody runs it.
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing")
    workdir = Path(tempfile.mkdtemp(prefix="pingu-tcp-nobody-", dir="/tmp"))
    workdir.chmod(0o777)
    try:
        server = harness_pingu.NamespacePingu(chain.client, workdir, "pingu-nobody", (
            "--allow-port", "80", "--no-watchdog",
        ))  # fmt: skip
        inside = server.argv.index("exec") + 2  # after "ip netns exec NAME"
        server.argv[inside:inside] = [
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
        ]  # fmt: skip
        with server:
            with connect(
                f"ws://127.0.0.1:{server.port}/ws", sock=server.socket(), proxy=None,
                open_timeout=5, subprotocols=["pingu.json"],
            ) as conn:  # fmt: skip
                conn.send(json.dumps({"tool": "tcp", "target": chain.target.v4[0], "port": 80,
                                      "count": 2, "interval": 0.2}))  # fmt: skip
                events, code = harness_pingu.json_events(conn, 30)
            # twistd made its log as the user it ran as
            assert server.log_path.stat().st_uid == pwd.getpwnam("nobody").pw_uid
        assert probes(events) == [("reply", None)] * 2, events
        assert code == 1000
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize(("answered", "how"), [(True, "completed"), (False, "no-reply")])
def test_a_stop_is_exit_1_after_nping_s_statistics(answered: bool, how: str) -> None:
    """nping catches the SIGINT a stop sends, prints its statistics and exits 1
    (measured, nping 0.7.93): a stop, not a tool error; exit 1 before any
    statistics (a bad argument) stays ping-error."""
    parser = TcpParser()
    parser.feed("SENT (0.1s) Starting TCP Handshake > 10.0.0.1:80")
    if answered:
        parser.feed("RCVD (0.2s) Handshake with 10.0.0.1:80 completed")
    assert TOOL.how(1, None, parser, resolved(port=80), LIMITS) == "ping-error"
    parser.feed("Max rtt: N/A | Min rtt: N/A | Avg rtt: N/A")
    assert TOOL.how(1, None, parser, resolved(port=80), LIMITS) == how
