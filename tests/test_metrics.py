"""Prometheus metrics: a live ``twistd pingu`` scraped and parsed with
``prometheus_client``'s own parser; ``--metrics-port`` and ``--no-metrics``;
no label value from a client.

Targets are only ever 127.0.0.1 and localhost, pinged by the real ping.
"""

from __future__ import annotations

import ast
import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from pingu import metrics as pingu_metrics
from pingu import tools
from pingu.events import HOW_TEXT
from tests.harness import REPO
from tests.harness.pingu import TWISTD, PinguServer, json_events
from tests.harness.ports import free_port

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``url``, parsed by prometheus_client's parser."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("text/plain")
        text = answer.read().decode("utf-8")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def label_values(samples: Samples) -> set[str]:
    return {v for _, labels in samples for _, v in labels}


def converse(url: str, request: dict[str, Any], timeout: float = 20.0) -> tuple[list[dict], int]:
    """One ``pingu.json`` conversation: every event until the close, and its code."""
    with connect(url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps(request))
        return json_events(ws, timeout)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture
def server(tmp_path):
    with PinguServer(tmp_path, args=("--metrics-allow", "127.0.0.0/8")) as running:
        yield running


def test_a_live_server_counts_runs_refusals_and_events(server):
    metrics_url = server.http_url + "metrics"
    before = scrape(metrics_url)
    assert value(before, "pingu_info", version=pingu_metrics.__version__) == 1
    assert value(before, "pingu_runs_live", tool="ping", mode="json") == 0

    completed, code = converse(
        server.ws_url, {"target": "localhost", "family": 4, "count": 2, "interval": 0.2}
    )
    assert code == 1000 and completed[-1]["how"] == "completed"
    refused, code = converse(server.ws_url, {"target": "-rf"})
    assert code == 4400 and refused[-1]["reason"] == "looks-like-option"

    after = scrape(metrics_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("pingu_runs_started_total", tool="ping", mode="json") == 1
    assert moved("pingu_runs_started_total", tool="ping", mode="ws") == 0
    assert moved("pingu_runs_ended_total", tool="ping", how="completed") == 1
    assert moved("pingu_refusals_total", reason="looks-like-option") == 1
    assert moved("pingu_refusals_total", reason="other") == 0
    # every message either client got was one event delivered
    assert moved("pingu_events_delivered_total", mode="json") == len(completed) + len(refused)
    assert moved("pingu_events_delivered_total", mode="ws") == 0
    # localhost was looked up once: the histogram observed it
    assert moved("pingu_resolve_seconds_count") == 1
    assert value(after, "pingu_resolve_seconds_bucket", le="+Inf") >= 1
    assert value(after, "pingu_runs_live", tool="ping", mode="json") == 0
    assert value(after, "pingu_child_processes") == 0
    assert value(after, "pingu_backlog_budget_bytes") > 0


def test_gauges_show_a_run_while_it_lives(server):
    with connect(server.ws_url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "127.0.0.1", "count": 50, "interval": 0.2}))
        assert json.loads(ws.recv(timeout=5))["type"] == "start"
        ws.recv(timeout=5)  # a reply: the process runs
        during = scrape(server.http_url + "metrics")
        ws.send(json.dumps({"stop": True}))
    assert value(during, "pingu_runs_live", tool="ping", mode="json") == 1
    assert value(during, "pingu_child_processes") == 1
    assert value(during, "pingu_connections_open") == 1
    assert value(during, "pingu_clients_connected") == 1
    assert value(during, "pingu_buffered_bytes") >= 0
    assert value(during, "pingu_handshakes_pending") >= 0


def test_the_text_mode_counts_as_ws(server):
    before = scrape(server.http_url + "metrics")
    lines = []
    with connect(server.ws_url) as ws:
        ws.send("127.0.0.1")
        with pytest.raises(ConnectionClosed):
            while True:
                lines.append(ws.recv(timeout=20))
                if len(lines) == 2:
                    ws.send("stop")
    after = scrape(server.http_url + "metrics")
    started = ("pingu_runs_started_total", frozenset({("tool", "ping"), ("mode", "ws")}))
    assert after[started] - before[started] == 1
    delivered = ("pingu_events_delivered_total", frozenset({("mode", "ws")}))
    # one per event that carries output (the end carries none); an event
    # may carry several lines (ping's statistics)
    assert 2 <= after[delivered] - before[delivered] <= len(lines)


