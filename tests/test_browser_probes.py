"""tcp, dns and http in the page, live, in a real (headless) chromium against
the real ``twistd pingu`` and the real nping, dnsping and curl, on real
servers on loopback (tests/harness/loopback_servers.py): an HTTP server on a
free port of 127.0.0.1, which is also the tcp tool's open port, a port
nothing listens on (refused), and the test zone's DNS server.

The form is the one the page builds from ``/pingu-info.json``'s ``tools``:
each tool's own fields (port; resolver and record type; method) are filled
in as a person would.  Screenshots at desktop and phone widths, light and
dark, go to ``screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.harness.browser import (
    SCREENSHOTS,
    launched_chromium,
    open_page,
    start_tool,
    wait_panel_snapshot,
    watched_page,
)
from tests.harness.browser import screenshot as save_screenshot
from tests.harness.loopback_servers import LoopbackServers, skip_without_probe_tools
from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: The sign the page counts with ("refused", TIMES, "2").
TIMES = "\u00d7"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    skip_without_probe_tools()
    with LoopbackServers(tmp_path_factory.mktemp("loopback")) as loopback:
        with PinguServer(tmp_path_factory.mktemp("probes"), args=loopback.pingu_args) as pingu:
            yield {"pingu": pingu, "ports": loopback.ports, "dns": loopback.dns}


browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture
def page(browser: Any, servers: dict[str, Any]) -> Iterator[Any]:
    with watched_page(browser, DESKTOP, 20_000, accept_downloads=True) as p:
        open_page(p, servers["pingu"].http_url)
        yield p


def both_widths(page: Any, name: str) -> None:
    """Screenshots at desktop and phone widths; nothing wider than the phone."""
    save_screenshot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(150)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    save_screenshot(page, f"{name}-phone")


def test_the_form_is_the_servers_description_of_its_tools(
    page: Any, servers: dict[str, Any]
) -> None:
    info = page.evaluate("fetch('pingu-info.json').then((r) => r.json())")
    names = [t["name"] for t in info["tools"]]
    labels = page.locator("#tool-choice label").all_text_contents()
    assert labels == names
    for tool in info["tools"]:
        page.click(f"label[for=tool-{tool['name']}]")
        shown = page.eval_on_selector_all(
            "#form .field[data-field]:not([hidden])", "(all) => all.map((f) => f.dataset.field)"
        )
        probed = [tool["probed"]["name"]] if tool["probed"] else []
        assert shown == probed + [f["name"] for f in tool["fields"]], tool["name"]
        for f in tool["fields"]:
            control = f"#{f['name'].replace('_', '-')}"
            assert page.get_attribute(control, "name") == f["param"]
            if f["type"] == "str":
                options = page.eval_on_selector_all(
                    f"{control} option", "(o) => o.map((x) => x.value)"
                )
                assert options == ["", *f["choices"]]
            else:
                assert page.get_attribute(control, "max") == f"{f['max']:g}"
    # a bound the server gave, said before anything starts
    start_tool(page, "tcp", "127.0.0.1", {"#port": "70000"})
    assert "Port must be between 1 and 65535" in page.text_content("#form-error")
    assert page.locator(".panel").count() == 0


def test_tcp_connects_and_the_loss_reason_of_a_closed_port(
    page: Any, servers: dict[str, Any]
) -> None:
    ports = servers["ports"]
    start_tool(
        page, "tcp", "127.0.0.1", {"#port": str(ports["open"]), "#count": "3", "#interval": "0.2"}
    )
    p = wait_panel_snapshot(page, "p.ended && !p.stopVisible", 0)
    assert (p["tool"], p["display"], p["state"]) == ("tcp", "rtt-series", "ok")
    assert p["sources"][0]["types"]["reply"] == 3 and p["chart"]["points"] == 3
    assert p["stats"][0]["received"] == "3" and p["stats"][0]["loss_pct"] == "0"
    start_tool(page, "tcp", "127.0.0.1", {"#port": str(ports["closed"]), "#count": "2"})
    p = wait_panel_snapshot(page, "p.ended && !p.stopVisible", 1)
    assert p["sources"][0]["types"].get("reply", 0) == 0
    assert p["stats"][0]["loss_pct"] == "100" and p["details"] == [f"lost: refused {TIMES}2"]
    assert p["badge"] == "no reply"
    # the link reopens the last run: the tool and its port by their parameters
    query = parse_qs(urlsplit(page.url).query)
    assert (query["tool"], query["p"], query["c"]) == (["tcp"], [str(ports["closed"])], ["2"])
    both_widths(page, "probes-tcp")


def test_dns_queries_with_their_rcode_and_answers(page: Any, servers: dict[str, Any]) -> None:
    fields = {"#server": servers["dns"], "#type": "A", "#count": "2", "#interval": "1"}
    start_tool(page, "dns", "www.test.example", fields)
    start_tool(page, "dns", "servfail.test.example", fields)
    p = wait_panel_snapshot(page, "p.ended && !p.stopVisible", 0)
    assert (p["tool"], p["state"], p["stats"][0]["received"]) == ("dns", "ok", "2")
    assert p["details"] == [f"rcode: NOERROR {TIMES}2  —  answers: 1"]
    p = wait_panel_snapshot(page, "p.ended && !p.stopVisible", 1)
    assert p["details"] == [f"rcode: SERVFAIL {TIMES}2  —  answers: 0"]
    query = parse_qs(urlsplit(page.url).query)
    assert (query["tool"], query["r"], query["y"]) == (["dns"], [servers["dns"]], ["A"])
    page.emulate_media(color_scheme="dark")
    both_widths(page, "probes-dns")


def test_http_timings_a_stacked_bar_per_request_and_the_statuses(
    page: Any, servers: dict[str, Any]
) -> None:
    base = f"http://127.0.0.1:{servers['ports']['open']}"
    start_tool(page, "http", f"{base}/", {"#method": "GET", "#count": "6", "#interval": "0.2"})
    start_tool(page, "http", f"{base}/moved", {"#method": "HEAD", "#count": "3"})
    start_tool(page, "http", f"https://127.0.0.1:{servers['ports']['tls']}/", {"#count": "4"})
    p = wait_panel_snapshot(page, "p.ended && !p.stopVisible && p.timings.bars[0] === 6", 0)
    assert (p["tool"], p["display"], p["state"]) == ("http", "http-timings", "ok")
    timings = p["timings"]
    # each bar: its phases (no TLS over http), stacked
    assert all(set(parts) <= {"connect", "first_byte", "rest"} and "first_byte" in parts
               for parts in timings["parts"][0])  # fmt: skip
    summary = timings["summary"][0]
    assert f"status 200 {TIMES}6" in summary and "avg ms: connect" in summary
    assert p["chart"]["points"] == 6
    moved = wait_panel_snapshot(page, "p.ended && !p.stopVisible && p.timings.bars[0] === 3", 1)
    assert f"status 301 {TIMES}3" in moved["timings"]["summary"][0]
    assert f"-> {base}/" in moved["text"]  # reported, not followed
    tls = wait_panel_snapshot(page, "p.ended && !p.stopVisible && p.timings.bars[0] === 4", 2)
    # over TLS every bar has its handshake, verified against the test's own CA
    assert all("tls" in parts for parts in tls["timings"]["parts"][0]), tls["timings"]
    assert "TLS" in tls["timings"]["summary"][0] and tls["state"] == "ok"
    # the CSV's columns are the display kind's: each phase its own column
    with page.expect_download() as download:
        page.click(".panel >> nth=0 >> button.export-csv")
    header = Path(download.value.path()).read_text().splitlines()[0].split(",")
    assert {"status", "timings.connect", "timings.first_byte", "timings.total"} <= set(header)
    SCREENSHOTS.mkdir(exist_ok=True)  # the docs' picture (docs/http-panel.png is one)
    page.locator(".panel").nth(2).screenshot(path=str(SCREENSHOTS / "probes-http-panel.png"))
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size(DESKTOP)
        page.wait_for_timeout(150)  # the charts redraw in the scheme's colours (chart.js)
        both_widths(page, f"probes-http-{scheme}")
