"""The WAMP face against a real Crossbar.io router and real ``twistd pingu`` nodes.

Each test has a time limit (a lost event must fail a test, not hang the suite).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from autobahn.twisted.component import Component
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions
from twisted.internet import defer, reactor, task

from pingu.wamp.state import REJOIN_GRACE, VIEWER_GRACE
from tests.harness import crossbar
from tests.harness.crossbar import SECRET, Node, Router
from tests.harness.pingu import TESTS_MAX_LAG
from tests.harness.ports import free_port

pytestmark = [pytest.mark.wamp, crossbar.needed]

#: A node that Crossbar runs itself, as a component of the router worker.
IN_ROUTER = {
    "type": "class",
    "classname": "pingu.wamp.PinguNode",
    "realm": "pingu",
    "role": "node",
    # the tests' --max-lag (tests/harness/pingu.py): a router worker on a
    # machine running three suites is often 50 ms late (the default)
    "extra": {"node": "inrouter", "limits": {"max_lag": float(TESTS_MAX_LAG[1])}},
}


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    """The module's router (one Crossbar start is seconds): the shipped
    configuration, plus a node as a router component."""
    with Router(tmp_path_factory.mktemp("router"), components=(IN_ROUTER,)) as started:
        yield started


nodes = pytest.fixture(scope="module")(crossbar.module_nodes)

PINGU = Path(sys.executable).parent / "pingu"


def within(seconds: float) -> Callable[..., Any]:
    """An ``async def`` test run in the reactor, failed after ``seconds``."""

    def wrap(test: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> defer.Deferred:
            return defer.ensureDeferred(test(*args, **kwargs)).addTimeout(seconds, reactor)

        return run

    return wrap


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


async def until(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await sleep(0.02)


def join(url: str, authid: Optional[str] = None, secret: Optional[str] = None) -> defer.Deferred:
    """A joined WAMP session: a viewer, or with ``secret`` one that claims to be a node."""
    joined: defer.Deferred = defer.Deferred()
    auth = {"wampcra": {"authid": authid, "secret": secret}} if secret is not None else None
    component = Component(
        transports=[{"type": "websocket", "url": url, "max_retries": 0}],
        realm="pingu",
        authentication=auth,
    )

    @component.on_join
    def on_join(session: Any, details: Any) -> None:
        if not joined.called:
            joined.callback(session)

    def failed(reason: Any) -> None:
        if not joined.called:
            joined.errback(reason)

    component.start(reactor).addBoth(
        lambda r: failed(r) if not joined.called and r is not None else None
    )
    component.on_connectfailure(lambda _c, reason: failed(reason))
    return joined


class Viewer:
    """Follows one run as docs/wamp.rst says: start, subscribe, backlog; in order of ``n``."""

    def __init__(self, session: Any, node: str) -> None:
        self.session = session
        self.node = node
        self.events: list[dict] = []
        self.ended: defer.Deferred = defer.Deferred()
        self.subscription: Any = None
        self.run: Optional[str] = None
        self._held: Optional[list[dict]] = []  # live events while the backlog is fetched

    def _receive(self, event: dict) -> None:
        if self._held is not None:
            self._held.append(event)
        else:
            self._take(event)

    def _take(self, event: dict) -> None:
        if self.events and event["n"] <= self.events[-1]["n"]:
            return
        assert event["n"] == len(self.events) + 1, f"gap before {event}"
        self.events.append(event)
        if event["type"] == "end" and not self.ended.called:
            self.ended.callback(event)

    async def start(self, target: str, **options: Any) -> dict:
        reply = await self.session.call(f"pingu.{self.node}.start", target, **options)
        self.run = reply["run"]
        self.subscription = await self.session.subscribe(self._receive, reply["topic"])
        backlog = await self.session.call(f"pingu.{self.node}.backlog", reply["run"])
        held, self._held = self._held or [], None
        for event in sorted([*backlog, *held], key=lambda e: e["n"]):
            self._take(event)
        return reply


# -- one run, many viewers ----------------------------------------------------------


@within(20)
async def test_start_events_end(router, nodes):
    session = await join(router.url)
    viewer = Viewer(session, "alpha")
    reply = await viewer.start("127.0.0.1", count=3, interval=0.2)
    assert reply["topic"] == f"pingu.alpha.run.{reply['run']}"
    assert reply["backlog"][0]["type"] == "start" and reply["backlog"][0]["n"] == 1
    end = await viewer.ended
    types = [e["type"] for e in viewer.events]
    assert types[0] == "start" and types[-1] == "end"
    assert types.count("reply") == 3 and types.count("summary") == 1
    assert set(types) <= {"start", "reply", "line", "summary", "end"}
    assert [e["n"] for e in viewer.events] == list(range(1, len(viewer.events) + 1))
    start = viewer.events[0]
    assert (start["target"], start["address"], start["family"]) == ("127.0.0.1", "127.0.0.1", 4)
    assert start["options"]["count"] == 3 and start["options"]["interval"] == 0.2
    replies = [e for e in viewer.events if e["type"] == "reply"]
    assert [e["seq"] for e in replies] == [1, 2, 3]
    assert all(e["rtt_ms"] > 0 and e["from"] == "127.0.0.1" and e["raw"] for e in replies)
    summary = next(e for e in viewer.events if e["type"] == "summary")
    assert (summary["transmitted"], summary["received"], summary["loss_pct"]) == (3, 3, 0)
    assert end["how"] == "completed" and end["exit_code"] == 0
    # the backlog still answers for a while after the end: the whole run
    assert (await session.call("pingu.alpha.backlog", reply["run"])) == viewer.events
    assert (await session.call("pingu.alpha.runs")) == []
    await session.leave()


@within(20)
async def test_a_run_that_ends_before_the_viewer_subscribes_is_seen_whole(router, nodes):
    session = await join(router.url)
    reply = await session.call("pingu.beta.start", "127.0.0.1", count=1)
    await sleep(0.3)  # over before we subscribe: only the backlog can tell
    viewer = Viewer(session, "beta")
    viewer.run = reply["run"]
    viewer.subscription = await session.subscribe(viewer._receive, reply["topic"])
    viewer._held = None
    for event in await session.call("pingu.beta.backlog", reply["run"]):
        viewer._take(event)
    end = await viewer.ended
    assert end["how"] == "completed"
    assert [e["type"] for e in viewer.events].count("reply") == 1
    with pytest.raises(ApplicationError) as error:
        await session.call("pingu.beta.backlog", "1-nosuchrun")
    assert error.value.error == "pingu.error.no_such_run"
    await session.leave()


@within(25)
async def test_viewers_share_one_process_and_the_last_one_leaving_ends_it(router, nodes):
    alpha = nodes["alpha"]
    first, second = await join(router.url), await join(router.url)
    one, two = Viewer(first, "alpha"), Viewer(second, "alpha")
    a = await one.start("127.0.0.1", interval=0.2)
    b = await two.start("127.0.0.1", interval=0.2)
    assert a["run"] == b["run"] and a["topic"] == b["topic"]
    await sleep(0.5)
    assert len(alpha.children()) == 1  # one ping for two viewers
    runs = await first.call("pingu.alpha.runs")
    assert len(runs) == 1
    run = runs[0]
    assert (run["run"], run["topic"], run["viewers"]) == (a["run"], a["topic"], 2)
    assert (run["target"], run["address"], run["node"]) == ("127.0.0.1", "127.0.0.1", "alpha")
    assert run["options"]["interval"] == 0.2 and run["age_s"] >= 0.5
    await first.leave()  # counted through wamp.session.on_leave
    await sleep(0.5)
    assert len(alpha.children()) == 1  # the other viewer still watches
    assert [r["viewers"] for r in await second.call("pingu.alpha.runs")] == [1]
    assert not two.ended.called
    await two.subscription.unsubscribe()  # the last viewer: ping ends at once
    gone_at = time.monotonic()
    await until(lambda: not alpha.children(), 1.0, "ping outlived its last viewer by 1 s")
    assert time.monotonic() - gone_at < 1.0
    assert (await second.call("pingu.alpha.runs")) == []
    await second.leave()


@within(25)
async def test_a_viewer_whose_connection_drops_is_gone(router, nodes):
    """No goodbye, no unsubscribe, no stop: the router's meta events tell."""
    beta = nodes["beta"]
    session = await join(router.url)
    viewer = Viewer(session, "beta")
    await viewer.start("127.0.0.1", interval=0.2)
    await until(lambda: len(viewer.events) >= 2, 5, "no reply")
    assert len(beta.children()) == 1
    session._transport.transport.abortConnection()  # as a crashed browser tab
    gone_at = time.monotonic()
    # its last viewer's connection may only have blipped: the run waits for
    # it VIEWER_GRACE seconds (issue 13), then ends
    await until(lambda: not beta.children(), VIEWER_GRACE + 2.0, "ping outlived a dropped viewer")
    assert VIEWER_GRACE - 0.5 < time.monotonic() - gone_at < VIEWER_GRACE + 1.0


