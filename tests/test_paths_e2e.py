"""traceroute, mtr and ping through the real ``twistd pingu`` on a real
multi-hop network: client -- r1 -- r2 -- target, network namespaces joined
by veth pairs (tests/harness/netns.py), IPv4 and IPv6.

The server runs inside the client namespace (``ip netns exec``), and so do
its clients: the WebSocket connections are made by a thread that has
entered that namespace, and ``pingu watch`` is run there too.  Every probe
goes to addresses inside the namespaces this module creates.  The routers
and the target answer ICMP without the kernel's rate limit, so that
traceroute's 16 probes at once are all answered: a ``*`` here is a rule of
the test, never the kernel's token bucket.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.harness import netns
from tests.harness import pingu as harness_pingu

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.netns,
    pytest.mark.skipif(
        bool(netns.unavailable() or netns.nft_unavailable()),
        reason=str(netns.unavailable() or netns.nft_unavailable()),
    ),
]

PINGU_CLI = Path(sys.executable).parent / "pingu"
DEFAULT_TRACEROUTE_WAIT = 5.0


class NamespacePingu(harness_pingu.NamespacePingu):
    """``twistd pingu`` inside a namespace, on that namespace's 127.0.0.1."""

    def __init__(self, ns: netns.Namespace, workdir: Path, args: tuple[str, ...]) -> None:
        super().__init__(ns, workdir, f"pingu-{ns.name}", args)

    def ws(self, path: str = "/ws", json_mode: bool = True) -> Any:
        return connect(
            f"ws://127.0.0.1:{self.port}{path}",
            sock=self.socket(),
            proxy=None,
            open_timeout=5,
            subprotocols=["pingu.json"] if json_mode else None,
        )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("paths")
    with netns.Chain(routers=2, prefix="pp") as made:
        for ns in (*made.routers, made.target):
            # no ICMP rate limit: traceroute sends 16 probes at once
            ns.sh("sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0")
            ns.sh("sysctl", "-q", "-w", "net.ipv6.icmp.ratelimit=0")
        server = NamespacePingu(made.client, workdir, (
            "--min-round-interval", "0.2", "--min-interval", "0.01", "--max-duration", "60",
        ))  # fmt: skip
        with server:
            made.server = server
            yield made


@pytest.fixture
def rules(chain: Any) -> Any:
    """The chain, with every nftables rule a test set removed after it."""
    yield chain
    for ns in chain.namespaces:
        ns.flush_rules()


def run_json(chain: Any, request: dict[str, Any], timeout: float = 30.0) -> tuple[list[dict], int]:
    """Every event of one run, and the close code."""
    with chain.server.ws() as conn:
        conn.send(json.dumps(request))
        try:
            return harness_pingu.json_events(conn, timeout)
        except TimeoutError as e:
            pytest.fail(str(e))


def run_text(chain: Any, path: str, target: str, timeout: float = 30.0) -> tuple[list[str], int]:
    got: list[str] = []
    with chain.server.ws(path, json_mode=False) as conn:
        conn.send(target)
        deadline = time.monotonic() + timeout
        try:
            while True:
                got.append(conn.recv(timeout=max(0.1, deadline - time.monotonic())))
        except ConnectionClosed as closed:
            return got, closed.rcvd.code if closed.rcvd else 1006


def hops_of(chain: Any, family: str) -> list[str]:
    """The addresses traceroute should see, in order: each router's side
    facing the client, then the target."""
    return [getattr(ns, family)[0] for ns in (*chain.routers, chain.target)]


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def last_stats(events: list[dict]) -> dict[int, dict]:
    return {e["hop"]: e for e in of(events, "hop_stats")}


