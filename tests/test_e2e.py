"""End to end: the real ``twistd pingu``, a third-party WebSocket client, real ping.

Targets are only ever 127.0.0.1, ::1 and localhost.  The FAKE ping
(tests/harness/fake_ping.py) is used where real ping cannot misbehave on demand.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.harness.pingu import TWISTD, PinguServer
from tests.harness.ports import free_port
from tests.harness.procs import zombies_of

pytestmark = pytest.mark.e2e


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.connect(("::1", 9))
        return True
    except OSError:
        return False


def receive_all(ws, timeout: float = 20.0) -> tuple[list[tuple[float, str]], int, str]:
    """Every message with its arrival time, then the close code and reason."""
    got = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            message = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            got.append((time.monotonic(), message))
    except ConnectionClosed as closed:
        rcvd = closed.rcvd
        return got, (rcvd.code if rcvd else 1006), (rcvd.reason if rcvd else "")


@pytest.fixture
def real(tmp_path):
    with PinguServer(tmp_path) as server:
        yield server


# -- real ping --------------------------------------------------------------------


def test_text_mode_lines_arrive_one_by_one(real):
    """Without a count ping runs on; each reply arrives when ping prints it
    (about a second apart), as a message of its own, without newline."""
    with connect(real.ws_url) as ws:
        ws.send("127.0.0.1")
        header = ws.recv(timeout=5)
        arrivals = []
        for _ in range(3):
            text = ws.recv(timeout=5)
            arrivals.append((time.monotonic(), text))
        ws.send("stop")
        rest, code, reason = receive_all(ws)
    assert header.startswith("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.")
    for n, (_, text) in enumerate(arrivals, 1):
        assert text.startswith(f"64 bytes from 127.0.0.1: icmp_seq={n} ttl=")
        assert not text.endswith("\n")
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:])]
    assert all(0.7 < gap < 1.5 for gap in gaps), gaps
    assert (code, reason) == (1000, "ping completed (exit 0)")


def test_count_and_interval_stream_live_then_close_1000(real):
    with connect(real.ws_url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "127.0.0.1", "count": 4, "interval": 0.2}))
        got, code, reason = receive_all(ws)
    events = [(t, json.loads(m)) for t, m in got]
    types = [e["type"] for _, e in events]
    assert types[0] == "start" and types[-1] == "end"
    assert types.count("reply") == 4 and types.count("summary") == 1
    replies = [(t, e) for t, e in events if e["type"] == "reply"]
    assert [e["seq"] for _, e in replies] == [1, 2, 3, 4]
    assert all(e["from"] == "127.0.0.1" and e["rtt_ms"] >= 0 for _, e in replies)
    # live: replies arrive spread over the run, not in one burst at the end
    assert replies[-1][0] - replies[0][0] >= 0.45
    summary = next(e for _, e in events if e["type"] == "summary")
    assert (summary["transmitted"], summary["received"], summary["loss_pct"]) == (4, 4, 0.0)
    assert events[-1][1]["how"] == "completed" and events[-1][1]["exit_code"] == 0
    assert (code, reason) == (1000, "ping completed (exit 0)")


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback(real):
    with connect(real.ws_url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "::1", "count": 2, "interval": 0.2}))
        got, code, _ = receive_all(ws)
    events = [json.loads(m) for _, m in got]
    assert events[0]["address"] == "::1" and events[0]["family"] == 6
    assert [e["from"] for e in events if e["type"] == "reply"] == ["::1", "::1"]
    assert code == 1000


def localhost_has_ipv6() -> bool:
    try:
        return bool(socket.getaddrinfo("localhost", None, socket.AF_INET6))
    except OSError:
        return False


@pytest.mark.parametrize("family", [4, 6])
def test_localhost_is_resolved_by_the_server(real, family):
    if family == 6 and not (has_ipv6_loopback() and localhost_has_ipv6()):
        pytest.skip("localhost has no IPv6 address on this machine (/etc/hosts)")
    with connect(real.ws_url, subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "localhost", "count": 1, "family": family}))
        got, code, _ = receive_all(ws)
    start = json.loads(got[0][1])
    assert start["target"] == "localhost"
    assert start["address"] == ("127.0.0.1" if family == 4 else "::1")
    assert code == 1000


def test_stop_gives_the_summary_then_closes(real):
    with connect(real.ws_url) as ws:
        ws.send("127.0.0.1")
        first = ws.recv(timeout=5)
        assert first.startswith("PING")
        ws.recv(timeout=5)  # the first reply
        ws.send("stop")
        got, code, reason = receive_all(ws)
    lines = [text for _, text in got]
    assert any("packets transmitted" in line for line in lines)
    assert lines[-1].startswith("rtt min/avg/max/mdev")
    assert code == 1000
    assert real.wait_children(0) == []


def test_closing_or_dropping_the_socket_ends_ping(real):
    for abrupt in (False, True):
        ws = connect(real.ws_url).__enter__()  # closed by hand below, two ways
        ws.send("127.0.0.1")
        ws.recv(timeout=5)
        assert len(real.wait_children(1)) == 1
        if abrupt:
            ws.socket.shutdown(socket.SHUT_RDWR)
            ws.socket.close()
        else:
            ws.close()
        assert real.wait_children(0, timeout=2) == []
        assert zombies_of(real.pid) == []


def test_refusals_spawn_nothing(real):
    for text, code in [("-f", 4400), ("127.0.0.1; id", 4400), ("224.0.0.1", 4403)]:
        with connect(real.ws_url) as ws:
            ws.send(text)
            _, got_code, reason = receive_all(ws)
        assert got_code == code and reason
    assert real.children() == []
    log = real.log()
    assert "refused 127.0.0.1: looks-like-option" in log


def test_page_and_info_are_served(real):
    with urllib.request.urlopen(real.http_url) as page:
        assert b"<html" in page.read().lower()
    with urllib.request.urlopen(real.http_url + "pingu-info.json") as info:
        body = json.loads(info.read())
    assert body["mode"] == "ws" and body["limits"]["max_count"] == 10000
    # the tools, from the registry, with their fields' bounds as this server's limits set them
    tools_shown = {tool["name"]: tool for tool in body["tools"]}
    assert tools_shown["ping"]["installed"] is True
    count = next(f for f in tools_shown["ping"]["fields"] if f["name"] == "count")
    assert (count["min"], count["max"], count["flag"]) == (1, 10000, "-c")
    # a plain GET on /ws is not Autobahn's status page
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(real.http_url + "ws")
    assert b"Autobahn" not in error.value.read()


def test_many_pages_run_independent_pings(real):
    with contextlib.ExitStack() as stack:
        # Every page connected first, then the five requests back to back:
        # asked between slow handshakes (under load), the first pings had
        # ended before the last began, and five never ran at once.
        sockets = [
            stack.enter_context(connect(real.ws_url, subprotocols=["pingu.json"])) for _ in range(5)
        ]
        for ws in sockets:
            ws.send(json.dumps({"target": "127.0.0.1", "count": 5, "interval": 0.2}))
        assert len(real.wait_children(5)) == 5
        for ws in sockets:
            got, code, _ = receive_all(ws)
            assert [json.loads(m)["type"] for _, m in got].count("reply") == 5
            assert code == 1000


# -- the FAKE ping for what real ping will not do on demand ----------------------------


def test_exact_argv_and_env_reach_ping(tmp_path):
    with PinguServer(tmp_path, fake="normal") as server:
        with connect(server.ws_url, subprotocols=["pingu.json"]) as ws:
            ws.send(json.dumps({"target": "localhost", "count": 2, "interval": 0.2,
                                "size": 100, "family": 4, "deadline": 5}))  # fmt: skip
            receive_all(ws)
        argv = server.recorded_argv()
        env = server.recorded_env()[0]
    assert argv == [["-n", "-O", "-4", "-c", "2", "-i", "0.2", "-s", "100", "-w", "5",
                     "--", "127.0.0.1"]]  # fmt: skip
    assert env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin" and env["LC_ALL"] == "C"
    assert "HOME" not in env and not any(k.startswith("PINGU") for k in env)


@pytest.mark.parametrize(
    ("scenario", "code"),
    [("exit1", 4000), ("exit2", 4001), ("crash", 4002)],
)
def test_how_ping_ended(tmp_path, scenario, code):
    with PinguServer(tmp_path, fake=scenario) as server:
        with connect(server.ws_url, subprotocols=["pingu.json"]) as ws:
            ws.send(json.dumps({"target": "127.0.0.1", "count": 3, "interval": 0.2}))
            _, got_code, reason = receive_all(ws)
        assert got_code == code and reason
        assert server.wait_children(0) == []


def test_stubborn_ping_is_killed(tmp_path):
    with PinguServer(tmp_path, fake="stubborn", args=("--grace", "0.3")) as server:
        with connect(server.ws_url, subprotocols=["pingu.json"]) as ws:
            ws.send('{"target": "127.0.0.1", "interval": 0.2}')
            while json.loads(ws.recv(timeout=5))["type"] != "reply":
                pass  # the fake ignores signals once it prints
            ws.send('{"stop": true}')
            got, code, _ = receive_all(ws)
        end = json.loads(got[-1][1])
        assert end["how"] == "signal" and end["signal"] == 9
        assert code == 4002
        assert server.wait_children(0) == [] and zombies_of(server.pid) == []


def test_partial_lines_are_reassembled(tmp_path):
    with PinguServer(tmp_path, fake="partial") as server:
        with connect(server.ws_url) as ws:
            ws.send("127.0.0.1")
            got = [ws.recv(timeout=5) for _ in range(3)]
    replies = [text for text in got if "icmp_seq" in text]
    assert replies[:2] == [
        "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.051 ms",
        "64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.062 ms",
    ]


def test_shutdown_ends_children_and_closes_with_going_away(tmp_path):
    server = PinguServer(tmp_path, fake="stubborn", args=("--grace", "0.3")).start()
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(3):
            ws = stack.enter_context(connect(server.ws_url))
            ws.send("127.0.0.1")
            ws.recv(timeout=5)  # the header: the fake ignores signals from now on
            ws.recv(timeout=5)
            sockets.append(ws)
        idle = stack.enter_context(connect(server.ws_url))
        children = server.wait_children(3)
        assert len(children) == 3
        # twistd stops cleanly, then exits by the signal it was sent (Twisted >= 23.8)
        assert server.stop() in (0, -15)
        for ws in [*sockets, idle]:
            _, code, reason = receive_all(ws)
            assert (code, reason) == (1001, "server shutting down")
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}")


# -- start-up errors: one line, non-zero exit ------------------------------------------


def run_twistd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TWISTD), "-n", "--pidfile=", "pingu", *args],
        cwd=cwd, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_busy_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_twistd("--port", f"tcp:{port}:interface=127.0.0.1", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("pingu: cannot listen on") and "in use" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--port", "tcp:notaport"), "pingu: bad --port"),
        (("--port", "nonsense:1"), "pingu: bad --port"),
        (("--ping", "/nonexistent/ping"), "pingu: ping executable"),
    ],
)
def test_bad_options(tmp_path, args, expected):
    done = run_twistd(*args, "--port", f"tcp:{free_port()}", cwd=tmp_path) if (
        args[0] == "--ping"
    ) else run_twistd(*args, cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(expected)


# -- the pingu watch client ------------------------------------------------------------


def test_pingu_watch_prints_like_ping_and_exits_with_its_status(tmp_path):
    pingu = Path(sys.executable).parent / "pingu"
    with PinguServer(tmp_path) as server:
        done = subprocess.run(
            [str(pingu), "watch", server.ws_url, "127.0.0.1", "-c", "2", "-i", "0.2"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert lines[0].startswith("PING 127.0.0.1")
    assert sum("icmp_seq=" in line for line in lines) == 2
    assert lines[-1].startswith("rtt min/avg/max/mdev")


def test_pingu_watch_exit_status_and_refusal(tmp_path):
    pingu = Path(sys.executable).parent / "pingu"
    with PinguServer(tmp_path, fake="exit1") as server:
        done = subprocess.run(
            [str(pingu), "watch", server.ws_url, "127.0.0.1", "-c", "2", "-i", "0.2"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 1
        refused = subprocess.run(
            [str(pingu), "watch", server.ws_url, "--", "-f"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert refused.returncode == 2
    assert "pingu: the target may not start with '-'" in refused.stderr


# -- a child gone, a client interrupted -------------------------------------------------


def test_ping_gone_after_start_is_a_clear_error_and_the_server_stays_up(tmp_path):
    with PinguServer(tmp_path, fake="normal") as server:
        wrapper = tmp_path / "fake-ping-normal"
        wrapper.rename(tmp_path / "moved-away")
        with connect(server.ws_url, subprotocols=["pingu.json"]) as ws:
            ws.send('{"target": "127.0.0.1"}')
            got, code, reason = receive_all(ws)
        end = json.loads(got[-1][1])
        assert end["how"] == "spawn-failed" and (code, reason) == (4500, end["message"])
        assert server.log().count("pingu: cannot start") == 1
        (tmp_path / "moved-away").rename(wrapper)
        with connect(server.ws_url) as ws:
            ws.send("127.0.0.1")
            assert ws.recv(timeout=5).startswith("PING")


def test_pingu_watch_ctrl_c_stops_ping_and_prints_the_statistics(tmp_path):
    import signal

    pingu = Path(sys.executable).parent / "pingu"
    with PinguServer(tmp_path) as server:
        proc = subprocess.Popen(
            [str(pingu), "watch", server.ws_url, "127.0.0.1", "-i", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("PING 127.0.0.1")
        assert "icmp_seq=1" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "packets transmitted" in out and out.rstrip().splitlines()[-1].startswith("rtt ")


def test_tls_endpoint(tmp_path):
    """``--port ssl:...``: the page and the WebSocket over TLS (wss://)."""
    import ssl

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = PinguServer(tmp_path)
    server.port = port
    server.argv[server.argv.index("--port") + 1] = (
        f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    )
    context = ssl.create_default_context(cafile=str(cert))
    server.proc = subprocess.Popen(server.argv, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                page = urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=context)
                break
            except OSError:
                assert server.proc.poll() is None, server.output()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert b"<html" in page.read().lower()
        with connect(f"wss://127.0.0.1:{port}/ws", ssl=context) as ws:
            ws.send("127.0.0.1")
            assert ws.recv(timeout=5).startswith("PING 127.0.0.1")
    finally:
        server.stop()