@within(25)
async def test_late_joiner_gets_the_backlog_then_live_without_gap_or_duplicate(router, nodes):
    early_session, late_session = await join(router.url), await join(router.url)
    early = Viewer(early_session, "beta")
    await early.start("127.0.0.1", count=8, interval=0.2)
    await sleep(0.7)
    late = Viewer(late_session, "beta")
    reply = await late.start("127.0.0.1", count=8, interval=0.2)
    assert reply["run"] == early.run
    assert len([e for e in reply["backlog"] if e["type"] == "reply"]) >= 2
    assert len(nodes["beta"].children()) == 1
    await early.ended
    await late.ended
    assert late.events == early.events  # every event once, in order, the same dicts
    assert [e["n"] for e in late.events] == list(range(1, len(late.events) + 1))
    await early_session.leave()
    await late_session.leave()


@within(20)
async def test_stop_by_the_last_viewer_still_brings_the_statistics(router, nodes):
    first, second = await join(router.url), await join(router.url)
    one, two = Viewer(first, "alpha"), Viewer(second, "alpha")
    await one.start("127.0.0.1", interval=0.2)
    await two.start("127.0.0.1", interval=0.2)
    await until(lambda: sum(e["type"] == "reply" for e in one.events) >= 2, 5, "no reply")
    answer = await second.call("pingu.alpha.stop", two.run)
    assert answer == {"ending": False, "viewers": 1}  # the first one still watches
    await sleep(0.3)
    assert len(nodes["alpha"].children()) == 1
    answer = await first.call("pingu.alpha.stop", one.run)
    assert answer == {"ending": True, "viewers": 0}
    end = await one.ended
    assert end["how"] == "completed" and end["exit_code"] == 0  # SIGINT, as Ctrl-C
    assert any(e["type"] == "summary" for e in one.events)
    await first.leave()
    await second.leave()


