"""The WAMP face against a real Crossbar.io router and real ``twistd pingu`` nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytest_twisted
from autobahn.twisted.component import Component
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer, reactor, task

from tests import crossbar
from tests.crossbar import CrossbarRouter
from tests.server import TWISTD, PinguServer, children_of

pytestmark = [
    pytest.mark.wamp,
    pytest.mark.skipif(not crossbar.available(), reason="Crossbar venv missing: .ci/crossbar-venv"),
]

SECRET = "test-secret-" + os.urandom(6).hex()


class Node:
    """A ``twistd pingu --router ... --no-web`` process."""

    def __init__(self, workdir: Path, router: str, name: str, secret: str = SECRET) -> None:
        self.name = name
        self.log_path = workdir / f"node-{name}.log"
        self.proc = subprocess.Popen(
            [str(TWISTD), "-n", "--pidfile=", "--logfile", str(self.log_path), "pingu",
             "--router", router, "--node", name, "--no-web"],
            cwd=workdir, env={**os.environ, "PINGU_WAMP_SECRET": secret},
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_joined(self, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(f"node {self.name} joined") < count:
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.05)

    def children(self) -> list[int]:
        return children_of(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    with CrossbarRouter(tmp_path_factory.mktemp("router"), SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def nodes(router, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nodes")
    started = [Node(workdir, router.url, "alpha"), Node(workdir, router.url, "beta")]
    for node in started:
        node.wait_joined()
    yield {node.name: node for node in started}
    for node in started:
        node.stop()


def join(url: str, authid: str | None = None, ticket: str | None = None) -> defer.Deferred:
    """A joined WAMP session (a viewer, unless a ticket is given)."""
    joined: defer.Deferred = defer.Deferred()
    auth = {"ticket": {"authid": authid, "ticket": ticket}} if ticket is not None else None
    component = Component(
        transports=[{"type": "websocket", "url": url, "max_retries": 0}],
        realm="pingu",
        authentication=auth,
    )

    @component.on_join
    def on_join(session, details):
        if not joined.called:
            joined.callback(session)

    def failed(reason):
        if not joined.called:
            joined.errback(reason)

    component.start(reactor).addErrback(failed)
    return joined


class Viewer:
    """Follows one run: subscribe, then backlog, merged by event number."""

    def __init__(self, session, node: str) -> None:
        self.session = session
        self.node = node
        self.events: list[dict] = []
        self.ended: defer.Deferred = defer.Deferred()
        self.subscription = None
        self.run = None
        self._held: list[dict] | None = []  # live events while the backlog is fetched

    def _receive(self, event: dict) -> None:
        if self._held is not None:
            self._held.append(event)
        else:
            self._take(event)

    def _take(self, event: dict) -> None:
        if self.events and event["n"] <= self.events[-1]["n"]:
            return
        self.events.append(event)
        if event["type"] == "end" and not self.ended.called:
            self.ended.callback(event)

    @defer.inlineCallbacks
    def start(self, target: str, **options):
        reply = yield self.session.call(f"pingu.{self.node}.start", target, **options)
        self.run = reply["run"]
        self.subscription = yield self.session.subscribe(self._receive, reply["topic"])
        try:
            backlog = yield self.session.call(f"pingu.{self.node}.backlog", reply["run"])
        except ApplicationError:  # ended already: what start returned is all
            backlog = reply["backlog"]
        held, self._held = self._held or [], None
        for event in [*backlog, *held]:
            self._take(event)
        return reply


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


@pytest_twisted.inlineCallbacks
def test_start_events_end(router, nodes):
    session = yield join(router.url)
    viewer = Viewer(session, "alpha")
    reply = yield viewer.start("127.0.0.1", count=3, interval=0.2)
    assert reply["topic"] == f"pingu.alpha.run.{reply['run']}"
    end = yield viewer.ended
    types = [e["type"] for e in viewer.events]
    assert types[0] == "start" and types.count("reply") == 3 and types.count("summary") == 1
    assert [e["n"] for e in viewer.events] == list(range(1, len(viewer.events) + 1))
    assert [e["seq"] for e in viewer.events if e["type"] == "reply"] == [1, 2, 3]
    summary = next(e for e in viewer.events if e["type"] == "summary")
    assert (summary["transmitted"], summary["received"]) == (3, 3)
    assert end["how"] == "completed" and end["exit_code"] == 0
    yield session.leave()


@pytest_twisted.inlineCallbacks
def test_viewers_share_one_process_and_the_last_one_leaving_ends_it(router, nodes):
    alpha = nodes["alpha"]
    first, second = (yield join(router.url)), (yield join(router.url))
    one, two = Viewer(first, "alpha"), Viewer(second, "alpha")
    a = yield one.start("127.0.0.1", interval=0.2)
    b = yield two.start("127.0.0.1", interval=0.2)
    assert a["run"] == b["run"]
    yield sleep(0.6)
    assert len(alpha.children()) == 1  # one ping for two viewers
    runs = yield first.call("pingu.alpha.runs")
    assert [(r["run"], r["viewers"]) for r in runs] == [(a["run"], 2)]
    yield first.leave()  # counted through wamp.session.on_leave
    yield sleep(0.5)
    assert len(alpha.children()) == 1
    yield two.subscription.unsubscribe()  # the last viewer: ping ends at once
    gone_at = time.monotonic()
    while alpha.children() and time.monotonic() - gone_at < 1.0:
        yield sleep(0.02)
    assert alpha.children() == []
    assert (yield second.call("pingu.alpha.runs")) == []
    yield second.leave()


@pytest_twisted.inlineCallbacks
def test_late_joiner_gets_the_backlog_then_live_without_gap(router, nodes):
    early_session, late_session = (yield join(router.url)), (yield join(router.url))
    early = Viewer(early_session, "beta")
    yield early.start("127.0.0.1", count=8, interval=0.2)
    yield sleep(0.7)
    late = Viewer(late_session, "beta")
    reply = yield late.start("127.0.0.1", count=8, interval=0.2)
    assert len([e for e in reply["backlog"] if e["type"] == "reply"]) >= 2
    yield early.ended
    yield late.ended
    assert [e["n"] for e in late.events] == [e["n"] for e in early.events]
    assert late.events == early.events
    yield early_session.leave()
    yield late_session.leave()


@pytest_twisted.inlineCallbacks
def test_nodes_are_found_and_answer_side_by_side(router, nodes):
    session = yield join(router.url)
    names = yield session.call("pingu.nodes")
    assert {"alpha", "beta"} <= set(names)
    viewers = [Viewer(session, name) for name in ("alpha", "beta")]
    for viewer in viewers:
        yield viewer.start("127.0.0.1", count=2, interval=0.2, family=4)
    ends = yield defer.gatherResults([v.ended for v in viewers])
    assert [e["how"] for e in ends] == ["completed", "completed"]
    yield session.leave()


@pytest.mark.parametrize(
    ("target", "options", "uri"),
    [
        ("-f", {}, "pingu.error.invalid_request"),
        ("127.0.0.1 -f", {}, "pingu.error.invalid_request"),
        ("224.0.0.1", {}, "pingu.error.forbidden"),
        ("127.0.0.1", {"count": 0}, "pingu.error.invalid_request"),
        ("127.0.0.1", {"flood": True}, "pingu.error.invalid_request"),
        ("nowhere.invalid", {}, "pingu.error.unresolved"),
    ],
)
@pytest_twisted.inlineCallbacks
def test_refusals_are_wamp_errors_and_spawn_nothing(router, nodes, target, options, uri):
    session = yield join(router.url)
    with pytest.raises(ApplicationError) as error:
        yield session.call("pingu.alpha.start", target, **options)
    assert error.value.error == uri and error.value.args[0]
    assert nodes["alpha"].children() == []
    yield session.leave()


@pytest_twisted.inlineCallbacks
def test_a_viewer_cannot_publish_or_register(router, nodes):
    session = yield join(router.url)
    with pytest.raises(ApplicationError) as error:
        yield session.publish("pingu.alpha.run.1", {"type": "reply"}, options=_acknowledged())
    assert error.value.error == "wamp.error.not_authorized"
    with pytest.raises(ApplicationError) as error:
        yield session.register(lambda *a: None, "pingu.evil.start")
    assert error.value.error == "wamp.error.not_authorized"
    assert "evil" not in (yield session.call("pingu.nodes"))
    yield session.leave()


def _acknowledged():
    from autobahn.wamp.types import PublishOptions

    return PublishOptions(acknowledge=True)


@pytest_twisted.inlineCallbacks
def test_a_node_without_the_secret_is_refused(router, nodes, tmp_path):
    intruder = Node(tmp_path, router.url, "intruder", secret="wrong-" + SECRET)
    try:
        deadline = time.monotonic() + 15
        while "ticket in static WAMP-Ticket authentication is invalid" not in intruder.log():
            assert time.monotonic() < deadline, intruder.log()
            yield sleep(0.1)
        session = yield join(router.url)
        assert "intruder" not in (yield session.call("pingu.nodes"))
        yield session.leave()
    finally:
        intruder.stop()
    # and a client claiming the node's identity without the secret gets nowhere
    with pytest.raises(Exception):  # noqa: B017 - Autobahn wraps the refusal
        yield join(router.url, authid="pingu-node", ticket="wrong")


def test_the_python_client_end_to_end(router, nodes):
    pingu = Path(sys.executable).parent / "pingu"
    done = subprocess.run(
        [str(pingu), "watch", "--router", router.url, "--node", "alpha", "--node", "beta",
         "127.0.0.1", "-c", "2", "-i", "0.2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name in ("alpha", "beta"):
        mine = [line for line in lines if line.startswith(f"{name}: ")]
        assert mine[0].startswith(f"{name}: PING 127.0.0.1")
        assert sum("icmp_seq=" in line for line in mine) == 2
        assert mine[-1].startswith(f"{name}: rtt min/avg/max/mdev")


def test_python_client_exit_status_on_refusal(router, nodes):
    pingu = Path(sys.executable).parent / "pingu"
    done = subprocess.run(
        [str(pingu), "watch", "--router", router.url, "--node", "alpha", "--", "-f"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "the target may not start with '-'" in done.stderr


@pytest_twisted.inlineCallbacks
def test_node_rejoins_after_a_router_restart(tmp_path):
    router = CrossbarRouter(tmp_path, SECRET).start()
    node = Node(tmp_path, router.url, "gamma")
    try:
        node.wait_joined(1)
        router.restart()
        node.wait_joined(2)  # by itself, with back-off
        session = yield join(router.url)
        viewer = Viewer(session, "gamma")
        yield viewer.start("127.0.0.1", count=1)
        end = yield viewer.ended
        assert end["how"] == "completed"
        yield session.leave()
    finally:
        node.stop()
        router.stop()


@pytest_twisted.inlineCallbacks
def test_node_started_by_crossbar_itself(tmp_path):
    """The same session class, run as a component inside the router worker."""
    router = CrossbarRouter(tmp_path, SECRET)
    config = (router.cbdir / "config.json").read_text()
    import json

    parsed = json.loads(config)
    parsed["workers"][0]["components"] = [
        {
            "type": "class",
            "classname": "pingu.wamp.PinguNode",
            "realm": "pingu",
            "role": "node",
            "extra": {"node": "inrouter"},
        }
    ]
    (router.cbdir / "config.json").write_text(json.dumps(parsed))
    router.start()
    try:
        session = yield join(router.url)
        deadline = time.monotonic() + 20
        while "inrouter" not in (yield session.call("pingu.nodes")):
            assert time.monotonic() < deadline
            yield sleep(0.2)
        viewer = Viewer(session, "inrouter")
        yield viewer.start("127.0.0.1", count=2, interval=0.2)
        end = yield viewer.ended
        assert end["how"] == "completed"
        assert sum(e["type"] == "reply" for e in viewer.events) == 2
        yield session.leave()
    finally:
        router.stop()


@pytest_twisted.inlineCallbacks
def test_stop_drops_the_callers_interest(router, nodes):
    session = yield join(router.url)
    viewer = Viewer(session, "alpha")
    reply = yield viewer.start("127.0.0.1", interval=0.2)
    yield sleep(0.5)
    assert len(nodes["alpha"].children()) == 1
    yield session.call("pingu.alpha.stop", reply["run"])
    end = yield viewer.ended  # the only viewer said stop: the run ends
    assert end["type"] == "end"
    assert nodes["alpha"].children() == []
    yield session.leave()


def test_one_process_serves_the_page_and_joins_the_router(router, tmp_path):
    from websockets.sync.client import connect

    server = PinguServer(
        tmp_path, args=("--router", router.url, "--node", "both"),
        env={"PINGU_WAMP_SECRET": SECRET},
    ).start()  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while "node both joined" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        with connect(server.ws_url) as ws:
            ws.send("127.0.0.1")
            assert ws.recv(timeout=5).startswith("PING 127.0.0.1")
    finally:
        server.stop()