# -- traceroute ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_traceroute_sees_every_hop_in_order(chain: Any, family: str) -> None:
    target = getattr(chain.target, family)[0]
    events, code = run_json(chain, {"target": target, "tool": "traceroute", "wait": 1})
    start = events[0]
    assert (start["type"], start["tool"], start["address"]) == ("start", "traceroute", target)
    assert of(events, "line")[0]["raw"].startswith(f"traceroute to {target} ({target})")
    hops = of(events, "hop")
    assert [(h["hop"], h["address"]) for h in hops] == list(
        enumerate(hops_of(chain, family), 1)
    ), hops
    assert all(len(h["rtt_ms"]) == 3 and None not in h["rtt_ms"] for h in hops), hops
    end = events[-1]
    assert (end["how"], end["exit_code"], code) == ("completed", 0, 1000)


def test_traceroute_text_mode_sends_traceroutes_lines(chain: Any) -> None:
    target = chain.target.v4[0]
    lines, code = run_text(chain, "/ws/traceroute", target)
    assert lines[0].startswith(f"traceroute to {target} ({target}), 30 hops max")
    assert [line.split()[:2] for line in lines[1:]] == [
        [str(n), address] for n, address in enumerate(hops_of(chain, "v4"), 1)
    ], lines
    assert code == 1000


def test_traceroute_a_hop_without_time_exceeded_is_a_star_alone(rules: Any) -> None:
    rules.routers[1].drop_time_exceeded()
    events, code = run_json(
        rules, {"target": rules.target.v4[0], "tool": "traceroute", "wait": 0.5, "queries": 2}
    )
    hops = of(events, "hop")
    expected = hops_of(rules, "v4")
    assert [h["address"] for h in hops] == [expected[0], None, expected[2]], hops
    assert hops[1]["rtt_ms"] == [None, None] and hops[1]["raw"].split() == ["2", "*", "*"]
    assert None not in hops[0]["rtt_ms"] + hops[2]["rtt_ms"]
    assert code == 1000


def test_traceroute_to_a_silent_target_ends_no_reply(rules: Any) -> None:
    rules.target.rule("input", "drop")
    events, code = run_json(rules, {
        "target": rules.target.v6[0], "tool": "traceroute", "max_hops": 4, "wait": 0.3,
        "queries": 1,
    })  # fmt: skip
    hops = of(events, "hop")
    assert [h["address"] for h in hops] == [*hops_of(rules, "v6")[:2], None, None], hops
    end = events[-1]
    # traceroute itself exits 0; pingu says the target never answered
    assert (end["how"], end["exit_code"], end["code"], code) == ("no-reply", 0, 4000, 4000)


#: the silent hop's wait in the two tests below, seconds: the last router's
#: hop must arrive long before it ends
SILENT_WAIT = 8.0


def test_traceroute_a_hop_arrives_before_the_silent_hop_after_it_ends(rules: Any) -> None:
    # Debian's traceroute ends r2's line only when hop 3 (silent) begins, a
    # whole wait later; pingu emits the hop once its 3 probes are printed.
    rules.target.rule("input", "drop")
    request = {
        "target": rules.target.v4[0], "tool": "traceroute", "max_hops": 3,
        "wait": SILENT_WAIT, "queries": 3,
    }  # fmt: skip
    arrived: dict[int, float] = {}
    with rules.server.ws() as conn:
        conn.send(json.dumps(request))
        started = None
        while len(arrived) < 2:
            event = json.loads(conn.recv(timeout=3 * SILENT_WAIT))
            if event["type"] == "start":
                started = time.monotonic()
            elif event["type"] == "hop":
                assert started is not None
                arrived[event["hop"]] = time.monotonic() - started
                assert None not in event["rtt_ms"] and len(event["rtt_ms"]) == 3, event
        rest, code = harness_pingu.json_events(conn, 3 * SILENT_WAIT)
    assert arrived[2] < SILENT_WAIT / 2, arrived
    assert [h["hop"] for h in of(rest, "hop")] == [3], (arrived, rest)  # and each hop once
    assert (rest[-1]["how"], code) == ("no-reply", 4000)


