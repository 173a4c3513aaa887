"""tcp, dns and http in the page in WAMP mode: a real (headless) chromium on
the page a real Crossbar router serves (tests/harness/crossbar.py), two real
``twistd pingu`` nodes, the real nping, dnsping and curl, real servers on
loopback (tests/harness/loopback_servers.py).

The router's ``/pingu-info.json`` has no tools: the form is built from the
nodes' ``pingu.<node>.tools`` (each node's describe()); each run is shown
from both nodes side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import crossbar
from tests.harness.browser import (
    launched_chromium,
    open_page,
    screenshot,
    start_tool,
    wait_panel_snapshot,
    watched_page,
)
from tests.harness.loopback_servers import LoopbackServers, skip_without_probe_tools

pytestmark = [pytest.mark.browser, pytest.mark.wamp, crossbar.needed]

sync_api = pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMES = "\u00d7"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    skip_without_probe_tools()
    workdir = tmp_path_factory.mktemp("probes-wamp")
    with LoopbackServers(workdir) as loopback, crossbar.Router(workdir) as router:
        args = loopback.pingu_args
        nodes = [crossbar.Node(workdir, router.url, name, args=args) for name in ("north", "south")]
        for joined in crossbar.joined(nodes):
            yield {"router": router, "nodes": joined, "loopback": loopback}


browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture
def page(browser: Any, cluster: dict[str, Any]) -> Iterator[Any]:
    with watched_page(browser, DESKTOP, 20_000) as p:
        open_page(p, cluster["router"].http_url)
        for name in ("north", "south"):
            p.wait_for_selector(f"#node-list input[value='{name}']", state="attached")
        yield p


def wait_ended(page: Any, index: int) -> dict[str, Any]:
    return wait_panel_snapshot(page, "p.ended && !p.stopVisible", index)


def test_the_form_comes_from_the_nodes_and_the_probes_run_from_both(
    page: Any, cluster: dict[str, Any]
) -> None:
    info = page.evaluate("fetch('pingu-info.json').then((r) => r.json())")
    assert info["mode"] == "wamp" and "tools" not in info  # the router's: no tools
    labels = page.locator("#tool-choice label").all_text_contents()
    assert {"tcp", "dns", "http"} <= set(labels)
    loopback = cluster["loopback"]
    port = loopback.ports["open"]
    start_tool(page, "tcp", "127.0.0.1", {"#port": str(port), "#count": "3", "#interval": "0.2"})
    fields = {"#server": loopback.dns, "#count": "2", "#interval": "1", "#type": "A"}
    start_tool(page, "dns", "www.test.example", fields)
    url = f"http://127.0.0.1:{port}/"
    start_tool(page, "http", url, {"#method": "GET", "#count": "4", "#interval": "0.2"})
    assert page.locator(".panel").count() == 3, page.text_content("#form-error")
    tcp, dns, http = (wait_ended(page, i) for i in range(3))
    for panel in (tcp, dns, http):
        assert panel["nodes"] == ["north", "south"] and panel["state"] == "ok", panel["badge"]
        assert [s["node"] for s in panel["sources"]] == ["north", "south"]
    assert [s["figures"]["received"] for s in tcp["sources"]] == [3, 3]
    assert dns["details"] == [f"rcode: NOERROR {TIMES}2  \u2014  answers: 1"] * 2
    assert http["timings"]["bars"] == [4, 4]
    assert all(f"status 200 {TIMES}4" in text for text in http["timings"]["summary"])
    screenshot(page, "probes-wamp-desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "probes-wamp-phone")
