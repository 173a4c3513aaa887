"""traceroute and mtr in the page, in a real (headless) chromium against the
real ``twistd pingu``: the tool selector and its fields, the link, the hop
tables as recorded events arrive, the export; and, once the server has the
tools (``pingu/tools/traceroute.py``, ``mtr.py``), the real tools to 127.0.0.1.

Recorded events reach the page two ways: through its own WebSocket source
from a stand-in for ``/ws`` (Playwright's ``route_web_socket``: the request the
page sends is checked too), and through ``pinguTest.feed``.  Screenshots at
desktop and phone widths go to ``screenshots/``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.harness.browser import (
    end_event,
    hops_state,
    launched_chromium,
    mtr_rounds,
    mtr_start,
    numbered,
    open_page,
    screenshot,
    start_tool,
    traceroute_events,
    wait_hops,
    watched_page,
)
from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    with PinguServer(tmp_path_factory.mktemp("tools")) as s:
        yield s


class FakeWs:
    """A stand-in for ``/ws``: keeps each connection and the request it sent."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.routes: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        page.route_web_socket(re.compile(r"/ws(/\w+)?$"), self._connect)

    def _connect(self, ws: Any) -> None:
        self.routes.append(ws)
        ws.on_message(lambda message: self.requests.append(json.loads(message)))

    def wait_request(self, count: int = 1) -> dict[str, Any]:
        for _ in range(200):
            if len(self.requests) >= count:
                return self.requests[count - 1]
            self.page.wait_for_timeout(25)
        raise AssertionError("the page sent no request")

    def send(self, *events: dict[str, Any], index: int = -1) -> None:
        for event in events:
            self.routes[index].send(json.dumps(event))

    def close(self, code: int = 1000, reason: str = "", index: int = -1) -> None:
        self.routes[index].close(code=code, reason=reason)


@pytest.fixture
def page(browser: Any, server: PinguServer) -> Iterator[Any]:
    with watched_page(browser, DESKTOP, 15_000, accept_downloads=True) as p:
        p.base_url = server.http_url
        yield p


def test_tool_selector_shows_each_tools_fields_bounded_by_the_limits(
    page: Any, server: PinguServer
) -> None:
    open_page(page, page.base_url)
    limits = page.evaluate("fetch('pingu-info.json').then((r) => r.json())")["limits"]

    def visible() -> list[str]:
        fields = ("count", "interval", "max-hops", "queries", "wait", "size")
        return [i for i in fields if page.is_visible(f"#{i}")]

    assert page.is_checked("#tool-ping")
    assert visible() == ["count", "interval", "size"]
    page.click("label[for=tool-traceroute]")
    assert visible() == ["max-hops", "queries", "wait", "size"]
    assert page.get_attribute("#max-hops", "max") == str(limits.get("max_hops", 255))
    page.click("label[for=tool-mtr]")
    assert visible() == ["count", "interval", "max-hops", "size"]
    assert page.text_content("label[for=count]") == "Rounds"
    # out of bounds: said by the page before any request
    page.fill("#max-hops", "999")
    page.fill("#target", "127.0.0.1")
    page.press("#target", "Enter")
    assert "Max hops must be between 1 and" in page.text_content("#form-error")
    assert page.evaluate("window.pinguTest.snapshot().form.invalid") == ["max-hops"]
    page.click("label[for=tool-ping]")
    assert page.text_content("label[for=count]") == "Count"
    assert page.get_attribute("#count", "max") == str(limits["max_count"])
    screenshot(page, "tools-01-form")


def test_an_old_link_without_a_tool_is_ping(page: Any) -> None:
    open_page(page, page.base_url + "?t=127.0.0.1&c=2&i=0.2")
    assert page.is_checked("#tool-ping")
    panel = wait_hops(page, "h.ended")
    assert panel["tool"] == "ping" and panel["hops"] is None and panel["table"] is None
    assert "tool" not in parse_qs(urlsplit(page.url).query)


