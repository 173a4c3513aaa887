"""traceroute and mtr over a real path: a browser sees every hop of a chain of
network namespaces (tests/harness/netns.py: client -- r1 -- r2 -- target),
in order, with the right addresses, and a silent hop shown as ``*`` / loss.

``twistd pingu`` runs inside the client namespace and listens on a Unix
socket (a file: it is reachable from every network namespace); a small
proxy on 127.0.0.1 in ours passes the browser's connections to it, so
chromium stays where it is.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import netns
from tests.harness.browser import (
    launched_chromium,
    open_page,
    pipe,
    screenshot,
    start_tool,
    wait_hops,
    watched_page,
)
from tests.harness.pingu import pingu_env, twistd_argv

pytestmark = [pytest.mark.browser, pytest.mark.netns]

sync_api = pytest.importorskip("playwright.sync_api")

chain = netns.fixture(routers=2, scope="module", ipv6=False)


class UnixProxy:
    """127.0.0.1:port in our namespace -> a Unix socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(str(self.path))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def site(chain: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """twistd pingu inside the client namespace; its page's URL in ours."""
    workdir = tmp_path_factory.mktemp("netns-site")
    sock = workdir / "pingu.sock"
    argv = twistd_argv(workdir / "twistd.log", ["--port", f"unix:{sock}", "--no-watchdog"])
    proc = chain.client.popen(*argv, env=pingu_env())
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None, (workdir / "twistd.log").read_text()
            assert time.monotonic() < deadline, "twistd did not listen"
            time.sleep(0.1)
        proxy = UnixProxy(sock)
        yield f"http://127.0.0.1:{proxy.port}/"
        proxy.close()
    finally:
        proc.terminate()
        proc.wait(10)


browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    with watched_page(browser, {"width": 1280, "height": 800}, 20_000) as p:
        open_page(p, site)
        yield p


def run(page: Any, tool: str, target: str, fields: dict[str, str]) -> dict[str, Any]:
    start_tool(page, tool, target, fields)
    return wait_hops(page, "h.ended && h.state !== 'running'", timeout=60_000)


def hops_of(chain: Any) -> list[str]:
    """The addresses on the way: r1's and r2's on the client's side, then the target."""
    return [chain.routers[0].v4[0], chain.routers[1].v4[0], chain.target.v4[0]]


def test_traceroute_sees_every_hop_in_order(page: Any, chain: Any) -> None:
    h = run(
        page, "traceroute", chain.target.v4[0], {"#max-hops": "5", "#queries": "2", "#wait": "1"}
    )
    assert h["state"] == "ok", h
    rows = h["hops"][0]["rows"]
    assert [r["address"] for r in rows] == hops_of(chain)
    assert [r[1] for r in h["table"]["rows"]] == hops_of(chain)
    screenshot(page, "tools-netns-01-traceroute")


def test_mtr_updates_every_hop_each_round(page: Any, chain: Any) -> None:
    h = run(page, "mtr", chain.target.v4[0], {"#count": "3", "#interval": "1"})
    assert h["state"] == "ok", h
    rows = h["hops"][0]["rows"]
    assert [r["address"] for r in rows] == hops_of(chain)
    assert all(r["sent"] == 3 and r["loss_pct"] == 0 for r in rows), rows
    assert h["table"]["bars"] == 3
    screenshot(page, "tools-netns-02-mtr")


def test_a_silent_hop_is_shown_lost(page: Any, chain: Any) -> None:
    if netns.nft_unavailable():
        pytest.skip(netns.nft_unavailable())
    chain.routers[0].drop_time_exceeded()
    try:
        h = run(page, "mtr", chain.target.v4[0], {"#count": "3", "#interval": "1"})
    finally:
        chain.routers[0].flush_rules()
    rows = {r["hop"]: r for r in h["hops"][0]["rows"]}
    assert rows[3]["address"] == chain.target.v4[0] and rows[3]["loss_pct"] == 0, rows
    assert rows[1]["address"] is None and rows[1]["loss_pct"] == 100, rows  # that hop only
    assert rows[2]["loss_pct"] == 0, rows
    assert h["table"]["rows"][0][1] == "*" and h["table"]["worst"] == [1]
    screenshot(page, "tools-netns-03-mtr-silent-hop")