# -- nodes -------------------------------------------------------------------------


@within(20)
async def test_nodes_are_found_and_answer_side_by_side(router, nodes):
    session = await join(router.url)
    names = await session.call("pingu.nodes")
    assert {"alpha", "beta"} <= set(names)
    viewers = [Viewer(session, name) for name in ("alpha", "beta")]
    await defer.gatherResults(
        [defer.ensureDeferred(v.start("127.0.0.1", count=2, interval=0.2, family=4))
         for v in viewers]
    )  # fmt: skip
    ends = await defer.gatherResults([v.ended for v in viewers])
    assert [e["how"] for e in ends] == ["completed", "completed"]
    await session.leave()


@pytest.mark.parametrize(
    ("args", "options", "uri", "says"),
    [
        (("-f",), {}, "pingu.error.invalid_request", "may not start with '-'"),
        (("127.0.0.1 -f",), {}, "pingu.error.invalid_request", ""),
        (("224.0.0.1",), {}, "pingu.error.forbidden", "multicast"),
        (("127.0.0.1",), {"count": 0}, "pingu.error.invalid_request", "count"),
        (("127.0.0.1",), {"interval": 0.001}, "pingu.error.invalid_request", "interval"),
        (("127.0.0.1",), {"flood": True}, "pingu.error.invalid_request", "flood"),
        (("127.0.0.1", 5), {}, "pingu.error.invalid_request", "keyword"),
        ((), {}, "pingu.error.invalid_request", "no target"),
        (("nowhere.invalid",), {}, "pingu.error.unresolved", "nowhere.invalid"),
    ],
)
@within(20)
async def test_refusals_are_wamp_errors_and_spawn_nothing(router, nodes, args, options, uri, says):
    session = await join(router.url)
    with pytest.raises(ApplicationError) as error:
        await session.call("pingu.alpha.start", *args, **options)
    assert error.value.error == uri
    assert error.value.args and says in error.value.args[0]
    assert error.value.kwargs["reason"] and error.value.kwargs["code"] >= 4400
    assert nodes["alpha"].children() == []
    await session.leave()


