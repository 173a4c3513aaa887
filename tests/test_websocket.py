"""The WebSocket face in memory: both subprotocols, every ending, every refusal.

A FAKE process stands in for ping (tests/harness/memory.py), so each test can say
exactly what ping printed and how it ended, and check the exact argv that
would have reached ping.
"""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from pingu.events import CloseCode
from pingu.limits import Limits
from tests.harness.memory import Harness

REPLY = "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms"
HEADER = "PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data."


def argv_for(target: str, *options: str, family: str = "-4") -> list[str]:
    count = [] if "-c" in options else ["-c", "10000"]
    return ["/usr/bin/ping", "-n", "-O", family, *count, *options, "--", target]


# -- text mode --------------------------------------------------------------------


@pytest.mark.parametrize("protocols", [None, ["pingu"]])
def test_text_mode_streams_lines_and_closes_1000(protocols) -> None:
    h = Harness()
    client = h.connect(protocols)
    assert client.opened
    h.send(client, "127.0.0.1")
    assert h.spawner.argvs == [argv_for("127.0.0.1")]
    assert h.spawner.started[0][1] == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    child = h.spawner.last
    child.say(HEADER)
    h.flush()
    assert client.messages == [HEADER]  # sent the moment ping printed it
    child.say(REPLY)
    h.flush()
    assert client.messages == [HEADER, REPLY]
    child.exit(0)
    h.flush()
    assert client.closed == (1000, "ping completed (exit 0)")


@pytest.mark.parametrize(
    ("exit_code", "code", "reason"),
    [
        (1, 4000, "ping got no reply (exit 1)"),
        (2, 4001, "ping reported an error (exit 2)"),
        (3, 4001, "ping reported an error (exit 3)"),
    ],
)
def test_text_mode_close_code_tells_how_ping_ended(exit_code, code, reason) -> None:
    h = Harness()
    client = h.connect()
    h.send(client, "127.0.0.1")
    h.spawner.last.exit(exit_code)
    h.flush()
    assert client.closed == (code, reason)


def test_killed_by_a_signal() -> None:
    h = Harness()
    client = h.connect()
    h.send(client, "127.0.0.1")
    h.spawner.last.die(11)
    h.flush()
    assert client.closed == (4002, "ping was ended by a signal (signal 11)")


def test_text_stop_sends_sigint_and_the_summary_arrives_first() -> None:
    h = Harness()
    client = h.connect()
    h.send(client, "127.0.0.1")
    h.spawner.last.say(HEADER, REPLY)
    h.send(client, "stop")
    assert h.spawner.last.signals == ["INT"]
    assert client.messages[-2:] == [
        "1 packets transmitted, 1 received, 0% packet loss, time 0ms",
        "rtt min/avg/max/mdev = 0.050/0.050/0.050/0.000 ms",
    ]
    assert client.closed == (1000, "ping completed (exit 0)")


def test_closing_the_socket_ends_ping_at_once() -> None:
    h = Harness()
    client = h.connect()
    h.send(client, "127.0.0.1")
    child = h.spawner.last
    child.ignore = {"TERM"}  # a stubborn ping: TERM, then KILL after the grace period
    client.sendClose(1000)
    h.flush()
    assert child.signals == ["TERM"]
    h.advance(Limits().grace)
    assert child.signals == ["TERM", "KILL"]
    assert h.hub.runs == {}


@pytest.mark.parametrize("how", ["close", "drop"])
def test_autobahns_count_of_connections_follows_them(how: str) -> None:
    # PinguServerProtocol does Autobahn's server set-up and tear-down itself
    # (without their debug lines): the factory's count still goes up and down.
    h = Harness()
    client = h.connect()
    assert h.factory.countConnections == 1
    h.send(client, "127.0.0.1")
    if how == "close":
        client.sendClose(1000)
    else:
        client.transport.loseConnection()
    h.flush()
    assert h.factory.countConnections == 0 and h.hub.runs == {}


def test_dropped_tcp_ends_ping() -> None:
    h = Harness()
    client = h.connect()
    h.send(client, "127.0.0.1")
    child = h.spawner.last
    client.transport.loseConnection()
    h.flush()
    assert child.signals == ["TERM"]
    assert h.hub.runs == {}


# -- structured mode --------------------------------------------------------------


