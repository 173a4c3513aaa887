"""Who a client is behind the documented reverse proxies (issue 17 item 1).

No header a client sends may change who it is behind a documented proxy.
Each proxy block of ``docs/deploy.rst`` is read from the document itself
and replayed by :class:`SimulatedProxy`: a relay on 127.0.0.1 that rewrites
the request's headers exactly as that block tells nginx, Caddy or HAProxy
to (a directive the replay does not know fails the test, so the document
and the replay cannot drift apart), then splices the connection to the
REAL ``twistd pingu --trusted-proxy 127.0.0.1/32 --max-runs-per-client 2``.
Clients are loopback addresses of their own (127.0.0.2 the attacker,
127.0.0.3 the victim); the proxy reaches pingu from 127.0.0.1.

Shown able to fail: with pingu/clients.py's former reading (``Forwarded``
believed whenever present) the Caddy replay lets the attacker run 3 pings
and lock the victim out, and with the documented nginx block's
``proxy_set_header Forwarded "";`` removed the nginx replay does the same.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.harness import REPO
from tests.harness.browser import pipe
from tests.harness.pingu import Pingu

pytestmark = pytest.mark.e2e

ATTACKER = "127.0.0.2"
VICTIM = "127.0.0.3"
DEPLOY = REPO / "docs" / "deploy.rst"

Headers = list[tuple[str, str]]


def documented_block(name: str) -> list[str]:
    """The lines of the code block ``:name: NAME`` in docs/deploy.rst."""
    lines = DEPLOY.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f":name: {name}")
    block = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        block.append(line.strip())
    return [line for line in block if line and not line.startswith("#")]


def _drop(headers: Headers, name: str) -> Headers:
    return [(k, v) for k, v in headers if k.lower() != name.lower()]


def _get(headers: Headers, name: str) -> str:
    return ", ".join(v for k, v in headers if k.lower() == name.lower())


def nginx(block: list[str], headers: Headers, peer: str) -> Headers:
    """What nginx forwards under ``block``'s ``proxy_set_header`` lines:
    the client's headers, each named one replaced (``""`` drops it)."""
    client_xff = _get(headers, "x-forwarded-for")
    variables = {
        "$proxy_add_x_forwarded_for": f"{client_xff}, {peer}" if client_xff else peer,
        "$remote_addr": peer,
        "$host": _get(headers, "host").split(":")[0],
        "$http_upgrade": _get(headers, "upgrade"),
        "$connection_upgrade": "upgrade" if _get(headers, "upgrade") else "close",
    }
    out = list(headers)
    for line in block:
        shape = re.fullmatch(r"proxy_set_header\s+(\S+)\s+(\S+);", line)
        if shape is None:
            continue
        name, value = shape[1], shape[2]
        out = _drop(out, name)
        if value == '""':
            continue
        assert value in variables, f"the nginx replay does not know {value} ({line})"
        out.append((name, variables[value]))
    return out


def caddy(block: list[str], headers: Headers, peer: str) -> Headers:
    """What Caddy 2's ``reverse_proxy`` forwards: X-Forwarded-For/-Proto/-Host
    replaced (the client is not one of Caddy's trusted_proxies), everything
    else passed on, then the block's ``header_up`` lines."""
    out = _drop(_drop(_drop(headers, "x-forwarded-for"), "x-forwarded-proto"), "x-forwarded-host")
    out += [
        ("X-Forwarded-For", peer),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", _get(headers, "host")),
    ]
    for line in block:
        if line.startswith("header_up"):
            shape = re.fullmatch(r"header_up\s+-(\S+)", line)
            assert shape is not None, f"the Caddy replay does not know {line!r}"
            out = _drop(out, shape[1])
        else:
            assert re.match(r"(\S+ \{|reverse_proxy \S+ \{|flush_interval|\})", line), line
    return out


def haproxy(block: list[str], headers: Headers, peer: str) -> Headers:
    """What HAProxy forwards: ``http-request del-header`` lines, then
    ``option forwardfor``'s own X-Forwarded-For line after the client's."""
    out = list(headers)
    forwardfor = False
    for line in block:
        if line.startswith("http-request"):
            shape = re.fullmatch(r"http-request del-header (\S+)", line)
            assert shape is not None, f"the HAProxy replay does not know {line!r}"
            out = _drop(out, shape[1])
        elif line == "option forwardfor":
            forwardfor = True
    if forwardfor:
        out.append(("X-Forwarded-For", peer))
    return out


REPLAYS: dict[str, Callable[[list[str], Headers, str], Headers]] = {
    "nginx": nginx,
    "caddy": caddy,
    "haproxy": haproxy,
}