def test_traceroute_panel_fills_row_by_row(page: Any) -> None:
    ws = FakeWs(page)
    open_page(page, page.base_url)
    start_tool(page, "traceroute", "10.0.2.2", {"#max-hops": "5", "#queries": "3"})
    assert ws.wait_request() == {
        "target": "10.0.2.2",
        "tool": "traceroute",
        "max_hops": 5,
        "queries": 3,
    }
    events = numbered(traceroute_events())
    ws.send(*events[:2])
    h = wait_hops(page, "h.state === 'running'")
    assert h["table"]["rows"] == [] and "Tracing the route to 10.0.2.2" in h["text"]
    assert h["table"]["columns"] == ["#", "Address", "RTT 1", "RTT 2", "RTT 3"]
    for count, event in enumerate(events[2:5], 1):
        ws.send(event)
        h = wait_hops(page, f"h.table.rows.length === {count}")
    rows = h["table"]["rows"]
    assert rows[0] == ["1", "10.0.0.2", "0.050", "0.060", "0.070"]
    assert rows[1] == ["2", "*", "*", "*", "*"]  # a hop that never answered
    assert rows[2] == ["3", "10.0.2.2", "0.210", "*", "0.230"]  # one lost probe
    assert [r["rtt_ms"] for r in h["hops"][0]["rows"]][2] == [0.21, None, 0.23]
    assert page.locator(".hop-table td.lost").count() == 5
    screenshot(page, "tools-02-traceroute-running")
    ws.send(events[5])
    ws.close(1000, "traceroute completed")
    h = wait_hops(page, "h.ended && h.state === 'ok'")
    assert h["badge"] == "done" and h["table"]["note"] == "3 hops"
    query = parse_qs(urlsplit(page.url).query)
    assert query["tool"] == ["traceroute"] and query["m"] == ["5"] and query["q"] == ["3"]
    screenshot(page, "tools-03-traceroute-done")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "tools-04-traceroute-phone")

    with page.expect_download() as csv_download:
        page.click(".panel button.export-csv")
    assert csv_download.value.suggested_filename.startswith("pingu-traceroute-10.0.2.2-")
    rows = list(csv.DictReader(io.StringIO(csv_download.value.path().read_text(encoding="utf-8"))))
    assert {r["tool"] for r in rows} == {"traceroute"}
    hops = [r for r in rows if r["type"] == "hop"]
    assert [(r["hop"], r["address"]) for r in hops] == [
        ("1", "10.0.0.2"),
        ("2", ""),
        ("3", "10.0.2.2"),
    ]
    with page.expect_download() as json_download:
        page.click(".panel button.export-json")
    body = json.loads(json_download.value.path().read_text(encoding="utf-8"))
    assert body["tool"] == "traceroute" and body["request"]["tool"] == "traceroute"
    assert [r["address"] for r in body["sources"][0]["hops"]["rows"]] == [
        "10.0.0.2",
        None,
        "10.0.2.2",
    ]


def test_mtr_panel_updates_each_round_and_marks_the_worst_hop(page: Any) -> None:
    ws = FakeWs(page)
    open_page(page, page.base_url)
    start_tool(page, "mtr", "10.0.2.2", {"#count": "6", "#interval": "1"})
    assert ws.wait_request() == {"target": "10.0.2.2", "tool": "mtr", "count": 6, "interval": 1}
    ws.send(mtr_start())
    rounds = mtr_rounds(6)
    ws.send(*rounds[0])
    h = wait_hops(page, "h.table.rows.length === 3")
    cols = h["table"]["columns"]
    assert cols == ["#", "Host", "Loss %", "Sent", "Last", "Avg", "Best", "Worst", "StDev", "RTT"]
    assert [r[cols.index("Sent")] for r in h["table"]["rows"]] == ["1", "1", "1"]
    assert h["table"]["worst"] == [3]  # no loss yet: the highest average
    for r, events in enumerate(rounds[1:3], 2):
        ws.send(*events)
        h = wait_hops(page, f"h.hops[0].rounds === {r}")
    rows = h["table"]["rows"]
    assert [row[cols.index("Loss %")] for row in rows] == ["0", "33", "0"]
    assert h["table"]["worst"] == [2] and h["table"]["worstMarked"] == [2]
    assert h["table"]["bars"] == 3 and "round 3" in h["table"]["note"]
    assert page.locator("tr[data-hop='2'] .worst-tag").is_visible()
    screenshot(page, "tools-05-mtr-running")
    for events in rounds[3:]:
        ws.send(*events)
    ws.send(end_event("mtr"))
    ws.close(1000, "mtr completed")
    h = wait_hops(page, "h.ended")
    assert h["hops"][0]["rows"][1]["sent"] == 6 and h["hops"][0]["rows"][1]["received"] == 4
    assert parse_qs(urlsplit(page.url).query)["tool"] == ["mtr"]
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "tools-06-mtr-phone")


def test_recorded_events_fed_to_a_panel(page: Any) -> None:
    """pinguTest.feed: hops into a panel whose connection brings nothing."""
    ws = FakeWs(page)
    open_page(page, page.base_url + "?t=10.0.2.2&tool=traceroute")
    ws.wait_request()
    assert page.is_checked("#tool-traceroute")
    events = numbered(traceroute_events())
    page.evaluate("(events) => window.pinguTest.feed(0, 0, events)", events[:4])
    h = wait_hops(page, "h.table.rows.length === 2")
    assert [r[1] for r in h["table"]["rows"]] == ["10.0.0.2", "*"]
    page.evaluate("(events) => window.pinguTest.feed(0, 0, events)", events[4:])
    h = wait_hops(page, "h.table.rows.length === 3")
    assert hops_state(page)["hops"][0]["rows"][2]["address"] == "10.0.2.2"


@pytest.mark.parametrize("tool", ["traceroute", "mtr"])
def test_real_tool_to_loopback(page: Any, tool: str) -> None:
    """End to end: the real twistd runs the real tool to 127.0.0.1 (one hop)."""
    open_page(page, page.base_url)
    fields = {"#max-hops": "3"} if tool == "traceroute" else {"#count": "3", "#interval": "1"}
    if tool == "traceroute":
        fields["#wait"] = "1"
    start_tool(page, tool, "127.0.0.1", fields)
    h = wait_hops(page, "h.ended && h.state !== 'running'", timeout=30_000)
    assert h["state"] == "ok", h
    rows = h["hops"][0]["rows"]
    assert [r["address"] for r in rows] == ["127.0.0.1"]
    if tool == "mtr":
        assert rows[0]["sent"] == 3 and rows[0]["loss_pct"] == 0
        assert h["table"]["bars"] == 1
    else:
        assert all(isinstance(v, float) for v in rows[0]["rtt_ms"])
    screenshot(page, f"tools-07-real-{tool}")
