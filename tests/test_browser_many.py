"""Many targets at once, in a real chromium against the real ``twistd pingu``:
the page paces its starts to the limits it read from ``/pingu-info.json``
(web/start-queue.js), so twenty targets typed at once all run, none refused
and no socket reset; what may never run at once is said before anything
starts. Real ping to 127.0.0.1 … 127.0.0.20 (all loopback).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

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

DESKTOP = {"width": 1280, "height": 900}

TWENTY = " ".join(f"127.0.0.{i}" for i in range(1, 21))

browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    # the defaults: 20 runs, 10 starts a second, 8 handshakes per client
    with PinguServer(tmp_path_factory.mktemp("many")) as s:
        yield s


@pytest.fixture
def page(browser: Any, server: PinguServer) -> Iterator[Any]:
    ctx = hooked_context(browser, viewport=DESKTOP)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.console = ConsoleWatch(page)  # type: ignore[attr-defined]
    open_page(page, server.http_url)
    yield page
    ctx.close()


def type_targets(page: Any, targets: str, count: Optional[int], interval: float) -> None:
    page.fill("#count", "" if count is None else str(count))
    page.fill("#interval", str(interval))
    page.fill("#target", targets)
    page.press("#target", "Enter")


ALL_DONE_JS = """(n) => {
  const panels = window.pinguTest.snapshot().panels;
  return panels.length === n && panels.every((p) => p.ended);
}"""


def test_twenty_targets_typed_at_once_all_run(page: Any, server: PinguServer) -> None:
    type_targets(page, TWENTY, count=3, interval=0.2)
    # more than the 10 starts a second and 8 handshakes allow at once: some wait, visibly
    page.wait_for_function("() => window.pinguTest.snapshot().panels.some((p) => p.waiting)")
    assert "waiting their turn" in page.inner_text("#runs-title")
    assert "queued · #" in page.inner_text(".panel[data-state=queued] .badge")
    screenshot(page, "many-queued", full_page=False)
    page.wait_for_function(ALL_DONE_JS, arg=20, timeout=30_000)
    state = snapshot(page)
    for panel in state["panels"]:
        source = panel["sources"][0]
        # each one ran: ping's three replies and a normal close, no refusal, no reset
        assert source["types"].get("reply") == 3, (panel["target"], source)
        assert source["types"].get("error") is None, (panel["target"], source)
        assert source["close"]["code"] == 1000, (panel["target"], source["close"])
    assert state["form"]["refusals"] == []
    assert "refused" not in server.output()
    assert page.console.errors == []


def test_more_than_may_ever_run_at_once_is_said_before_anything_starts(page: Any) -> None:
    many = " ".join(f"127.0.0.{i}" for i in range(1, 23))
    type_targets(page, many, count=None, interval=0.2)  # until stopped: 2 would never start
    page.wait_for_selector("#form-error:not([hidden])")
    error = page.inner_text("#form-error")
    assert "22 runs at once" in error and "at most 20" in error and "2 fewer" in error
    assert snapshot(page)["panels"] == []


def test_runs_past_the_per_client_limit_start_as_earlier_ones_end(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A server with tighter limits (5 runs, 2 starts a second): the page
    reads them and twelve targets of three pings each still all run, at most
    five at a time, the others starting as earlier ones end."""
    args = ("--max-runs-per-client", "5", "--max-starts-per-second", "2")
    with PinguServer(tmp_path_factory.mktemp("tight"), args=args) as tight:
        ctx = hooked_context(browser, viewport=DESKTOP)
        page = ctx.new_page()
        console = ConsoleWatch(page)
        open_page(page, tight.http_url)
        twelve = " ".join(f"127.0.0.{i}" for i in range(1, 13))
        type_targets(page, twelve, count=3, interval=0.2)
        most_live = page.evaluate(
            """() => new Promise((resolve) => {
              let most = 0;
              const look = () => {
                const panels = window.pinguTest.snapshot().panels;
                const live = panels.filter((p) => p.active && !p.waiting).length;
                most = Math.max(most, live);
                if (panels.length === 12 && panels.every((p) => p.ended)) resolve(most);
                else setTimeout(look, 20);
              };
              look();
            })"""
        )
        assert most_live <= 5
        state = snapshot(page)
        replies = [p["sources"][0]["types"].get("reply") for p in state["panels"]]
        assert replies == [3] * 12, state["panels"]
        assert state["form"]["refusals"] == []
        assert "refused" not in tight.output()
        assert console.errors == []
        ctx.close()