class SimulatedProxy:
    """A relay on 127.0.0.1 that rewrites each request's head like the
    documented ``kind`` of proxy, then splices bytes both ways."""

    def __init__(self, kind: str, upstream: int) -> None:
        self.rewrite = REPLAYS[kind]
        self.block = documented_block(f"proxy-{kind}")
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, (peer, _) = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, peer), daemon=True).start()

    def _serve(self, client: socket.socket, peer: str) -> None:
        self.sockets.append(client)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        start, *lines = head.decode("latin-1").split("\r\n")
        headers = [(k, v.strip()) for k, v in (line.split(":", 1) for line in lines)]
        forwarded = self.rewrite(self.block, headers, peer)
        upstream = socket.create_connection(("127.0.0.1", self.upstream), 5, ("127.0.0.1", 0))
        self.sockets.append(upstream)
        text = "\r\n".join([start, *(f"{k}: {v}" for k, v in forwarded)]) + "\r\n\r\n"
        upstream.sendall(text.encode("latin-1") + rest)
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def spoofing(address: str) -> dict[str, str]:
    """Every header a client might claim ``address`` with."""
    return {
        "Forwarded": f"for={address}",
        "X-Forwarded-For": address,
        "X-Real-IP": address,
    }


@contextlib.contextmanager
def through(proxy: SimulatedProxy, source: str, headers: dict[str, str]) -> Iterator[Any]:
    """A pingu.json WebSocket through ``proxy`` from ``source``."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), 5, (source, 0))
    with connect(
        f"ws://127.0.0.1:{proxy.port}/ws",
        sock=sock,
        proxy=None,
        open_timeout=5,
        subprotocols=["pingu.json"],
        additional_headers=headers,
    ) as conn:
        yield conn


def start_run(conn: Any) -> dict[str, Any]:
    """Ask for a long ping; the first event (``start``, or the refusal)."""
    conn.send(json.dumps({"target": "127.0.0.1", "count": 30}))
    return json.loads(conn.recv(timeout=5))


def close_code(conn: Any) -> int:
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            conn.recv(timeout=5)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[str, Pingu]]:
    """The real server, reading the default header and X-Real-IP."""
    base = ("--trusted-proxy", "127.0.0.1/32", "--max-runs-per-client", "2")
    folder = tmp_path_factory.mktemp("proxied")
    default = Pingu(folder, name="xff", args=base)
    real_ip = Pingu(folder, name="real-ip", args=(*base, "--client-header", "X-Real-IP"))
    with default, real_ip:
        yield {"X-Forwarded-For": default, "X-Real-IP": real_ip}


CASES = [("nginx", "X-Forwarded-For"), ("nginx", "X-Real-IP"), ("caddy", "X-Forwarded-For"),
         ("haproxy", "X-Forwarded-For")]  # fmt: skip


@pytest.mark.parametrize(("kind", "header"), CASES)
def test_spoofed_headers_neither_escape_the_limit_nor_lock_a_victim_out(servers, kind, header):
    """Defence: pingu reads only ``--client-header``, the right-most
    address no trusted proxy added; the documented blocks write it.

    The attacker opens three runs, each claiming another address in every
    header; the third is refused 4429 (its two runs are its own).  Then it
    claims the victim's address twice more (refused: still itself), and the
    victim still starts both of its runs."""
    proxy = SimulatedProxy(kind, servers[header].port)
    try:
        with contextlib.ExitStack() as stack:
            mine = []
            for i in range(3):
                conn = stack.enter_context(through(proxy, ATTACKER, spoofing(f"203.0.113.{i}")))
                mine.append(start_run(conn))
            assert [e["type"] for e in mine[:2]] == ["start", "start"], mine
            assert mine[2]["type"] == "error" and mine[2]["reason"] == "too-many-runs-per-client"
            assert close_code(conn) == 4429
            for _ in range(2):
                conn = stack.enter_context(through(proxy, ATTACKER, spoofing(VICTIM)))
                assert start_run(conn)["reason"] == "too-many-runs-per-client"
            for _ in range(2):
                conn = stack.enter_context(through(proxy, VICTIM, spoofing(ATTACKER)))
                assert start_run(conn)["type"] == "start"
    finally:
        proxy.close()


def test_the_replays_forward_what_the_blocks_say() -> None:
    """The replays themselves: a client's Forwarded never reaches pingu
    through nginx or HAProxy; Caddy passes it (pingu does not read it)."""
    hostile = [("Host", "ping.example.org"), *spoofing("192.0.2.50").items()]
    sent = {kind: replay(documented_block(f"proxy-{kind}"), hostile, "198.51.100.9")
            for kind, replay in REPLAYS.items()}  # fmt: skip
    assert _get(sent["nginx"], "x-forwarded-for") == "192.0.2.50, 198.51.100.9"
    assert _get(sent["nginx"], "x-real-ip") == "198.51.100.9"
    assert _get(sent["nginx"], "forwarded") == ""
    assert _get(sent["caddy"], "x-forwarded-for") == "198.51.100.9"
    assert _get(sent["caddy"], "forwarded") == "for=192.0.2.50"
    assert _get(sent["haproxy"], "x-forwarded-for") == "192.0.2.50, 198.51.100.9"
    assert _get(sent["haproxy"], "forwarded") == ""


def test_an_unknown_client_header_refuses_to_start(tmp_path) -> None:
    """Only the three headers proxies write are choices: one line, exit 1."""
    import subprocess

    from tests.harness.pingu import TWISTD

    done = subprocess.run(
        [str(TWISTD), "-n", "--pidfile=", "pingu", "--no-watchdog",
         "--trusted-proxy", "127.0.0.1/32", "--client-header", "True-Client-IP"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "pingu: --client-header must be one of X-Forwarded-For, Forwarded, X-Real-IP "
        "(got 'true-client-ip')"
    )
