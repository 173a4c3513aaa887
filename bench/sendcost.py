"""CPU per message: pingu's send path (pingu.sendpath) beside Autobahn's sendMessage.

A micro-benchmark of the real code, not a test: one process serves N
WebSocket connections on 127.0.0.1 (the real PinguServerProtocol, or a plain
Autobahn WebSocketServerProtocol), a child process reads and discards what
they receive, and the server sends M text messages of a ping line's size,
``--per-turn`` of them (each to another connection, each its own child
chunk) in each reactor turn.  The figure is the server process's CPU time
(user + system) over the M messages, divided by M.

    PYTHONPATH=. .venv/bin/python bench/sendcost.py [--sessions 100] [--messages 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import time
import types
from typing import Any

LINE = b"64 bytes from 127.0.0.1: icmp_seq=1234 ttl=64 time=0.045 ms"


def client(port: int, sessions: int) -> None:
    """The readers: N connections, each upgraded, then read until EOF."""
    sel = selectors.DefaultSelector()
    for _ in range(sessions):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    open_ = sessions
    while open_:
        for key, _ in sel.select():
            sock: Any = key.fileobj
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(sock)
                sock.close()
                open_ -= 1


def server(path: str, sessions: int, messages: int, per_turn: int) -> dict[str, Any]:
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
    from twisted.internet import reactor

    from pingu import sendpath
    from pingu.limits import Limits
    from pingu.websocket import PinguServerProtocol

    opened: list[Any] = []

    class Pingu(PinguServerProtocol):
        # Only the handshake's checks are left out (they need a hub).
        def onConnect(self, request: Any) -> None:
            return None

        def onOpen(self) -> None:
            opened.append(self)

        def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
            pass

    class Plain(WebSocketServerProtocol):
        def onOpen(self) -> None:
            opened.append(self)

    factory = WebSocketServerFactory()
    factory.protocol = Pingu if path == "sendpath" else Plain
    factory.handshakes = None
    factory.hub = types.SimpleNamespace(limits=Limits())  # --max-buffered's default
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    reader = subprocess.Popen(
        [sys.executable, __file__, "--client", str(port.getHost().port), str(sessions)]
    )
    result: dict[str, Any] = {"path": path, "sessions": sessions, "per_turn": per_turn}

    def send_pingu(proto: Any) -> None:
        sendpath.begin()  # as PingProcess.childDataReceived does
        try:
            proto._send_text(LINE)
        finally:
            sendpath.end()

    def send_plain(proto: Any) -> None:
        proto.sendMessage(LINE)

    send = send_pingu if path == "sendpath" else send_plain
    state = {"sent": 0, "i": 0}

    def turn() -> None:
        for _ in range(per_turn):
            send(opened[state["i"] % sessions])
            state["i"] += 1
        state["sent"] += per_turn
        if state["sent"] < messages:
            reactor.callLater(0, turn)
        else:
            reactor.callLater(0, drained)

    def drained() -> None:
        if any(p.transport.dataBuffer or p.transport._tempDataLen for p in opened):
            reactor.callLater(0.001, drained)
            return
        cpu = time.process_time() - state["cpu"]
        wall = time.monotonic() - state["wall"]
        result.update(messages=state["sent"], cpu_s=round(cpu, 3), wall_s=round(wall, 3),
                      us_per_message=round(cpu / state["sent"] * 1e6, 2))
        for p in opened:
            p.transport.loseConnection()
        reactor.callLater(0.2, reactor.stop)

    def start() -> None:
        if len(opened) < sessions:
            reactor.callLater(0.01, start)
            return
        state["cpu"] = time.process_time()
        state["wall"] = time.monotonic()
        turn()

    reactor.callLater(0.01, start)
    reactor.run()
    reader.wait(timeout=30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", nargs=2, type=int)
    parser.add_argument("--path", choices=("sendpath", "sendMessage"))
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--per-turn", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.client:
        client(*args.client)
        return
    if args.path:
        print(json.dumps(server(args.path, args.sessions, args.messages, args.per_turn)))
        return
    # Each measurement in a fresh process, the two paths alternating.
    for _ in range(args.rounds):
        for path in ("sendpath", "sendMessage"):
            out = subprocess.run(
                [sys.executable, __file__, "--path", path, "--sessions", str(args.sessions),
                 "--messages", str(args.messages), "--per-turn", str(args.per_turn)],
                check=True, capture_output=True, text=True, env=dict(os.environ),
            )
            print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
