"""Hostile and careless clients against the real ``twistd pingu``.

Each test drives a real server process over real sockets; the FAKE ping
records the argv that reached it where one did.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.harness.pingu import PinguServer
from tests.harness.procs import open_fds, zombies_of

pytestmark = pytest.mark.e2e


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def close_code(ws, timeout: float = 10.0) -> tuple[int, str]:
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")


@pytest.fixture
def fake(tmp_path):
    with PinguServer(tmp_path, fake="normal", args=("--handshake-timeout", "1")) as server:
        yield server


@pytest.mark.parametrize(
    ("origin", "status"), [("http://evil.example", 403), ("null", 403)]
)
def test_foreign_origin_is_refused_at_the_handshake(fake, origin, status):
    with pytest.raises(InvalidStatus) as refused:
        connect(fake.ws_url, origin=origin)
    assert refused.value.response.status_code == status
    assert fake.recorded_argv() == []


def test_same_origin_is_accepted(fake):
    with connect(fake.ws_url, origin=f"http://127.0.0.1:{fake.port}") as ws:
        ws.send("127.0.0.1")
        assert ws.recv(timeout=5).startswith("PING")


def test_handshake_that_never_finishes_is_dropped(fake):
    with socket.create_connection(("127.0.0.1", fake.port)) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        s.settimeout(15)
        started = time.monotonic()
        while s.recv(4096):
            pass
        assert time.monotonic() - started < 5
    assert fake.recorded_argv() == []


def test_huge_message_is_refused(fake):
    with connect(fake.ws_url, max_size=None) as ws:
        ws.send("a" * 2_000_000)
        code, reason = close_code(ws)
    assert code == 1009 and reason
    assert fake.recorded_argv() == []


def test_message_over_the_limit_gets_4413(fake):
    with connect(fake.ws_url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "127.0.0.1", "pad": "x" * 5000}))
        error = json.loads(ws.recv(timeout=5))
        code, _ = close_code(ws)
    assert error["type"] == "error" and error["code"] == 4413 and code == 4413


def test_binary_frame_is_refused(fake):
    with connect(fake.ws_url) as ws:
        ws.send(b"127.0.0.1")
        assert close_code(ws)[0] == 4415
    assert fake.recorded_argv() == []


INJECTIONS = [
    "-f", "--help", "-s 65000 127.0.0.1", "-I lo 127.0.0.1", "127.0.0.1 -f", "; id", "| id",
    "$(id)", "`id`", "127.0.0.1\nid", "127.0.0.1\x00", "127.0.0.1 127.0.0.2", "a" * 300,
    "fe80::1%eth0", "255.255.255.255", "224.0.0.1", "127.1", "0x7f.0.0.1", "2130706433",
    "127.000.000.001",
]  # fmt: skip


def test_injections_never_reach_ping(fake):
    for text in INJECTIONS:
        with connect(fake.ws_url) as ws:
            ws.send(text)
            code, reason = close_code(ws)
        assert 4400 <= code < 4500 and reason, text
    assert fake.recorded_argv() == []
    # and the one literal form that names 127.0.0.1 reaches ping as that literal only
    with connect(fake.ws_url) as ws:
        ws.send("::ffff:127.0.0.1")
        ws.recv(timeout=5)
    assert fake.recorded_argv() == [["-n", "-O", "-4", "-c", "10000", "--", "127.0.0.1"]]


def test_refusals_are_logged_without_control_characters(fake):
    with connect(fake.ws_url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "127.0.0.1", "\x1b[31mred": 1}))
        close_code(ws)
    log = fake.log()
    assert "refused 127.0.0.1: unknown-field" in log
    assert "\x1b" not in log and "\\x1b" in log


def test_one_log_line_per_run(fake):
    with connect(fake.ws_url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "localhost", "count": 2, "interval": 0.2, "family": 4}))
        close_code(ws)
    (line,) = [line for line in fake.log().splitlines() if " run " in line]
    for part in ("client=127.0.0.1", "target=localhost", "address=127.0.0.1",
                 "how=completed", "exit=0", "'count': 2"):  # fmt: skip
        assert part in line


def test_client_that_stops_reading_is_dropped(tmp_path):
    with PinguServer(
        tmp_path, fake="flood", fake_extra="--lines 400000", args=("--max-buffered", "200000")
    ) as server:
        before = rss_kib(server.pid)
        s = socket.create_connection(("127.0.0.1", server.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        s.recv(1024)  # the 101 answer; from now on this client reads nothing
        frame = b"127.0.0.1"
        s.sendall(bytes([0x81, 0x80 | len(frame)]) + b"\0\0\0\0" + frame)
        deadline = time.monotonic() + 20
        while " run " not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "pingu: dropping 127.0.0.1: it does not read its output" in server.log()
        assert "how=signal" in server.log()  # the flood was cut short (SIGTERM)
        assert server.wait_children(0) == []
        assert rss_kib(server.pid) - before < 50_000
        s.close()


# -- the bounded load test ---------------------------------------------------------------


async def _one_client(url: str, rng: random.Random, outcome: dict) -> None:
    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            await ws.send("127.0.0.1")
            lines = 0
            how = rng.choice(["close", "abort", "stop", "stop", "close"])
            deadline = time.monotonic() + rng.uniform(0.2, 3.0)
            try:
                while time.monotonic() < deadline:
                    left = max(0.05, deadline - time.monotonic())
                    await asyncio.wait_for(ws.recv(), timeout=left)
                    lines += 1
            except asyncio.TimeoutError:
                pass
            except ConnectionClosed as closed:
                if closed.rcvd and 4400 <= closed.rcvd.code < 4500 and closed.rcvd.reason:
                    outcome["refused"] += 1
                    return
                raise
            if how == "abort":
                ws.transport.abort()
            elif how == "stop":
                await ws.send("stop")
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), timeout=10)
                        lines += 1
                except ConnectionClosed:
                    pass
            outcome["lines" if lines else "silent"] += 1
    except InvalidStatus as refused:
        assert refused.response.status_code in (429, 503)
        outcome["refused"] += 1


async def _load(url: str, clients: int, seconds: float) -> dict:
    rng = random.Random(1234)
    outcome = {"lines": 0, "refused": 0, "silent": 0}
    started = time.monotonic()
    tasks = []
    for n in range(clients):
        # spread the starts over the period so that about 60 run at once
        await asyncio.sleep(max(0.0, started + n * seconds / clients - time.monotonic()))
        tasks.append(asyncio.create_task(_one_client(url, rng, outcome)))
    await asyncio.gather(*tasks)
    return outcome


def test_load_300_clients_leave_nothing_behind(tmp_path):
    args = (
        "--max-runs-per-client", "200", "--max-connections-per-client", "400",
        "--max-starts-per-second", "100", "--grace", "0.5",
    )  # fmt: skip
    with PinguServer(tmp_path, args=args) as server:
        # warm up: the first connections allocate buffers the process keeps
        asyncio.run(_load(server.ws_url, 20, 2))
        time.sleep(1)
        fds, rss = open_fds(server.pid), rss_kib(server.pid)
        outcome = asyncio.run(_load(server.ws_url, 300, 30))
        assert server.wait_children(0, timeout=10) == []
        assert zombies_of(server.pid) == []
        time.sleep(1)
        assert open_fds(server.pid) <= fds + 2
        assert rss_kib(server.pid) < rss + 30_000, (rss, rss_kib(server.pid))
    assert outcome["silent"] == 0, outcome
    assert outcome["lines"] + outcome["refused"] == 300
    assert outcome["lines"] > 250