def test_hostile_strings_never_become_label_values(server):
    hostile = 'evil"} 1\npingu_x{a="b'
    for request in ({"target": hostile}, {"target": "127.0.0.1", hostile: 1}, {"tool": hostile}):
        events, code = converse(server.ws_url, request)
        assert code == 4400, events
    after = scrape(server.http_url + "metrics")
    values = label_values(after)
    assert not any("evil" in v for v in values)
    reasons = {
        dict(labels).get("reason") for name, labels in after if name.startswith("pingu_refusals")
    }
    assert reasons - {None} <= pingu_metrics.REFUSAL_REASONS | {pingu_metrics.OTHER}
    assert sum(v for (name, _), v in after.items() if name == "pingu_refusals_total") == 3
    # the names pingu exports: all under pingu_ (and nothing of the global registry)
    assert all(name.startswith("pingu_") for name, _ in after)


def test_metrics_port_serves_elsewhere_and_not_on_the_site(tmp_path):
    port = free_port()
    args = ("--metrics-port", f"tcp:{port}:interface=127.0.0.1")
    with PinguServer(tmp_path, args=args) as server:
        assert status_of(server.http_url + "metrics") == 404
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        assert value(samples, "pingu_runs_live", tool="ping", mode="ws") == 0
        assert status_of(f"http://127.0.0.1:{port}/pingu-info.json") == 404


def test_metrics_are_not_on_the_page_by_default(tmp_path):
    """Issue 17: /metrics was public on the page's own port.  Shown able to
    fail: with make_site's former default (served to anybody) this is 200."""
    with PinguServer(tmp_path) as server:
        assert status_of(server.http_url + "metrics") == 404
        assert status_of(server.http_url + "pingu-info.json") == 200


