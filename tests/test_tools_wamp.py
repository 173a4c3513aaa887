"""traceroute and mtr through the WAMP node, in memory: ``start(target,
tool=...)``, runs shared per tool, refusals as WAMP errors, events on the
run's topic.  No router (the node's publications are kept by the test), a
fake clock, and a FAKE process whose lines are what the real tools printed
(the real ones on real hops: tests/test_paths_e2e.py)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Optional

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from pingu import wamp
from pingu.limits import Limits
from pingu.request import ResolvedRequest
from pingu.runs import RunHub
from pingu.wamp.state import NodeState
from tests.harness.memory import FakeSpawner, fake_resolver

EXECUTABLES = {"traceroute": "/usr/sbin/traceroute", "mtr": "/usr/bin/mtr"}


class MemoryNode(wamp.PinguNode):
    """A node whose router is this test: publications are kept."""

    def __init__(self, hub: RunHub) -> None:
        super().__init__(ComponentConfig("pingu", {"state": NodeState(hub, "mem"), "secret": "s"}))
        self.published: list[tuple[str, dict]] = []

    def is_attached(self) -> bool:
        return True

    def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.published.append((topic, args[0]))

    def call(self, procedure: str, *args: Any, **kwargs: Any) -> defer.Deferred:
        assert procedure == "wamp.session.get"
        session = args[0]
        return defer.succeed({
            "session": session, "authid": f"anon-{session}", "authmethod": "anonymous",
            "transport": {"peer": f"tcp4:127.0.0.1:{40000 + session}"},
        })  # fmt: skip


def make_node(executables: dict[str, str] = EXECUTABLES) -> Any:
    clock = MemoryReactorClock()
    spawner = FakeSpawner()
    hub = RunHub(
        clock, "/usr/bin/ping", Limits(), resolver=fake_resolver({}), spawner=spawner,
        executables=dict(executables),
    )  # fmt: skip
    return SimpleNamespace(session=MemoryNode(hub), hub=hub, clock=clock, spawner=spawner)


def start(node: Any, session_id: int, *args: Any, **options: Any) -> dict:
    result: list[Any] = []
    details = SimpleNamespace(caller=session_id)
    node.session.start(*args, details=details, **options).addBoth(result.append)
    if hasattr(result[0], "value"):
        raise result[0].value
    return result[0]


def test_start_with_tool_mtr_runs_mtr_and_says_so() -> None:
    node = make_node()
    reply = start(node, 1, "10.213.2.2", tool="mtr", count=2, interval=1)
    (first,) = reply["backlog"]
    assert first["type"] == "start" and first["tool"] == "mtr"
    assert first["options"] == {
        "count": 2, "interval": 1.0, "max_hops": None, "size": None, "family": None,
    }  # fmt: skip
    argv = node.spawner.argvs[0]
    assert argv[:2] == ["/usr/bin/mtr", "--raw"] and argv[-2:] == ["--", "10.213.2.2"]
    node.spawner.last.say("x 0 33000", "h 0 10.213.2.2", "h 0 10.213.2.2", "p 0 94 33000")
    published = [(topic, e["type"]) for topic, e in node.session.published]
    assert published == [(reply["topic"], "hop"), (reply["topic"], "hop_stats")]
    stats = node.session.published[-1][1]
    assert (stats["hop"], stats["address"], stats["last_ms"], stats["n"]) == (
        1, "10.213.2.2", 0.094, 3,
    )  # fmt: skip
    node.spawner.last.exit(0)
    end = node.session.published[-1][1]
    assert (end["type"], end["how"], end["message"]) == ("end", "completed", "mtr completed")


def test_shared_runs_key_on_the_tool() -> None:
    node = make_node()
    mtr = start(node, 1, "10.213.2.2", tool="mtr", count=2)
    again = start(node, 2, "10.213.2.2", tool="mtr", count=2)
    trace = start(node, 3, "10.213.2.2", tool="traceroute")
    ping = start(node, 4, "10.213.2.2", count=2)
    assert again["run"] == mtr["run"]
    assert len({mtr["run"], trace["run"], ping["run"]}) == 3
    assert [argv[0] for argv in node.spawner.argvs] == [
        "/usr/bin/mtr", "/usr/sbin/traceroute", "/usr/bin/ping",
    ]  # fmt: skip


@dataclass(frozen=True)
class AnyOptions:
    """Options every tool can build an argv from (what no request makes)."""

    count: Optional[int] = 2
    interval: Optional[float] = None
    size: Optional[int] = None
    family: Optional[int] = None
    deadline: Optional[int] = None
    max_hops: Optional[int] = None
    queries: Optional[int] = None
    wait: Optional[float] = None

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count}


def test_the_key_itself_holds_the_tool() -> None:
    """Even with the very same options object, two tools are two runs."""
    options = AnyOptions()
    as_mtr = ResolvedRequest("10.0.0.1", "10.0.0.1", 4, options, "mtr")
    as_other = ResolvedRequest("10.0.0.1", "10.0.0.1", 4, options, "traceroute")
    assert as_mtr.key() != as_other.key() and as_mtr.key()[0] == "mtr"
    hub = RunHub(MemoryReactorClock(), "/usr/bin/ping", Limits(), spawner=FakeSpawner(),
                 executables=dict(EXECUTABLES))  # fmt: skip
    assert hub.start(as_mtr, shared=True) is not hub.start(as_other, shared=True)
    assert hub.start(as_mtr, shared=True) is hub.find_shared(as_mtr)


@pytest.mark.parametrize(
    "options, field, reason",
    [
        ({"tool": "mtr", "count": 0}, "count", "out-of-range"),
        ({"tool": "mtr", "max_hops": 31}, "max_hops", "out-of-range"),
        ({"tool": "traceroute", "queries": 11}, "queries", "out-of-range"),
        ({"tool": "traceroute", "count": 3}, "count", "unknown-field"),
        ({"tool": "nmap"}, "tool", "unknown-tool"),
    ],
)
def test_refusals_are_wamp_errors_on_the_field(options: dict, field: str, reason: str) -> None:
    node = make_node()
    with pytest.raises(ApplicationError) as caught:
        start(node, 1, "10.213.2.2", **options)
    assert caught.value.error == "pingu.error.invalid_request"
    assert (caught.value.kwargs["field"], caught.value.kwargs["reason"]) == (field, reason)
    assert node.spawner.argvs == []


def test_a_tool_this_node_lacks_is_refused_clearly() -> None:
    node = make_node({"traceroute": "/usr/sbin/traceroute"})
    with pytest.raises(ApplicationError) as caught:
        start(node, 1, "10.213.2.2", tool="mtr")
    assert caught.value.args[0] == "mtr is not installed on this server"
    assert caught.value.kwargs["field"] == "tool"
    assert start(node, 1, "10.213.2.2", tool="traceroute")["run"]
