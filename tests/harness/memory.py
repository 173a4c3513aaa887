"""In-memory harness: the real WebSocket face and hub, a FAKE process, a fake clock.

Client and server talk through Twisted's ``iosim`` (no sockets); the hub's
spawner is replaced by :class:`FakeSpawner`, which records the argv that
would have reached ping and lets a test play the child's part (print lines,
exit, ignore signals).  Time moves only when the test says so.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test import iosim

from pingu import events
from pingu.backlog import EVENT_OVERHEAD, Backlog
from pingu.limits import Limits
from pingu.process import PingProcess
from pingu.request import Policy
from pingu.runs import RunHub
from pingu.websocket import PinguWebSocketFactory


def charged(backlog: Backlog) -> int:
    """What the byte budget should hold for ``backlog``, counted again from
    its events: the JSON size of each and the memory beyond it (0 outside
    the budget)."""
    if backlog.budget is None:
        return 0
    return sum(len(events.encode(e).encode("utf-8")) + EVENT_OVERHEAD for e in backlog)


class FakeProcessTransport:
    """What a ``PingProcess`` sees of its child: signals are recorded."""

    def __init__(self, proto: PingProcess, pid: int) -> None:
        self.proto = proto
        self.pid: Optional[int] = pid
        self.signals: list[str] = []
        self.ignore: set[str] = set()

    def closeStdin(self) -> None:
        pass

    def signalProcess(self, name: str) -> None:
        if self.pid is None:
            raise error.ProcessExitedAlready()
        self.signals.append(name)
        if name not in self.ignore:
            self.die(signal={"INT": 2, "TERM": 15, "KILL": 9}[name], summary=name == "INT")

    # -- the test plays the child ---------------------------------------------

    def say(self, *lines: str, fd: int = 1) -> None:
        for text in lines:
            self.proto.childDataReceived(fd, text.encode() + b"\n")

    def exit(self, code: int) -> None:
        self.pid = None
        reason = error.ProcessDone(0) if code == 0 else error.ProcessTerminated(exitCode=code)
        self.proto.processEnded(Failure(reason))

    def die(self, signal: int, summary: bool = False) -> None:
        if summary:
            # iputils answers SIGINT with its statistics and a normal exit
            self.say(
                "",
                "--- 127.0.0.1 ping statistics ---",
                "1 packets transmitted, 1 received, 0% packet loss, time 0ms",
                "rtt min/avg/max/mdev = 0.050/0.050/0.050/0.000 ms",
            )
            self.exit(0)
            return
        self.pid = None
        self.proto.processEnded(Failure(error.ProcessTerminated(exitCode=None, signal=signal)))


class FakeSpawner:
    """Stands in for :func:`pingu.process.spawn`; keeps what it was given."""

    def __init__(self) -> None:
        self.started: list[tuple[list[str], dict[str, str], FakeProcessTransport]] = []
        self.fail_with: Optional[OSError] = None

    def __call__(self, reactor: Any, proto: PingProcess, argv: list[str], env: dict) -> Any:
        if self.fail_with is not None:
            raise self.fail_with
        transport = FakeProcessTransport(proto, pid=1000 + len(self.started))
        proto.makeConnection(transport)  # type: ignore[arg-type]
        self.started.append((argv, env, transport))
        return transport

    @property
    def last(self) -> FakeProcessTransport:
        return self.started[-1][2]

    @property
    def argvs(self) -> list[list[str]]:
        return [argv for argv, _, _ in self.started]


class Client(WebSocketClientProtocol):
    """Collects what the server sends."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.opened = False
        self.closed: Optional[tuple[Optional[int], Optional[str]]] = None
        self.refused: Optional[Any] = None

    def onOpen(self) -> None:
        self.opened = True

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.messages.append(payload.decode())

    def onClose(self, wasClean: bool, code: Optional[int], reason: Optional[str]) -> None:
        self.closed = (code, reason)

    @property
    def events(self) -> list[dict]:
        return [json.loads(m) for m in self.messages]


def fake_resolver(table: dict[str, list[str]]) -> Any:
    """A FAKE resolver answering from ``table`` (unknown names fail)."""
    import socket

    from twisted.internet import defer

    lookups: list[tuple[str, Any]] = []

    def resolve(name: str, family: Any) -> Any:
        lookups.append((name, family))
        if name not in table:
            return defer.fail(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
        return defer.succeed(table[name])

    resolve.lookups = lookups  # type: ignore[attr-defined]
    return resolve


class Harness:
    """One server factory, its hub, a fake clock and a fake spawner."""

    def __init__(
        self,
        limits: Optional[Limits] = None,
        names: Optional[dict[str, list[str]]] = None,
        policy: Optional[Policy] = None,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self.clock = MemoryReactorClock()
        self.spawner = FakeSpawner()
        self.resolver = fake_resolver(names or {"localhost": ["127.0.0.1", "::1"]})
        self.hub = RunHub(
            self.clock,
            "/usr/bin/ping",
            limits or Limits(),
            self.resolver,
            policy or Policy(),
            clock_time=lambda: 1700000000.0 + self.clock.seconds(),
            spawner=self.spawner,
        )
        self.factory = PinguWebSocketFactory(self.hub, self.clock, allowed_origins)
        self.pumps: list[iosim.IOPump] = []

    def connect(
        self,
        protocols: Optional[list[str]] = None,
        origin: Optional[str] = None,
        client_ip: str = "127.0.0.1",
        host: str = "127.0.0.1:8080",
    ) -> Client:
        server = self.factory.buildProtocol(IPv4Address("TCP", client_ip, 40000))
        factory = WebSocketClientFactory(
            f"ws://{host}/ws", protocols=protocols or [], origin=origin, reactor=self.clock
        )
        factory.protocol = Client
        client = factory.buildProtocol(None)
        server_transport = iosim.FakeTransport(
            server,
            isServer=True,
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8080),
            peerAddress=IPv4Address("TCP", client_ip, 40000),
        )
        client_transport = iosim.FakeTransport(client, isServer=False)
        pump = iosim.connect(server, server_transport, client, client_transport, greet=False)
        self.pumps.append(pump)
        client.server = server  # type: ignore[attr-defined]
        client.pump = pump  # type: ignore[attr-defined]
        self.flush()
        return client

    def flush(self) -> None:
        for _ in range(5):
            for pump in self.pumps:
                pump.flush()

    def send(self, client: Client, text: str) -> None:
        client.sendMessage(text.encode())
        self.flush()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.flush()