def test_traceroute_text_mode_sends_a_hop_before_the_silent_hop_after_it_ends(
    rules: Any,
) -> None:
    rules.target.rule("input", "drop")
    hop_2 = rules.routers[1].v4[0]
    with rules.server.ws("/ws/traceroute", json_mode=False) as conn:
        conn.send(rules.target.v4[0])
        header = conn.recv(timeout=10)
        started = time.monotonic()
        lines = [conn.recv(timeout=3 * DEFAULT_TRACEROUTE_WAIT) for _ in range(2)]
        took = time.monotonic() - started
    assert header.startswith("traceroute to"), header
    assert lines[1].split()[:2] == ["2", hop_2], lines
    # traceroute's default wait is 5 s: without the fix, hop 2 came after it
    assert took < DEFAULT_TRACEROUTE_WAIT / 2, (took, lines)


# -- mtr ------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_mtr_sees_every_hop_and_counts_every_round(chain: Any, family: str) -> None:
    target = getattr(chain.target, family)[0]
    events, code = run_json(
        chain, {"target": target, "tool": "mtr", "count": 3, "interval": 0.2}
    )
    assert events[0]["tool"] == "mtr"
    expected = hops_of(chain, family)
    assert [(h["hop"], h["address"]) for h in of(events, "hop")] == list(enumerate(expected, 1))
    stats = last_stats(events)
    assert sorted(stats) == [1, 2, 3], stats  # nothing past the target
    for hop, address in enumerate(expected, 1):
        row = stats[hop]
        assert (row["address"], row["sent"], row["received"], row["loss_pct"]) == (
            address, 3, 3, 0.0,
        ), row  # fmt: skip
        assert 0 < row["best_ms"] <= row["avg_ms"] <= row["worst_ms"] < 100, row
        assert row["stdev_ms"] >= 0 and row["jitter_ms"] is not None
    # one hop_stats per hop and round
    assert sorted(e["hop"] for e in of(events, "hop_stats")) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert (events[-1]["how"], code) == ("completed", 1000)


def test_mtr_text_mode_sends_readable_hop_lines(chain: Any) -> None:
    """The classic protocol on /ws/mtr: a host, then mtr's rounds as
    readable per-hop lines; no count, so the run goes on until ``stop``."""
    expected = hops_of(chain, "v4")
    lines: list[str] = []
    with chain.server.ws("/ws/mtr", json_mode=False) as conn:
        conn.send(chain.target.v4[0])
        deadline = time.monotonic() + 20
        while not all(
            any(line.startswith(f"{n:>2}. {address} ") for line in lines)
            for n, address in enumerate(expected, 1)
        ):
            lines.append(conn.recv(timeout=max(0.1, deadline - time.monotonic())))
        conn.send("stop")
        try:
            while True:
                lines.append(conn.recv(timeout=15))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
    per_hop = [line for line in lines if " sent " in line]
    for n, address in enumerate(expected, 1):
        mine = [line for line in per_hop if line.startswith(f"{n:>2}. {address} ")]
        assert mine and all("0.0%" in line for line in mine), lines
    assert not [line for line in lines if line.startswith(("x ", "p ", "h "))]  # not raw
    # mtr dies of the stop's SIGINT: for pingu that is how mtr stops
    assert code == 1000, lines[-3:]


def test_mtr_a_hop_without_time_exceeded_is_lossy_alone(rules: Any) -> None:
    rules.routers[0].drop_time_exceeded()
    events, code = run_json(rules, {
        "target": rules.target.v4[0], "tool": "mtr", "count": 3, "interval": 0.2,
    })  # fmt: skip
    stats = last_stats(events)
    assert [stats[h]["loss_pct"] for h in (1, 2, 3)] == [100.0, 0.0, 0.0], stats
    assert stats[1]["address"] is None and stats[1]["sent"] == 3
    assert code == 1000