# -- roles and the secret --------------------------------------------------------------


@within(20)
async def test_a_viewer_cannot_publish_register_or_use_the_meta_api(router, nodes):
    session = await join(router.url)
    not_authorized = "wamp.error.not_authorized"
    with pytest.raises(ApplicationError) as error:
        await session.publish(
            "pingu.alpha.run.1", {"type": "reply"}, options=PublishOptions(acknowledge=True)
        )
    assert error.value.error == not_authorized
    with pytest.raises(ApplicationError) as error:
        await session.register(lambda *a: None, "pingu.evil.start")
    assert error.value.error == not_authorized
    with pytest.raises(ApplicationError) as error:
        await session.register(lambda *a: None, "pingu.alpha.start")
    assert error.value.error in (not_authorized, "wamp.error.procedure_already_exists")
    with pytest.raises(ApplicationError) as error:
        await session.call("wamp.session.list")
    assert error.value.error == not_authorized
    with pytest.raises(ApplicationError) as error:
        await session.subscribe(lambda *a: None, "wamp.session.on_leave")
    assert error.value.error == not_authorized
    with pytest.raises(ApplicationError) as error:
        await session.subscribe(lambda *a: None, "other.topic")
    assert error.value.error == not_authorized
    assert "evil" not in await session.call("pingu.nodes")
    await session.leave()


@within(40)
async def test_a_node_without_the_secret_is_refused(router, nodes, tmp_path):
    intruder = Node(tmp_path, router.url, "intruder", secret="wrong-" + SECRET)
    try:
        await until(
            lambda: "WAMP-CRA client signature is invalid" in intruder.log(), 15, intruder.log()
        )
        session = await join(router.url)
        assert "intruder" not in await session.call("pingu.nodes")
        await session.leave()
    finally:
        intruder.stop()
    # a client that claims the node's identity without the secret gets nowhere
    with pytest.raises(Exception):  # noqa: B017 - Autobahn wraps the refusal
        await join(router.url, authid="pingu-node", secret="wrong")
    # and a node started without any secret says so and exits
    bare = Node(tmp_path, router.url, "bare", secret=None)
    assert bare.proc.wait(20) != 0
    assert "PINGU_WAMP_SECRET" in bare.output()
    bare.stop()


@within(40)
async def test_a_node_that_joins_is_announced(router, nodes, tmp_path):
    session = await join(router.url)
    announced: list[dict] = []
    await session.subscribe(announced.append, "pingu.nodes.joined")
    late = Node(tmp_path, router.url, "late")
    try:
        await until(lambda: {"node": "late"} in announced, 20, late.log())
        assert "late" in await session.call("pingu.nodes")
        # same name twice: the second one is not let in
        twin = Node(tmp_path, router.url, "late")
        try:
            await until(lambda: "cannot serve on this router" in twin.log(), 15, twin.log())
        finally:
            twin.stop()
    finally:
        late.stop()
    names = await session.call("pingu.nodes")
    assert "late" not in names and {"alpha", "beta"} <= set(names)
    await session.leave()


# -- ceilings ------------------------------------------------------------------------


