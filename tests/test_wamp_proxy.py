"""The WAMP path through Crossbar's proxy workers (``.crossbar/config-proxy.json``):
a router worker and two proxy workers that take the viewers' WebSockets
(one port, shared), their serialisation and their authentication, and reach
the router worker over its Unix socket.

What pingu needs of the router must hold through them: the meta events it
counts viewers with, and who a session is (``wamp.session.get``'s transport
peer is the browser's, forwarded by the proxy, not the proxy's).  Each test
has a time limit (a lost event must fail a test, not hang the suite).
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from autobahn.wamp.exception import ApplicationError
from twisted.internet import defer

from pingu.clients import authid_key
from pingu.wamp.state import VIEWER_GRACE
from pingu.wamp.viewers import client_of_details
from tests.harness import crossbar
from tests.harness.crossbar import SECRET, Node, Router, joined
from tests.harness.procs import children_of
from tests.test_wamp import Viewer, join, sleep, until, within

pytestmark = [pytest.mark.wamp, crossbar.needed]

CONFIG = "config-proxy.json"


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    with Router(tmp_path_factory.mktemp("router"), SECRET, config=CONFIG) as started:
        yield started


@pytest.fixture(scope="module")
def nodes(router, tmp_path_factory):
    """Nodes join the router worker on its own port (Crossbar's proxy workers
    do not read ``${PINGU_WAMP_SECRET}``: they offer no WAMP-CRA at all)."""
    workdir = tmp_path_factory.mktemp("nodes")
    yield from joined(
        [
            Node(workdir, router.node_url, "alpha", args=("--max-runs-per-client", "2")),
            Node(workdir, router.node_url, "beta"),
        ]
    )


def local_port(session: Any) -> int:
    return session._transport.transport.getHost().port


def handshake(port: int, origin: str) -> bytes:
    """The status line of a WebSocket handshake to the proxies with ``origin``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            (
                "GET /ws HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: wamp.2.json\r\n"
                f"Origin: {origin}\r\n\r\n"
            ).encode()
        )
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_the_router_runs_two_proxy_workers(router):
    assert router.proc is not None
    workers = children_of(router.proc.pid)
    assert len(workers) == 3, workers  # the router worker and two proxies


@within(30)
async def test_a_viewer_behind_a_proxy_is_its_browser_address(router, nodes):
    """wamp.session.get through a proxy: the router joined the session with
    ``anonymous-proxy`` over its Unix socket, and describes the browser's
    own connection to the proxy (its port is the viewer's local port)."""
    node = await join(router.node_url, "pingu-node", SECRET)
    viewers = [await join(router.url) for _ in range(16)]
    pids = set()
    for viewer in viewers:
        info = await node.call("wamp.session.get", viewer._session_id)
        assert info["authmethod"] == "anonymous-proxy" and info["authrole"] == "viewer"
        assert info["authextra"]["x_cb_peer"].startswith("unix")  # the proxy, as the router sees it
        assert info["transport"]["peer"] == f"tcp4:127.0.0.1:{local_port(viewer)}"
        assert info["transport"]["http_headers_received"]["host"] == f"127.0.0.1:{router.port}"
        assert client_of_details(info) == "127.0.0.1"
        pids.add(info["transport"]["own_pid"])  # the proxy that holds the WebSocket
    assert len(pids) == 2, pids  # both proxies take viewers (2**-15 that one takes all 16)
    assert pids <= set(children_of(router.proc.pid))
    for viewer in viewers:
        await viewer.leave()
    await node.leave()


@within(30)
async def test_a_client_cannot_bring_its_own_transport(router, nodes):
    """Crossbar takes a session's transport from its authextra: through the
    proxy, a client that writes one in its HELLO is refused."""
    from autobahn.twisted.component import Component
    from twisted.internet import reactor

    refused: defer.Deferred = defer.Deferred()
    forged = {"transport": {"peer": "tcp4:203.0.113.9:4711", "channel_type": "tcp"}}
    component = Component(
        transports=[{"type": "websocket", "url": router.url, "max_retries": 0}],
        realm="pingu",
        authentication={"anonymous": {"authextra": forged}},
    )
    component.on_join(lambda session, details: refused.errback(AssertionError("joined")))
    component.on_leave(lambda session, details: refused.called or refused.callback(details.reason))
    component.start(reactor)
    assert (await refused) == "wamp.error.authentication_failed"


def test_a_forged_transport_of_a_direct_session_is_not_believed():
    """The same forgery straight to a router (``config.json``): Crossbar
    describes the client's own ``transport``; the node believes only the
    connection the router saw (``x_cb_peer``, port included)."""
    forged = {
        "session": 1,
        "authmethod": "anonymous",
        "authid": "ABCD",
        "authextra": {"x_cb_peer": "tcp4:192.0.2.1:40000"},
        "transport": {
            "peer": "tcp4:203.0.113.9:4711",
            "http_headers_received": {"x-forwarded-for": "198.51.100.7"},
        },
    }
    assert client_of_details(forged) == "192.0.2.1"
    import ipaddress

    proxy = (ipaddress.ip_network("192.0.2.0/24"),)
    assert client_of_details(forged, proxy) == "192.0.2.1"  # its headers are not read
    real = {**forged, "transport": {**forged["transport"], "peer": "tcp4:192.0.2.1:40000"}}
    assert client_of_details(real, proxy) == "198.51.100.7"
    # a proxied session: the router saw the proxy, the transport is the browser's
    proxied = {**forged, "authmethod": "anonymous-proxy", "authextra": {"x_cb_peer": "unix"}}
    assert client_of_details(proxied) == "203.0.113.9"
    # anonymous-proxy over TCP is not how Crossbar's proxies come: not believed
    tcp = {**proxied, "authextra": {"x_cb_peer": "tcp4:192.0.2.1:40000"}}
    assert client_of_details(tcp) == "192.0.2.1"
    # an authenticated principal is its authid, a proxied one its address
    assert client_of_details({**forged, "authmethod": "wampcra"}) == authid_key("ABCD")
    assert client_of_details({**proxied, "authmethod": "cryptosign-proxy"}) == "203.0.113.9"


