"""``twistd pingu --workers N``: one port, N worker processes, each client in
one worker; whole-server limits divided; one clean stop of everything; a
dead worker restarted, a dead parent's workers gone.

The real ``twistd pingu`` and the real ping, to 127.0.0.1 only.  Clients are
told apart by their source address: the whole of 127.0.0.0/8 is this
machine's, so a test can be several clients (127.0.0.2, 127.0.0.3, ...).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import connect

from pingu.clients import client_key
from pingu.handoff import worker_of
from tests.harness import crossbar
from tests.harness.pingu import PinguServer
from tests.harness.ports import free_port
from tests.harness.procs import children_of, descendants, is_watchdog, parents
from tests.harness.service import wait_until

pytestmark = pytest.mark.e2e


def sources_of(worker: int, workers: int, count: int) -> list[str]:
    """``count`` loopback addresses whose clients go to ``worker``."""
    found = []
    for n in range(2, 250):
        address = f"127.0.0.{n}"
        if worker_of(client_key(address), workers) == worker:
            found.append(address)
            if len(found) == count:
                return found
    raise AssertionError("not enough addresses")


def open_from(server: PinguServer, source: str) -> Any:
    """A ``pingu.json`` WebSocket to the server from ``source``."""
    sock = socket.create_connection(("127.0.0.1", server.port), 5, (source, 0))
    return connect(server.ws_url, sock=sock, subprotocols=["pingu.json"])


def start(ws, count: int = 100) -> dict:
    """Ask for a ping of 127.0.0.1; the first answer (``start`` or ``error``)."""
    ws.send(json.dumps({"target": "127.0.0.1", "count": count, "interval": 0.2}))
    return json.loads(ws.recv(timeout=10))


def workers_of(server: PinguServer) -> list[int]:
    """The worker processes (the parent's children)."""
    return children_of(server.pid)


def pings_by_worker(server: PinguServer) -> dict[int, int]:
    """How many tool processes each worker runs (its watchdog left out)."""
    table = parents()
    return {
        worker: len([c for c in children_of(worker, table) if not is_watchdog(c)])
        for worker in children_of(server.pid, table)
    }


def worker_pid(server: PinguServer, index: int) -> int:
    """The pid of worker ``index`` (from its command line's ``--worker I/N``)."""
    for pid in workers_of(server):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        if argv[argv.index(b"--worker") + 1].startswith(f"{index}/".encode()):
            return pid
    raise AssertionError(f"no worker {index}")


@pytest.fixture
def two(tmp_path):
    args = (
        "--workers", "2", "--max-runs-per-client", "2", "--max-runs", "8", "--grace", "0.5",
        "--metrics-allow", "127.0.0.0/8",  # so that the workers have a metrics folder
    )  # fmt: skip
    with PinguServer(tmp_path, args=args) as server:
        wait_until(lambda: len(workers_of(server)) == 2, 10)
        yield server


def test_the_page_is_told_the_limits_as_set_not_a_workers_share(two):
    import http.client

    for index in (0, 1):
        connection = http.client.HTTPConnection(
            "127.0.0.1", two.port, timeout=10, source_address=(sources_of(index, 2, 1)[0], 0)
        )
        connection.request("GET", "/pingu-info.json")
        info = json.loads(connection.getresponse().read())
        connection.close()
        assert info["limits"]["max_runs"] == 8  # --max-runs 8, 4 in each worker


def test_each_client_stays_in_its_worker_and_both_workers_serve(two):
    ours = {index: sources_of(index, 2, 2) for index in (0, 1)}
    sockets = []
    try:
        for sources in ours.values():
            for source in sources:
                for _ in range(2):  # two connections per client
                    ws = open_from(two, source)
                    sockets.append(ws)
                    assert start(ws)["type"] == "start"
        wait_until(lambda: sum(pings_by_worker(two).values()) == 8, 10)
        by_worker = pings_by_worker(two)
        assert by_worker == {worker_pid(two, 0): 4, worker_pid(two, 1): 4}, by_worker
    finally:
        for ws in sockets:
            ws.close()


def test_a_client_limit_holds_over_many_connections(two):
    """--max-runs-per-client 2: a third connection of the same client is
    refused, whichever order it connects in (all its sockets are in one worker)."""
    source = sources_of(1, 2, 1)[0]
    sockets = [open_from(two, source) for _ in range(5)]
    try:
        answers = [start(ws) for ws in sockets]
        kinds = [a["type"] for a in answers]
        assert kinds.count("start") == 2, answers
        assert {a.get("reason") for a in answers if a["type"] == "error"} == {
            "too-many-runs-per-client"
        }
    finally:
        for ws in sockets:
            ws.close()


def test_a_whole_server_limit_is_divided_among_workers_not_multiplied(tmp_path):
    """--max-runs 4 over 2 workers: 2 each, 4 in all, however many clients
    ask (without the division, each worker would allow 4: 8 in all)."""
    args = ("--workers", "2", "--max-runs", "4")
    with PinguServer(tmp_path, args=args) as server:
        sources = sources_of(0, 2, 3) + sources_of(1, 2, 3)
        sockets = [open_from(server, source) for source in sources]
        try:
            answers = [start(ws) for ws in sockets]
            assert [a["type"] for a in answers].count("start") == 4, answers
            refused = [a for a in answers if a["type"] == "error"]
            assert {a["reason"] for a in refused} == {"too-many-runs"}, refused
            wait_until(lambda: sum(pings_by_worker(server).values()) == 4, 10)
        finally:
            for ws in sockets:
                ws.close()


def test_sigterm_ends_every_worker_run_and_child_cleanly(two):
    sockets = [open_from(two, source) for source in sources_of(0, 2, 1) + sources_of(1, 2, 1)]
    for ws in sockets:
        assert start(ws)["type"] == "start"
    wait_until(lambda: sum(pings_by_worker(two).values()) == 2, 10)
    everything = descendants(two.pid)
    assert len(everything) == 6  # 2 workers, 2 watchdogs, 2 pings
    os.kill(two.pid, signal.SIGTERM)
    for ws in sockets:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert two.proc.wait(20) == -signal.SIGTERM  # twistd ends as the signal told it to
    table = parents()
    assert [pid for pid in everything if pid in table] == []


def test_a_dead_worker_is_restarted_and_its_children_end(two):
    source = sources_of(0, 2, 1)[0]
    ws = open_from(two, source)
    assert start(ws)["type"] == "start"
    first = worker_pid(two, 0)
    wait_until(lambda: pings_by_worker(two).get(first) == 1, 10)
    below = descendants(first)
    os.kill(first, signal.SIGKILL)
    # its connection goes with it (the parent kept no copy) ...
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=10)
    # ... its ping and watchdog end ...
    wait_until(lambda: not [pid for pid in below if pid in parents()], 10)
    # ... and a new worker 0 serves the same client again.
    wait_until(lambda: len(workers_of(two)) == 2 and first not in workers_of(two), 20)
    assert "worker 0 ended (signal 9)" in two.log()
    wait_until(lambda: worker_pid(two, 0) != first, 10)

    def served() -> bool:
        try:
            with open_from(two, source) as again:
                return start(again, count=1)["type"] == "start"
        except (OSError, WebSocketException):
            return False  # handed to the dead worker's channel, in its last moment

    wait_until(served, 20)