def test_json_mode_events() -> None:
    h = Harness()
    client = h.connect(["pingu.json"])
    h.send(client, json.dumps({"target": "localhost", "count": 1, "interval": 0.5, "family": 6}))
    assert h.resolver.lookups == [("localhost", 6)]
    assert h.spawner.argvs == [argv_for("::1", "-c", "1", "-i", "0.5", family="-6")]
    child = h.spawner.last
    child.say(
        "PING ::1(::1) 56 data bytes",
        "64 bytes from ::1: icmp_seq=1 ttl=64 time=0.110 ms",
        "",
        "--- ::1 ping statistics ---",
        "1 packets transmitted, 1 received, 0% packet loss, time 0ms",
        "rtt min/avg/max/mdev = 0.110/0.110/0.110/0.000 ms",
    )
    child.exit(0)
    h.flush()
    events = client.events
    assert [e["type"] for e in events] == [
        "start", "line", "reply", "line", "line", "summary", "end",
    ]  # fmt: skip
    start, reply, summary, end = events[0], events[2], events[5], events[6]
    assert start == {
        "type": "start", "raw": None, "tool": "ping", "target": "localhost", "address": "::1",
        "family": 6,
        "options": {"count": 1, "interval": 0.5, "size": None, "family": 6, "deadline": None},
        "t": start["t"], "n": 1,
    }  # fmt: skip
    assert [e["n"] for e in events] == list(range(1, 8))
    assert reply["seq"] == 1 and reply["ttl"] == 64 and reply["rtt_ms"] == 0.110
    assert reply["from"] == "::1" and reply["raw"].startswith("64 bytes")
    assert summary["transmitted"] == 1 and summary["received"] == 1
    assert summary["loss_pct"] == 0 and summary["mdev_ms"] == 0.0
    assert end["how"] == "completed" and end["exit_code"] == 0 and end["code"] == 1000
    assert all(isinstance(e["t"], float) for e in events)
    assert client.closed == (1000, "ping completed (exit 0)")


def test_json_timeout_event() -> None:
    h = Harness()
    client = h.connect(["pingu.json"])
    h.send(client, '{"target": "127.0.0.1"}')
    h.spawner.last.say("no answer yet for icmp_seq=2")
    h.flush()
    assert client.events[-1]["type"] == "timeout" and client.events[-1]["seq"] == 2


def test_json_stop() -> None:
    h = Harness()
    client = h.connect(["pingu.json"])
    h.send(client, '{"target": "127.0.0.1"}')
    h.send(client, '{"stop": true}')
    assert h.spawner.last.signals == ["INT"]
    assert client.events[-1]["type"] == "end"
    assert [e["type"] for e in client.events].count("summary") == 1


def test_json_second_request_while_running_is_answered_not_fatal() -> None:
    h = Harness()
    client = h.connect(["pingu.json"])
    h.send(client, '{"target": "127.0.0.1"}')
    h.send(client, '{"target": "127.0.0.2"}')
    assert client.events[-1]["type"] == "error"
    assert client.events[-1]["code"] == CloseCode.UNEXPECTED
    assert client.closed is None
    assert len(h.spawner.started) == 1


# -- refusals ---------------------------------------------------------------------

BAD_TEXT = [
    ("", 4400), ("-f", 4400), ("--help", 4400), ("-s 65000 127.0.0.1", 4400),
    ("-I lo 127.0.0.1", 4400), ("127.0.0.1 -f", 4400), ("; id", 4400), ("| id", 4400),
    ("$(id)", 4400), ("`id`", 4400), ("127.0.0.1\nid", 4400), ("127.0.0.1\x00", 4400),
    ("127.0.0.1 127.0.0.2", 4400), ("a" * 300, 4400), ("fe80::1%eth0", 4403),
    ("255.255.255.255", 4403), ("224.0.0.1", 4403), ("127.1", 4400),
    ("0x7f.0.0.1", 4400), ("2130706433", 4400), ("nowhere.invalid", 4404),
    ("x" * 2000, 4413),
]  # fmt: skip


@pytest.mark.parametrize(("text", "code"), BAD_TEXT)
def test_text_refusals_spawn_nothing(text: str, code: int) -> None:
    h = Harness()
    client = h.connect()
    h.send(client, text)
    assert client.closed is not None and client.closed[0] == code
    assert client.closed[1]  # a reason for people
    assert h.spawner.started == []