@within(40)
async def test_sessions_from_one_address_are_one_client_through_the_proxies(router, nodes):
    """``--max-runs-per-client 2`` on alpha: three sessions from 127.0.0.1,
    on either proxy, are one client (by their authids, random per session,
    each would be a client of its own)."""
    sessions = [await join(router.url) for _ in range(3)]
    viewers = [Viewer(s, "alpha") for s in sessions]
    await viewers[0].start("127.0.0.1", interval=0.2)
    await viewers[1].start("127.0.0.2", interval=0.2)
    with pytest.raises(ApplicationError) as error:
        await viewers[2].start("127.0.0.3", interval=0.2)
    assert error.value.error == "pingu.error.busy"
    assert error.value.kwargs["reason"] == "too-many-runs-per-client"
    assert len(nodes["alpha"].children()) == 2
    for session in sessions:
        await session.leave()
    # the last viewer's session left: its run waits VIEWER_GRACE for it to come back
    await until(lambda: not nodes["alpha"].children(), VIEWER_GRACE + 2, "runs outlived viewers")


@within(40)
async def test_the_last_viewer_behind_a_proxy_leaving_ends_the_run(router, nodes):
    node = "beta"
    server = nodes[node]
    sessions = [await join(router.url) for _ in range(4)]
    viewers = [Viewer(s, node) for s in sessions]
    replies = [await v.start("127.0.0.1", interval=0.2) for v in viewers]
    assert len({r["run"] for r in replies}) == 1
    await sleep(0.5)
    assert len(server.children()) == 1
    runs = await sessions[0].call(f"pingu.{node}.runs")
    assert [r["viewers"] for r in runs] == [4]  # counted from the meta events, via proxies
    await sessions[0].leave()  # wamp.session.on_leave
    await viewers[1].subscription.unsubscribe()  # wamp.subscription.on_unsubscribe
    await sleep(0.5)
    assert [r["viewers"] for r in await sessions[3].call(f"pingu.{node}.runs")] == [2]
    sessions[2]._transport.transport.abortConnection()  # a crashed tab: the proxy tells
    await sleep(VIEWER_GRACE + 1.0)
    assert len(server.children()) == 1 and not viewers[3].ended.called
    await viewers[3].subscription.unsubscribe()  # the last one: ping ends at once
    gone_at = time.monotonic()
    await until(lambda: not server.children(), 1.0, "ping outlived its last viewer by 1 s")
    assert time.monotonic() - gone_at < 1.0
    await sessions[1].leave()
    await sessions[3].leave()


@within(40)
async def test_events_reach_every_viewer_in_order(router, nodes):
    sessions = [await join(router.url) for _ in range(8)]
    viewers = [Viewer(s, "beta") for s in sessions]
    for v in viewers:
        await v.start("127.0.0.1", count=10, interval=0.2)
    ends = [await v.ended for v in viewers]
    assert all(end["how"] == "completed" for end in ends)
    first = viewers[0].events
    assert [e["n"] for e in first] == list(range(1, len(first) + 1))
    assert [e["type"] for e in first].count("reply") == 10
    assert all(v.events == first for v in viewers)  # every event once, in order
    for session in sessions:
        await session.leave()


def test_a_foreign_origin_is_refused_at_the_proxy(router):
    assert b" 101 " in handshake(router.port, f"http://127.0.0.1:{router.port}") + b" "
    status = handshake(router.port, "http://evil.example")
    assert b" 101" not in status and status.startswith(b"HTTP/1.1 4"), status


def test_the_page_is_served_by_the_proxies(router):
    import urllib.request

    with urllib.request.urlopen(router.http_url, timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read().lower()


async def refused(url: str, authid: Any = None, secret: Any = None) -> str:
    try:
        session = await join(url, authid, secret)
    except Exception as e:
        return str(e)
    await session.leave()
    raise AssertionError(f"joined {url} as {authid}")


@within(20)
async def test_the_router_worker_takes_no_viewer(router):
    """Its own port is for nodes (WAMP-CRA): an anonymous session is refused."""
    await refused(router.node_url)


@within(20)
async def test_the_proxies_take_no_node(router):
    """A proxy worker's configuration is not read for ``${...}``: a WAMP-CRA
    secret there would be the literal text, known to all."""
    await refused(router.url, "pingu-node", "${PINGU_WAMP_SECRET}")
    await refused(router.url, "pingu-node", SECRET)