def test_a_dead_parent_takes_its_workers_and_their_children(two):
    ws = open_from(two, sources_of(1, 2, 1)[0])
    assert start(ws)["type"] == "start"
    wait_until(lambda: sum(pings_by_worker(two).values()) == 1, 10)
    everything = descendants(two.pid)
    folder = metrics_folder(two)
    os.kill(two.pid, signal.SIGKILL)
    two.proc.wait(10)
    wait_until(lambda: not [pid for pid in everything if pid in parents()], 20)
    ws.close()
    assert not os.path.exists(folder)  # the last worker to go took it


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--workers", "0"), "pingu: --workers must be a whole number of at least 1, or auto"),
        (("--workers", "many"), "pingu: --workers must be a whole number"),
        (("--workers", "3", "--max-runs", "2"), "pingu: --max-runs 2 cannot be shared by 3"),
        (("--workers", "2", "--port", "unix:/tmp/pingu-w.sock"), "pingu: --workers needs a tcp:"),
        (("--worker", "0/2"), "pingu: --worker is for the workers of a --workers parent only"),
        (("--worker", "3/2"), "pingu: --worker '3/2' is for the workers of a --workers parent"),
    ],
)
def test_bad_workers_options_are_one_line(tmp_path, args, expected):
    from tests.harness.pingu import TWISTD

    if "--port" not in args:
        args = (*args, "--port", f"tcp:{free_port()}:interface=127.0.0.1")
    done = subprocess.run(
        [str(TWISTD), "-n", "--pidfile=", "pingu", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(expected), line


def test_auto_is_one_worker_per_core(tmp_path):
    with PinguServer(tmp_path, args=("--workers", "auto")) as server:
        cores = os.cpu_count() or 1
        if cores == 1:
            assert workers_of(server) == [] or all(is_watchdog(p) for p in workers_of(server))
        else:
            wait_until(lambda: len(workers_of(server)) == cores, 10)
            time.sleep(0.2)
            assert len(workers_of(server)) == cores


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_parent_alone_writes_the_log_with_each_workers_events(tmp_path, log_format):
    """N processes appending to one file (and rotating it each on its own)
    would interleave half-lines: the workers send their events to the parent."""
    args = ("--workers", "2", "--log-format", log_format)
    with PinguServer(tmp_path, args=args) as server:
        wait_until(lambda: len(workers_of(server)) == 2, 10)
        for index in (0, 1):
            with open_from(server, sources_of(index, 2, 1)[0]) as ws:
                assert start(ws, count=1)["type"] == "start"
                while json.loads(ws.recv(timeout=10))["type"] != "end":
                    pass
        log_path = str(server.log_path.resolve())
        for pid in [server.pid, *workers_of(server)]:
            fds = f"/proc/{pid}/fd"
            opened = {os.path.realpath(f"{fds}/{fd}") for fd in os.listdir(fds)}
            assert (log_path in opened) == (pid == server.pid), pid

        def ended_in(index: int) -> bool:
            # Only whole lines: the parent may be writing the last one.
            lines = server.log().splitlines(keepends=True)
            whole = [line for line in lines if line.endswith("\n")]
            if log_format == "json":
                # The run_ended event of this worker itself: "worker": 1 alone
                # may be any of its events (its descriptors line, say).
                return any(
                    event.get("event") == "run_ended" and event.get("worker") == index
                    for event in map(json.loads, whole)
                )
            return any(f"worker {index}] run " in line for line in whole)

        wait_until(lambda: ended_in(0) and ended_in(1), 10)
    lines = server.log().splitlines()  # once it has stopped: no line half-written
    if log_format == "json":
        events = [json.loads(line) for line in lines]  # every line one whole event
        ended = {e["worker"] for e in events if e.get("event") == "run_ended"}
        assert ended == {0, 1}, events
    else:
        assert all(line[:4].isdigit() or line.startswith("\t") for line in lines), lines
        for index in (0, 1):
            assert any(f"worker {index}] run " in line for line in lines), lines


def scrape_from(url: str, source: str, openmetrics: bool = False) -> dict:
    """``url``'s samples (prometheus_client's parser), asked from ``source``;
    in the OpenMetrics format (Prometheus' default) with ``openmetrics``."""
    import http.client
    from urllib.parse import urlsplit

    from prometheus_client.openmetrics import parser as openmetrics_parser
    from prometheus_client.parser import text_string_to_metric_families

    where = urlsplit(url)
    connection = http.client.HTTPConnection(
        where.hostname, where.port, timeout=10, source_address=(source, 0)
    )
    accept = "application/openmetrics-text; version=1.0.0" if openmetrics else "text/plain"
    connection.request("GET", where.path, headers={"Accept": accept})
    answer = connection.getresponse()
    assert answer.status == 200
    parse = (
        openmetrics_parser.text_string_to_metric_families
        if openmetrics
        else text_string_to_metric_families
    )
    samples: dict = {}
    for family in parse(answer.read().decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    connection.close()
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of ``name`` over its ``worker`` label."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


@pytest.mark.parametrize("where", ["site", "metrics-port"])
def test_metrics_show_every_worker_whichever_answers(tmp_path, where):
    """A scrape lands in one worker (or the parent, on --metrics-port): it
    shows the runs of the other worker too, each sample labelled."""
    port = free_port()
    extra = (
        ("--metrics-port", f"tcp:{port}:interface=127.0.0.1")
        if where != "site"
        else ("--metrics-allow", "127.0.0.0/8")
    )
    with PinguServer(tmp_path, args=("--workers", "2", *extra)) as server:
        url = server.http_url + "metrics" if where == "site" else f"http://127.0.0.1:{port}/metrics"
        with open_from(server, sources_of(1, 2, 1)[0]) as ws:
            assert start(ws)["type"] == "start"
            ws.recv(timeout=10)
            # asked from a client of worker 0, in both formats (each parsed whole)
            samples = scrape_from(url, sources_of(0, 2, 1)[0])
            both = scrape_from(url, sources_of(0, 2, 1)[0], openmetrics=True)
            assert total(both, "pingu_runs_live", tool="ping", mode="json", worker="1") == 1
        assert samples[("pingu_worker_up", frozenset({("worker", "0")}))] == 1
        assert samples[("pingu_worker_up", frozenset({("worker", "1")}))] == 1
        assert total(samples, "pingu_runs_live", tool="ping", mode="json", worker="1") == 1
        assert total(samples, "pingu_runs_live", tool="ping", mode="json", worker="0") == 0
        assert total(samples, "pingu_child_processes") == 1
        assert total(samples, "pingu_runs_started_total", worker="1") == 1
        # the parent's own, without a worker label
        assert samples[("pingu_parent_dropped_total", frozenset({("reason", "no-worker")}))] == 0
        folder = metrics_folder(server)
        assert sorted(os.listdir(folder)) == ["parent.sock", "worker-0.sock", "worker-1.sock"]
    assert not os.path.exists(folder)


def test_one_gather_serves_the_scrapes_of_a_second(tmp_path):
    """Defence: a worker's gathered /metrics is kept for a second, so a
    flood of scrapes costs the other workers one render a second, not one a
    scrape.  Two scrapes within the second show the same gather
    (``pingu_metrics_gathers``); one after it, the next.  Shown able to
    fail: with ``FRESH = 0`` in pingu/gather.py the second scrape is a
    second gather."""
    args = ("--workers", "2", "--metrics-allow", "127.0.0.0/8")
    with PinguServer(tmp_path, args=args) as server:
        url = server.http_url + "metrics"
        source = sources_of(0, 2, 1)[0]

        def gathers() -> float:
            return total(scrape_from(url, source), "pingu_metrics_gathers_total")

        for _ in range(3):  # a loaded machine may take a second between two scrapes
            asked = time.monotonic()
            first, second = gathers(), gathers()
            if time.monotonic() - asked < 0.9:
                break
            time.sleep(1.1)  # past that gather's second: the next attempt starts anew
        else:
            pytest.skip("two scrapes never came within a second of each other")
        assert second == first
        time.sleep(1.1)
        assert gathers() == first + 1


def metrics_folder(server: PinguServer) -> str:
    """The folder of the workers' metrics sockets (``--worker-metrics``)."""
    with open(f"/proc/{worker_pid(server, 0)}/cmdline", "rb") as f:
        argv = f.read().decode().split("\0")
    return argv[argv.index("--worker-metrics") + 1]


@crossbar.needed
def test_the_wamp_node_is_in_one_worker_only(tmp_path):
    """With --router, worker 0 alone joins: one node, one set of shared runs;
    the other workers serve the page and /ws."""
    with crossbar.Router(tmp_path / "router") as router:
        node = crossbar.Node(
            tmp_path, router.url, "alpha", args=("--workers", "2"), port=free_port()
        ).wait_joined()
        try:
            time.sleep(1)  # a second worker would have joined by now too
            joins = [line for line in node.log().splitlines() if "node alpha joined" in line]
            assert len(joins) == 1 and "worker 0]" in joins[0], joins
            for index in (0, 1):  # both workers serve /ws
                sock = socket.create_connection(
                    ("127.0.0.1", node.port), 5, (sources_of(index, 2, 1)[0], 0)
                )
                with connect(f"ws://127.0.0.1:{node.port}/ws", sock=sock) as ws:
                    ws.send("127.0.0.1")
                    assert ws.recv(timeout=10).startswith("PING 127.0.0.1")
        finally:
            node.stop()