BAD_JSON = [
    ("{", "invalid-json"),
    ('{"target": "127.0.0.1", "flood": true}', "unknown-field"),
    ('{"target": 127}', "wrong-type"),
    ('{"target": "127.0.0.1", "count": "5"}', "wrong-type"),
    ('{"target": "127.0.0.1", "count": 0}', "out-of-range"),
    ('{"target": "127.0.0.1", "interval": 0.001}', "out-of-range"),
    ('{"target": "127.0.0.1", "size": 65000}', "out-of-range"),
    ('{"target": "127.0.0.1", "deadline": -1}', "out-of-range"),
    ('["127.0.0.1"]', "wrong-type"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_JSON)
def test_json_refusals_send_an_error_then_close(text: str, reason: str) -> None:
    h = Harness()
    client = h.connect(["pingu.json"])
    h.send(client, text)
    (error,) = client.events
    assert error["type"] == "error" and error["reason"] == reason and error["code"] == 4400
    assert error["message"]
    assert client.closed == (4400, error["message"])
    assert h.spawner.started == []


@pytest.mark.parametrize("protocols", [None, ["pingu.json"]])
def test_binary_frames_are_refused(protocols) -> None:
    h = Harness()
    client = h.connect(protocols)
    client.sendMessage(b"127.0.0.1", isBinary=True)
    h.flush()
    assert client.closed[0] == 4415
    assert h.spawner.started == []


def test_unknown_subprotocol_is_refused_at_handshake() -> None:
    h = Harness()
    client = h.connect(["chat"])
    assert not client.opened


@pytest.mark.parametrize(
    ("origin", "allowed", "opened"),
    [
        ("http://127.0.0.1:8080", (), True),  # same origin
        ("http://evil.example", (), False),
        ("null", (), False),
        ("http://evil.example", ("http://evil.example",), True),
        ("null", ("null",), True),
    ],
)
def test_origin(origin, allowed, opened) -> None:
    h = Harness(allowed_origins=allowed)
    client = h.connect(origin=origin)
    assert client.opened is opened


def test_no_origin_header_is_a_non_browser_client() -> None:
    assert Harness().connect().opened


def test_idle_client_is_closed() -> None:
    h = Harness()
    client = h.connect()
    h.advance(Limits().idle_timeout + 0.1)
    assert client.closed[0] == 4408


def test_spawn_failure_is_reported() -> None:
    h = Harness()
    h.spawner.fail_with = FileNotFoundError("/usr/bin/ping: no such file")
    client = h.connect(["pingu.json"])
    h.send(client, '{"target": "127.0.0.1"}')
    assert client.events[-1]["how"] == "spawn-failed"
    assert client.closed[0] == 4500
    assert h.hub.runs == {}


# -- ceilings and limits -------------------------------------------------------------


def test_max_duration_ends_the_run_with_its_code() -> None:
    h = Harness(limits=Limits(max_duration=60))
    client = h.connect(["pingu.json"])
    h.send(client, '{"target": "127.0.0.1"}')
    h.advance(59)
    assert h.spawner.last.signals == []
    h.advance(1)
    assert h.spawner.last.signals == ["INT"]
    assert client.events[-1]["how"] == "ceiling"
    assert client.closed[0] == 4003


def test_max_count_ceiling() -> None:
    h = Harness(limits=Limits(max_count=3))
    client = h.connect(["pingu.json"])
    h.send(client, '{"target": "127.0.0.1"}')
    assert h.spawner.argvs[0][4:6] == ["-c", "3"]
    h.spawner.last.say("3 packets transmitted, 3 received, 0% packet loss, time 2ms")
    h.spawner.last.exit(0)
    h.flush()
    assert client.events[-1]["how"] == "ceiling"
    assert client.closed[0] == 4003


def test_runs_per_client() -> None:
    h = Harness(limits=Limits(max_runs_per_client=2))
    clients = [h.connect() for _ in range(3)]
    for client in clients:
        h.send(client, "127.0.0.1")
    assert len(h.spawner.started) == 2
    assert clients[2].closed[0] == 4429
    other = h.connect(client_ip="127.0.0.9")
    h.send(other, "127.0.0.1")
    assert len(h.spawner.started) == 3


def test_starts_per_second() -> None:
    h = Harness(limits=Limits(max_starts_per_second=2, max_runs_per_client=100))
    clients = [h.connect() for _ in range(3)]
    for client in clients:
        h.send(client, "127.0.0.1")
    assert [c.closed and c.closed[0] for c in clients] == [None, None, 4429]
    h.advance(1)
    late = h.connect()
    h.send(late, "127.0.0.1")
    assert late.closed is None


def test_connections_per_client_refused_at_handshake() -> None:
    h = Harness(limits=Limits(max_connections_per_client=2))
    assert [h.connect().opened for _ in range(3)] == [True, True, False]


# -- shutdown ---------------------------------------------------------------------


def test_shutdown_ends_runs_and_closes_with_going_away() -> None:
    h = Harness()
    running = h.connect(["pingu.json"])
    h.send(running, '{"target": "127.0.0.1"}')
    waiting = h.connect()
    done = []
    h.hub.shutdown().addCallback(done.append)
    h.factory.shutdown()
    h.flush()
    assert h.spawner.last.signals == ["TERM"]
    assert running.events[-1]["how"] == "shutdown"
    assert running.closed == (1001, "server shutting down")
    assert waiting.closed == (1001, "server shutting down")
    assert done == [None]
    late = h.connect()
    assert not late.opened


# -- the same face through Autobahn's own testing agent ------------------------------


@pytest_twisted.inlineCallbacks
def test_through_autobahn_memory_agent():
    """Autobahn's ``create_memory_agent`` drives the real server protocol."""
    from autobahn.twisted.testing import (
        MemoryReactorClockResolver,
        create_memory_agent,
        create_pumper,
    )
    from autobahn.twisted.websocket import WebSocketClientProtocol
    from twisted.internet import defer

    h = Harness()
    pumper = create_pumper()
    agent = create_memory_agent(
        MemoryReactorClockResolver(), pumper, lambda: h.factory.buildProtocol(None)
    )
    received: list[str] = []
    closed: defer.Deferred = defer.Deferred()

    class Viewer(WebSocketClientProtocol):
        def onMessage(self, payload, isBinary):
            received.append(payload.decode())

        def onClose(self, wasClean, code, reason):
            closed.callback((code, reason))

    pumper.start()
    try:
        proto = yield agent.open("ws://127.0.0.1:8080/ws", {}, Viewer)
        proto.sendMessage(b"127.0.0.1")
        yield task.deferLater(reactor, 0.3, lambda: None)
        assert h.spawner.argvs == [argv_for("127.0.0.1")]
        h.spawner.last.say(HEADER, REPLY)
        h.spawner.last.exit(0)
        assert (yield closed) == (1000, "ping completed (exit 0)")
        assert received == [HEADER, REPLY]
    finally:
        yield pumper.stop()


@pytest.mark.parametrize("size", [0, 125, 126, 4000])
def test_text_frames_of_every_length_class_arrive_whole(size) -> None:
    h = Harness()
    client = h.connect()
    h.send(client, "127.0.0.1")
    line = "x" * size
    h.spawner.last.say(line)
    h.flush()
    assert client.messages == [line]


def test_json_event_longer_than_65535_bytes_arrives_whole() -> None:
    h = Harness(limits=Limits(max_line=70000))
    client = h.connect(["pingu.json"])
    h.send(client, json.dumps({"target": "127.0.0.1"}))
    h.spawner.last.say("y" * 66000)
    h.flush()
    events = [json.loads(m) for m in client.messages]
    assert events[-1]["raw"] == "y" * 66000


def test_output_after_the_client_closed_is_dropped_quietly() -> None:
    """The client's close frame has arrived (the connection is closing), the
    socket is not gone yet, and ping prints a line: nothing to send, no error."""
    h = Harness()
    client = h.connect()
    h.send(client, "127.0.0.1")
    child = h.spawner.last
    client.sendClose(1000)
    client.pump.pump()  # the close frame reaches the server, nothing more
    assert client.server.state != client.server.STATE_OPEN
    child.say(REPLY)  # must not raise autobahn.exception.Disconnected
    h.flush()
    assert client.closed is not None and REPLY not in client.messages


def test_a_connection_holds_no_copy_of_the_servers_options(monkeypatch) -> None:
    """Autobahn's ~50 options are the server's, read through the class, not
    copied onto each connection, nor listed for its debug dump."""
    from autobahn.twisted.websocket import WebSocketServerProtocol
    from autobahn.websocket import protocol as autobahn_protocol

    formatted: list[object] = []
    original = autobahn_protocol.pformat
    monkeypatch.setattr(
        autobahn_protocol, "pformat", lambda value: formatted.append(value) or original(value)
    )
    h = Harness()
    client = h.connect(["pingu.json"])
    server = client.server
    assert server.state == server.STATE_OPEN
    copied = [name for name in WebSocketServerProtocol.CONFIG_ATTRS if name in vars(server)]
    assert copied == []
    assert server.maxFramePayloadSize == h.factory.maxFramePayloadSize
    assert server.openHandshakeTimeout == h.factory.openHandshakeTimeout
    # Autobahn formats its list of options for a debug line on every
    # connection: the server's list is empty, so formatting it costs nothing
    # (the in-memory client is Autobahn's too, and lists its own).
    sources = {entry[2] for value in formatted for entry in value}  # (name, value, source)
    assert [] in formatted
    assert not sources & {"PinguWebSocketFactory", "PinguServerProtocol"}


def test_importing_pingu_changes_nothing_in_autobahn() -> None:
    """No monkeypatching: after importing every pingu module that uses
    Autobahn, its ``pformat`` and ``Timings.__str__`` are its own."""
    import subprocess
    import sys

    script = """
import pprint
from autobahn.websocket import protocol
before = (protocol.pformat, protocol.Timings.__str__)
import pingu.websocket, pingu.site, pingu.upgrade, pingu.tap, pingu.cli.ws
after = (protocol.pformat, protocol.Timings.__str__)
assert protocol.pformat is pprint.pformat, protocol.pformat
assert before == after, (before, after)
print("untouched")
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "untouched"