def test_mtr_to_a_silent_target_ends_no_reply(rules: Any) -> None:
    rules.target.rule("input", "drop")
    events, code = run_json(rules, {
        "target": rules.target.v4[0], "tool": "mtr", "count": 2, "interval": 0.2, "max_hops": 4,
    })  # fmt: skip
    stats = last_stats(events)
    assert [stats[h]["loss_pct"] for h in (1, 2, 3, 4)] == [0.0, 0.0, 100.0, 100.0], stats
    end = events[-1]
    assert (end["how"], end["exit_code"], code) == ("no-reply", 0, 4000)


# -- ping on the same network ---------------------------------------------------------


def test_ping_real_random_loss_gives_timeouts_and_the_loss_in_the_summary(rules: Any) -> None:
    rules.target.drop_randomly(30, match="icmp type echo-request")
    sent = 200
    events, code = run_json(
        rules, {"target": rules.target.v4[0], "count": sent, "interval": 0.01}
    )
    (summary,) = of(events, "summary")
    lost = summary["transmitted"] - summary["received"]
    assert summary["transmitted"] == sent
    # binomial(200, 0.3): sd 3.2 %; 15 % to 45 % is more than four of them either side
    assert 15.0 <= summary["loss_pct"] <= 45.0, summary
    # iputils -O reports each missing reply when it sends the next request:
    # every lost one but possibly the last
    timeouts = of(events, "timeout")
    assert lost - 1 <= len(timeouts) <= lost, (lost, len(timeouts))
    assert len({t["seq"] for t in timeouts}) == len(timeouts)
    assert len(of(events, "reply")) == summary["received"]
    assert code == 1000


def test_ping_a_silent_target_times_out_every_request(rules: Any) -> None:
    rules.target.drop_echo_requests()
    request = {"target": rules.target.v6[0], "count": 4, "interval": 0.2, "deadline": 2}
    events, code = run_json(rules, request)
    assert of(events, "reply") == []
    assert [t["seq"] for t in of(events, "timeout")][:3] == [1, 2, 3]
    assert of(events, "summary")[0]["loss_pct"] == 100.0
    assert (events[-1]["how"], code) == ("no-reply", 4000)


# -- pingu watch ------------------------------------------------------------------------


def watch(chain: Any, *args: str, timeout: float = 40) -> subprocess.CompletedProcess[str]:
    """``pingu watch OPTIONS URL TARGET`` inside the client namespace
    (``args``: the options, then the target)."""
    url = f"ws://127.0.0.1:{chain.server.port}/ws"
    *options, target = args
    return chain.client.run(str(PINGU_CLI), "watch", *options, url, target, timeout=timeout)


def test_pingu_watch_traceroute_prints_as_traceroute_does(chain: Any) -> None:
    target = chain.target.v4[0]
    done = watch(chain, "--tool", "traceroute", "--wait", "1", "-q", "2", target)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"traceroute to {target} ({target}), 30 hops max")
    assert [line.split()[1] for line in lines[1:]] == hops_of(chain, "v4"), done.stdout


def test_pingu_watch_mtr_not_on_a_terminal_prints_plain_lines(chain: Any) -> None:
    target = chain.target.v6[0]
    done = watch(chain, "--tool", "mtr", "-c", "2", "-i", "0.2", "-6", target)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    final = {}
    for line in done.stdout.splitlines():
        if "sent" in line:
            final[line.split()[0]] = line.split()
    assert [final[f"{n}."][1] for n in (1, 2, 3)] == hops_of(chain, "v6"), done.stdout
    assert all(row[2] == "0.0%" and row[4] == "2" for row in final.values()), final


def test_pingu_watch_refuses_an_option_of_another_tool_before_connecting(chain: Any) -> None:
    done = watch(chain, "--tool", "mtr", "-q", "3", chain.target.v4[0], timeout=20)
    assert done.returncode == 2 and "--queries is not an option of mtr" in done.stderr