@within(40)
async def test_the_core_ceilings_apply(router, tmp_path):
    node = Node(tmp_path, router.url, "capped", args=("--max-runs", "1", "--max-duration", "2"))
    try:
        node.wait_joined()
        session = await join(router.url)
        viewer = Viewer(session, "capped")
        await viewer.start("127.0.0.1", interval=0.2)
        with pytest.raises(ApplicationError) as error:  # another target: a second process
            await session.call("pingu.capped.start", "127.0.0.2")
        assert error.value.error == "pingu.error.busy"
        again = await session.call("pingu.capped.start", "127.0.0.1", interval=0.2)
        assert again["run"] == viewer.run  # joining a run is not a new process
        end = await viewer.ended  # --max-duration 2
        assert end["how"] == "ceiling" and 1.5 < end["duration_s"] < 4
        await session.leave()
    finally:
        node.stop()


# -- pingu watch -------------------------------------------------------------------


def test_the_python_client_end_to_end(router, nodes):
    done = subprocess.run(
        [str(PINGU), "watch", "--router", router.url, "--node", "alpha", "--node", "beta",
         "127.0.0.1", "-c", "2", "-i", "0.2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name in ("alpha", "beta"):
        mine = [line for line in lines if line.startswith(f"{name}: ")]
        assert mine[0].startswith(f"{name}: PING 127.0.0.1")
        assert sum("icmp_seq=" in line for line in mine) == 2
        assert any("2 packets transmitted, 2 received" in line for line in mine)
        assert mine[-1].startswith(f"{name}: rtt min/avg/max/mdev")


def test_the_python_client_with_one_node_prints_as_ping_does(router, nodes):
    done = subprocess.run(
        [str(PINGU), "watch", "--router", router.url, "--node", "beta", "127.0.0.1",
         "-c", "2", "-i", "0.2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PING 127.0.0.1 (127.0.0.1)")
    assert [line.split()[4] for line in lines if "icmp_seq=" in line] == [
        "icmp_seq=1",
        "icmp_seq=2",
    ]
    assert "--- 127.0.0.1 ping statistics ---" in lines


def test_the_python_client_exit_status_on_refusal_and_unknown_node(router, nodes):
    done = subprocess.run(
        [str(PINGU), "watch", "--router", router.url, "--node", "alpha", "--", "-f"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "may not start with '-'" in done.stderr
    done = subprocess.run(
        [str(PINGU), "watch", "--router", router.url, "--node", "nosuchnode", "127.0.0.1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no node 'nosuchnode'" in done.stderr


def test_the_python_client_ctrl_c_prints_the_statistics(router, nodes):
    proc = subprocess.Popen(
        [str(PINGU), "watch", "--router", router.url, "--node", "alpha", "127.0.0.1",
         "-i", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        seen = []
        assert proc.stdout is not None
        while sum("icmp_seq=" in line for line in seen) < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            seen.append(line)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "packets transmitted" in out and "rtt min/avg/max/mdev" in out


def test_the_python_client_finds_the_nodes_itself(router, nodes):
    done = subprocess.run(
        [str(PINGU), "watch", "--router", router.url, "127.0.0.1", "-c", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name in ("alpha", "beta"):
        assert f"{name}: PING 127.0.0.1" in done.stdout


def test_no_router(tmp_path):
    port = free_port()
    done = subprocess.run(
        [str(PINGU), "watch", "--router", f"ws://127.0.0.1:{port}/ws", "--node", "a", "::1"],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot connect" in done.stderr


def test_one_process_serves_the_page_and_joins_the_router(router, nodes):
    """``twistd pingu --port ... --router ...``: alpha answers both faces."""
    from websockets.sync.client import connect

    alpha = nodes["alpha"]
    with connect(f"ws://127.0.0.1:{alpha.port}/ws") as ws:
        ws.send("127.0.0.1")
        assert ws.recv(timeout=5).startswith("PING 127.0.0.1")
    url = f"http://127.0.0.1:{alpha.port}/pingu-info.json"
    assert json.loads(urllib.request.urlopen(url, timeout=5).read())["mode"] == "ws"


# -- Crossbar starts a node itself ---------------------------------------------------


@within(30)
async def test_node_started_by_crossbar_itself(router, nodes):
    """The same session class, run as a component inside the router worker."""
    session = await join(router.url)
    deadline = time.monotonic() + 20
    while "inrouter" not in await session.call("pingu.nodes"):
        assert time.monotonic() < deadline, router.log()[-3000:]
        await sleep(0.1)
    viewer = Viewer(session, "inrouter")
    await viewer.start("127.0.0.1", count=2, interval=0.2)
    end = await viewer.ended
    assert end["how"] == "completed"
    assert sum(e["type"] == "reply" for e in viewer.events) == 2
    await session.leave()


# -- latency: nothing holds an event back ------------------------------------------------


@within(30)
async def test_nagle_is_off_on_the_node_and_the_router(router, nodes):
    """Both ends of every connection an event crosses (the viewer's own end is
    the client's business: Autobahn's default, and ``pingu watch``, set it)."""
    session = await join(router.url)
    try:
        node = crossbar.tcp_nodelay(nodes["beta"].proc.pid, router.port)
        routed = crossbar.tcp_nodelay(crossbar.router_worker(router), router.port)
    except OSError as e:
        pytest.skip(f"cannot look at another process's sockets here: {e}")
    assert node == [True]  # beta's one connection, to the router
    assert len(routed) >= 3 and all(routed)  # alpha's, beta's, ours
    await session.leave()


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """The node's /metrics, parsed by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


@within(30)
async def test_the_node_reports_its_router_viewers_refusals_and_events(router, nodes):
    alpha = nodes["alpha"]
    before = scrape(alpha.port)
    assert before[("pingu_wamp_connected", (("node", "alpha"),))] == 1
    session = await join(router.url)
    viewer = Viewer(session, "alpha")
    await viewer.start("127.0.0.1", interval=0.2)
    await until(lambda: len(viewer.events) >= 3, 5, "no reply")
    with pytest.raises(ApplicationError):
        await session.call("pingu.alpha.start", "224.0.0.1")
    after = scrape(alpha.port)
    assert after[("pingu_wamp_viewers", (("node", "alpha"),))] == 1
    refused = ("pingu_refusals_total", (("reason", "forbidden"),))
    assert after[refused] == before.get(refused, 0) + 1
    delivered = ("pingu_events_delivered_total", (("mode", "wamp"),))
    assert after[delivered] >= before.get(delivered, 0) + 2  # published, not only kept
    await session.leave()


# -- the router goes away (last: it restarts the module's router) ----------------------


class ReturningViewer(Viewer):
    """A viewer that comes back after its router restarted: a new session,
    the same topic, and the gap filled from the backlog by ``n``, page by page."""

    async def come_back(self, url: str) -> None:
        self.session = await join(url)
        self._held = []
        topic = f"pingu.{self.node}.run.{self.run}"
        self.subscription = await self.session.subscribe(self._receive, topic)
        while True:
            since = self.events[-1]["n"] if self.events else 0
            page = await self.session.call(f"pingu.{self.node}.backlog", self.run, since=since)
            for event in page:
                self._take(event)
            if len(page) < 1000:  # --max-backlog-page: a short page is the last
                break
        held, self._held = self._held or [], None
        for event in sorted(held, key=lambda e: e["n"]):
            self._take(event)


@within(120)
async def test_a_router_restart_loses_no_event(router, tmp_path):
    """The router is killed and restarted under a live run with two viewers:
    the node keeps the run for --router-grace, rejoins, recounts, and both
    viewers, back as new sessions, end with every n once, in order."""
    # a grace long enough for a router that restarts slowly on a busy machine
    alpha = Node(tmp_path, router.url, "phoenix", args=("--router-grace", "60"))
    try:
        alpha.wait_joined()
        await _restart_under_a_live_run(router, alpha)
    finally:
        alpha.stop()


@within(120)
async def test_pingu_watch_follows_its_run_across_a_router_restart(router, tmp_path):
    """pingu watch reconnects by itself and fills the gap from the backlog:
    every reply printed once, in order, and ping's own status."""
    node = Node(tmp_path, router.url, "lazarus", args=("--router-grace", "60"))
    watcher = None
    try:
        node.wait_joined()
        out = (tmp_path / "watch.out").open("w+")
        watcher = subprocess.Popen(
            [str(PINGU), "watch", "--router", router.url, "--node", "lazarus",
             "127.0.0.1", "-c", "60", "-i", "0.2"],
            stdout=out, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        await until(lambda: "icmp_seq=3 " in (tmp_path / "watch.out").read_text(), 10, "no reply")
        joined = node.joined()
        router.stop(timeout=0)  # SIGKILL
        router.start()
        node.wait_joined(joined + 1, timeout=60)
        await until(lambda: watcher.poll() is not None, 40, "pingu watch did not finish")
        stderr = watcher.stderr.read()
        assert watcher.returncode == 0, stderr
        assert "reconnecting" in stderr and "back on" in stderr
        lines = (tmp_path / "watch.out").read_text().splitlines()
        seqs = [int(line.split("icmp_seq=")[1].split()[0]) for line in lines if "icmp_seq=" in line]
        assert seqs == list(range(1, 61))  # every reply once, in order
        assert any("60 packets transmitted, 60 received" in line for line in lines)
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
        node.stop()


async def _restart_under_a_live_run(router: Router, alpha: Node) -> None:
    viewers = []
    for _ in range(2):
        viewer = ReturningViewer(await join(router.url), "phoenix")
        # 30 s: the ping must outlive the restart (the router's boot, then the
        # node's retry, at most 3 s apart); at 15 s a parallel run of the suite
        # saw it complete while the router was booting (no child to compare).
        await viewer.start("127.0.0.1", count=75, interval=0.4)
        viewers.append(viewer)
    assert viewers[0].run == viewers[1].run
    await until(lambda: len(viewers[0].events) >= 4, 5, "no reply")
    pings = alpha.children()
    joined = alpha.joined()
    router.stop(timeout=0)  # SIGKILL at once: no goodbye to anybody
    router.start()
    alpha.wait_joined(joined + 1, timeout=60)
    assert alpha.children() == pings  # the same ping went on
    for viewer in viewers:
        await viewer.come_back(router.url)
    for viewer in viewers:
        end = await viewer.ended
        assert end["how"] == "completed"
        assert [e["n"] for e in viewer.events] == list(range(1, end["n"] + 1))
        replies = [e for e in viewer.events if e["type"] == "reply"]
        assert [e["seq"] for e in replies] == list(range(1, 76))  # every reply, once
    for viewer in viewers:
        await viewer.session.leave()


@within(60)
async def test_nodes_rejoin_after_a_router_restart(router, nodes):
    alpha, beta = nodes["alpha"], nodes["beta"]
    session = await join(router.url)
    viewer = Viewer(session, "alpha")
    await viewer.start("127.0.0.1", interval=0.2)
    await until(lambda: alpha.children(), 5, "no ping")
    joined = {node: node.joined() for node in (alpha, beta)}
    router.restart()
    for node in (alpha, beta):
        node.wait_joined(joined[node] + 1)  # by themselves, with back-off
    # the run went on meanwhile (--router-grace); its viewer never comes back,
    # so once the node has recounted and waited REJOIN_GRACE for it, ping ends
    await until(lambda: not alpha.children(), REJOIN_GRACE + 3, "ping outlived its viewers")
    session = await join(router.url)
    assert {"alpha", "beta", "inrouter"} <= set(await session.call("pingu.nodes"))
    viewers = [Viewer(session, name) for name in ("alpha", "beta")]
    for viewer in viewers:
        await viewer.start("127.0.0.1", count=1)
    for viewer in viewers:
        assert (await viewer.ended)["how"] == "completed"
    await session.leave()
    # alpha served its page all along (--port with --router)
    url = f"http://127.0.0.1:{alpha.port}/pingu-info.json"
    assert json.loads(urllib.request.urlopen(url, timeout=5).read())["mode"] == "ws"