def status_from(url: str, source: str) -> int:
    """The HTTP status of a GET of ``url`` from the loopback address ``source``."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    connection = http.client.HTTPConnection(
        where.hostname, where.port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("GET", where.path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_metrics_on_the_page_only_to_the_networks_named(tmp_path):
    """``--metrics-allow 127.0.0.2/32``: the scraper on 127.0.0.2 gets the
    metrics on the page's port, a client from 127.0.0.3 a 404, whatever
    header it sends.  Shown able to fail: with AllowedNetworks answering
    everybody, 127.0.0.3 gets 200."""
    args = ("--metrics-allow", "127.0.0.2/32", "--trusted-proxy", "127.0.0.3/32")
    with PinguServer(tmp_path, args=args) as server:
        assert status_from(server.http_url + "metrics", "127.0.0.2") == 200
        assert status_from(server.http_url + "metrics", "127.0.0.3") == 404
        assert status_from(server.http_url + "metrics", "127.0.0.1") == 404
        forged = urllib.request.Request(
            server.http_url + "metrics", headers={"X-Forwarded-For": "127.0.0.2"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 404
        assert status_from(server.http_url, "127.0.0.3") == 200  # the page is everybody's


def test_no_metrics_gives_404(tmp_path):
    with PinguServer(tmp_path, args=("--no-metrics",)) as server:
        assert status_of(server.http_url + "metrics") == 404
        assert status_of(server.http_url + "pingu-info.json") == 200


@pytest.mark.parametrize(
    "args, says",
    [
        (["--metrics-port", "nonsense:1"], "bad --metrics-port"),
        (["--metrics-port", "9101", "--no-metrics"], "contradict"),
        (["--metrics-allow", "10.0.0.0/8", "--no-metrics"], "contradict"),
        (["--metrics-allow", "ten"], "not a network"),
        (["--metrics-allow", "10.0.0.0/8", "--no-web", "--router", "ws://127.0.0.1:1/ws"],
         "there is none with --no-web"),
        (["--log-format", "xml"], "--log-format must be one of text, json"),
    ],
)
def test_bad_options_end_with_one_line(args, says, tmp_path):
    done = subprocess.run(
        [str(TWISTD), "-n", "--pidfile=", "pingu", "--no-watchdog", *args],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert says in done.stderr and "Traceback" not in done.stderr


# -- without a server ------------------------------------------------------------


def test_unknown_values_are_counted_as_other():
    metrics = pingu_metrics.Metrics()
    metrics.refused('x"\n{y}')
    metrics.refused("too-many-runs")
    metrics.run_ended("ping", "nonsense")
    metrics.run_ended("no-such-tool", "completed")
    metrics.run_started("ping", "carrier-pigeon")
    registry = metrics.registry
    assert registry.get_sample_value("pingu_refusals_total", {"reason": "other"}) == 1
    assert registry.get_sample_value("pingu_refusals_total", {"reason": "too-many-runs"}) == 1
    assert (
        registry.get_sample_value("pingu_runs_ended_total", {"tool": "ping", "how": "other"}) == 1
    )
    assert (
        registry.get_sample_value("pingu_runs_ended_total", {"tool": "other", "how": "completed"})
        == 1
    )
    assert (
        registry.get_sample_value("pingu_runs_started_total", {"tool": "ping", "mode": "other"})
        == 1
    )


def test_two_hubs_metrics_do_not_clash():
    one, two = pingu_metrics.Metrics(), pingu_metrics.Metrics()
    one.refused("idle")
    assert one.registry.get_sample_value("pingu_refusals_total", {"reason": "idle"}) == 1
    assert two.registry.get_sample_value("pingu_refusals_total", {"reason": "idle"}) == 0


def test_every_series_exists_at_zero_from_the_start():
    registry = pingu_metrics.Metrics().registry
    for tool in tools.TOOLS:
        for how in HOW_TEXT:
            labels = {"tool": tool, "how": how}
            assert registry.get_sample_value("pingu_runs_ended_total", labels) == 0
    for reason in pingu_metrics.REFUSAL_REASONS:
        assert registry.get_sample_value("pingu_refusals_total", {"reason": reason}) == 0


def _reason_literals() -> dict[str, str]:
    """Every reason pingu's server code refuses for, written as a literal:
    the reason argument of ``Refused``, ``bad``, ``busy`` and ``refusal``."""
    positions = {"Refused": 1, "bad": 2, "busy": 0, "refusal": 1}
    found: dict[str, str] = {}
    for path in sorted((REPO / "pingu").rglob("*.py")):
        if "cli" in path.relative_to(REPO / "pingu").parts:
            continue  # the command-line client's own "refusals" are not the server's
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", "") or ""
            position = positions.get(name.lstrip("_"))
            if position is None:
                continue
            argument = node.args[position] if len(node.args) > position else None
            for keyword in node.keywords:
                if keyword.arg == "reason":
                    argument = keyword.value
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found[argument.value] = f"{path.relative_to(REPO)}:{node.lineno}"
    return found


def test_every_reason_in_the_code_is_a_label_value():
    """A new refusal reason belongs in pingu.metrics.REFUSAL_REASONS, or it
    is counted as "other"."""
    found = _reason_literals()
    assert len(found) > 20  # the scan sees the code
    missing = {r: w for r, w in found.items() if r not in pingu_metrics.REFUSAL_REASONS}
    assert not missing, f"add to pingu.metrics.REFUSAL_REASONS: {missing}"


def test_the_library_is_a_dependency():
    setup = (REPO / "setup.cfg").read_text()
    assert "prometheus_client>=0.17" in setup.split("[options.extras_require]")[0]


def test_a_child_whose_pid_is_not_known_yet_is_counted():
    """The spawn thread reports a child's pid a moment after the child
    runs (its first line can arrive before): it is a child process all the
    same, until it is reaped."""
    from types import SimpleNamespace

    def run(pid: Any, ended: bool, transport: Any = object()) -> Any:
        process = SimpleNamespace(pid=pid, ended=ended, transport=transport)
        return SimpleNamespace(tool=tools.TOOLS["ping"], mode="ws", process=process)

    hub = SimpleNamespace(
        runs={
            1: run(None, False),  # spawned, its pid not reported yet
            2: run(123, False),
            3: run(None, True),  # reaped
            4: run(None, False, None),  # never spawned
        },
        resolving=SimpleNamespace(total=0),
        budget=SimpleNamespace(used=0, limit=1),
    )
    gauges = {family.name: family for family in pingu_metrics._hub_metrics(hub)}
    assert gauges["pingu_child_processes"].samples[0].value == 2
