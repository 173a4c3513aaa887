"""The page talks only to what its server names (issue 17 item 6): a real
chromium, a real ``twistd pingu`` (``--page-router`` naming a real Crossbar
router) and that router with a real node.

- Every page response, from either server, carries the Content-Security-
  Policy and the hardening headers (fails without the hook in
  ``pingu/site.py`` or the router's ``pingu_router.page``).
- A link's ``?router=`` for a router the server does not list is refused on
  the page, no WebSocket is opened to it, nothing of the link starts and the
  router leaves the link (fails without ``checkRouter`` in ``web/app.js``:
  the page then tries the foreign router, which the CSP blocks and reports).
- A listed router is used, and a ping runs in WebSocket mode and in WAMP
  mode (from pingu's page and from the router's) with no CSP violation.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import crossbar
from tests.harness.browser import (
    ConsoleWatch,
    chromium_path,
    hooked_context,
    launched_chromium,
    open_page,
    start_run,
    wait_ended,
)
from tests.harness.pingu import PinguServer
from tests.harness.ports import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.wamp,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium (apt-get install chromium)"),
    crossbar.needed,
]

DESKTOP = {"width": 1280, "height": 900}
NODE = "csp"
#: Every violation of the page's CSP, recorded from before the page's scripts run.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""
HARDENING = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    """(router, node, pingu): pingu lists the router; the router lets pingu's page in."""
    workdir = tmp_path_factory.mktemp("csp")
    router = crossbar.Router(workdir)
    pingu = PinguServer(workdir, args=("--page-router", router.url))
    crossbar.list_page_routers(router, [], [f"http://127.0.0.1:{pingu.port}"])
    with router, pingu:
        node = crossbar.Node(workdir, router.url, NODE)
        try:
            node.wait_joined()
            yield router, node, pingu
        finally:
            node.stop()


class Listener:
    """A TCP port that counts the connections made to it (a foreign router)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def headers_of(url: str) -> dict[str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as e:  # a 404 carries them too
        return {k.lower(): v for k, v in e.headers.items()}


def csp_of(headers: dict[str, str]) -> dict[str, list[str]]:
    directives = [d.strip().split() for d in headers["content-security-policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


@pytest.fixture
def opened(browser: Any) -> Iterator[Any]:
    """open(url) -> (page, websockets it opened); no console error allowed."""
    contexts = []

    def open_(url: str) -> tuple[Any, list[str], ConsoleWatch]:
        context = hooked_context(browser, viewport=DESKTOP)
        contexts.append(context)
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        page.set_default_timeout(15_000)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        console = ConsoleWatch(page)
        open_page(page, url)
        return page, sockets, console

    yield open_
    for context in contexts:
        context.close()


def test_every_page_response_carries_the_security_headers(servers):
    router, _, pingu = servers
    listed = router.url.rsplit("/", 1)[0]  # ws://127.0.0.1:PORT
    for url in ("", "app.js", "pingu-info.json", "base.css", "no-such-file"):
        headers = headers_of(pingu.http_url + url)
        assert {k: headers.get(k) for k in HARDENING} == HARDENING, url
        csp = csp_of(headers)
        assert csp["connect-src"] == ["'self'", listed], url
        assert csp["script-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"], url
    info = json.loads(urllib.request.urlopen(pingu.http_url + "pingu-info.json").read())
    assert info["routers"] == [router.url]
    for url in ("", "app.js", "pingu-info.json", "no-such-file"):
        headers = headers_of(router.http_url + url)
        assert {k: headers.get(k) for k in HARDENING} == HARDENING, url
        assert csp_of(headers)["connect-src"] == ["'self'"], url
        assert "access-control-allow-origin" not in headers, url
    info = json.loads(urllib.request.urlopen(router.http_url + "pingu-info.json").read())
    assert info == {"mode": "wamp", "ws": "ws", "realm": "pingu", "routers": []}


def test_a_foreign_router_is_refused_visibly_and_never_contacted(servers, opened):
    router, _, pingu = servers
    foreign = Listener()
    try:
        evil = f"ws://127.0.0.1:{foreign.port}/ws"
        page, sockets, console = opened(f"{pingu.http_url}?router={evil}&t=127.0.0.1&c=3")
        assert page.evaluate("document.body.dataset.mode") == "ws"
        conn = page.text_content("#conn-text")
        assert "Refused router" in conn and evil in conn, conn
        assert page.is_visible("#form-error") and evil in page.text_content("#form-error")
        page.wait_for_timeout(1000)  # time for any connection it would try
        assert sockets == [] and foreign.accepted == 0
        assert page.evaluate("window.__csp") == []
        assert "router" not in page.url and "t=127.0.0.1" in page.url, page.url
        assert page.evaluate("window.pinguTest.snapshot().panels.length") == 0
        assert console.errors == []
    finally:
        foreign.close()


def test_a_listed_router_is_used_and_a_ping_runs_under_the_csp(servers, opened):
    router, _, pingu = servers
    page, sockets, console = opened(f"{pingu.http_url}?router={router.url}")
    assert page.evaluate("document.body.dataset.mode") == "wamp"
    page.wait_for_selector(f"#node-list input[value='{NODE}']")
    start_run(page, "127.0.0.1", count=3, interval=0.2)
    assert wait_ended(page)["state"] == "ok"
    assert sockets and all(url.startswith(router.url) for url in sockets), sockets
    assert page.evaluate("window.__csp") == []
    assert console.errors == []


@pytest.mark.parametrize("where", ["pingu", "router"])
def test_a_ping_runs_under_the_csp_in_either_mode(servers, opened, where):
    router, _, pingu = servers
    url = pingu.http_url if where == "pingu" else router.http_url
    page, _, console = opened(url)
    assert page.evaluate("document.body.dataset.mode") == ("ws" if where == "pingu" else "wamp")
    if where == "router":
        page.wait_for_selector(f"#node-list input[value='{NODE}']")
    start_run(page, "127.0.0.1", count=3, interval=0.2)
    assert wait_ended(page)["state"] == "ok"
    assert page.evaluate("window.__csp") == []
    assert console.errors == []
