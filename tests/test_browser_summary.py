"""The summary of every run (web/summary.js) in a real chromium against the
real ``twistd pingu``: live rows, sorting by a column, a row that brings its
panel into view, one CSV of every run. Real ping to loopback addresses.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.browser import (
    ConsoleWatch,
    hooked_context,
    launched_chromium,
    open_page,
    screenshot,
    snapshot,
)
from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")

browser = pytest.fixture(scope="module")(launched_chromium)

TARGETS = ["127.0.0.3", "127.0.0.1", "::1", "127.0.0.2"]
COLUMNS = ["Target", "Tool", "Node", "State", "Sent", "Loss %", "Last ms", "Avg ms", "P95 ms"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    with PinguServer(tmp_path_factory.mktemp("summary")) as s:
        yield s


def rows(page: Any) -> list[list[str]]:
    return snapshot(page)["summary"]["rows"]


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 700}, {"width": 390, "height": 844}]
)
def test_one_summary_of_every_run(browser: Any, server: PinguServer, viewport: dict) -> None:
    ctx = hooked_context(browser, viewport=viewport, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    console = ConsoleWatch(page)
    open_page(page, server.http_url)
    page.fill("#count", "6")
    page.fill("#interval", "0.2")
    page.fill("#target", " ".join(TARGETS))
    page.press("#target", "Enter")
    # live: the rows' Sent counts grow while the runs go on
    page.wait_for_function(
        "() => window.pinguTest.snapshot().summary.rows.some((r) => Number(r[4]) >= 2)"
    )
    assert snapshot(page)["summary"]["shown"]
    head = page.locator(".summary-table thead th").all_inner_texts()
    assert head[: len(COLUMNS)] == COLUMNS
    assert page.is_hidden(".summary-table thead th[data-key=node]")  # no nodes in this mode
    page.wait_for_function(
        "() => window.pinguTest.snapshot().panels.every((p) => p.ended)"
        " && window.pinguTest.snapshot().summary.rows.every((r) => r[3] === 'done')"
    )
    table = rows(page)
    assert sorted(r[0] for r in table) == sorted(TARGETS)
    assert all(r[1] == "ping" and r[3] == "done" and r[5] == "0" for r in table), table
    # the summary's figures are the panels' own
    for panel in snapshot(page)["panels"]:
        row = next(r for r in table if r[0] == panel["target"])
        assert row[4] == str(panel["sources"][0]["figures"]["sent"])
    shot = screenshot(page, f"summary-{viewport['width']}", full_page=False)
    page.locator(".runs-summary").screenshot(path=str(shot))

    # sort by target, then the other way
    page.click(".summary-table th[data-key=target] button")
    assert [r[0] for r in rows(page)] == ["::1", "127.0.0.1", "127.0.0.2", "127.0.0.3"]
    page.click(".summary-table th[data-key=target] button")
    assert [r[0] for r in rows(page)] == ["127.0.0.3", "127.0.0.2", "127.0.0.1", "::1"]
    assert page.get_attribute(".summary-table th[data-key=target]", "aria-sort") == "descending"
    page.click(".summary-table th[data-key=avg] button")
    avgs = [float(r[7]) for r in rows(page)]
    assert avgs == sorted(avgs)

    # a row brings its panel into view (the last panel's)
    target = snapshot(page)["panels"][-1]["target"]
    page.evaluate("window.scrollTo(0, 0)")
    page.locator(".summary-table tbody tr", has_text=target).first.click()
    page.wait_for_function(
        """() => {
          const box = [...document.querySelectorAll('.panel')].pop().getBoundingClientRect();
          return box.top >= -1 && box.top < innerHeight / 2;
        }""",
    )

    # one CSV of every run: each target's six replies
    with page.expect_download() as download:
        page.click(".summary-csv")
    text = open(download.value.path(), encoding="utf-8").read()
    events = list(csv.DictReader(io.StringIO(text)))
    for t in TARGETS:
        replies = [e for e in events if e["target"] == t and e["type"] == "reply"]
        assert len(replies) == 6, (t, len(replies))
    assert console.errors == []
    ctx.close()


def test_the_summary_waits_for_a_second_run(browser: Any, server: PinguServer) -> None:
    ctx = hooked_context(
        browser,
    )
    page = ctx.new_page()
    open_page(page, server.http_url)
    page.fill("#count", "2")
    page.fill("#interval", "0.2")
    page.fill("#target", "127.0.0.1")
    page.press("#target", "Enter")
    page.wait_for_function("() => window.pinguTest.snapshot().panels[0]?.ended")
    assert not snapshot(page)["summary"]["shown"]  # one run: its panel says it all
    ctx.close()
