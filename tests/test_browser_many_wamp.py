"""Many targets at once in WAMP mode, in a real chromium against a real
Crossbar router and a real ``twistd pingu`` node: the page asks the node for
its limits (``pingu.<node>.limits``) and paces its starts to them -- the
node's starts per second, its calls per second (three per start) and the
runs a client may watch -- so twenty targets typed at once all run, none
refused. Real ping to 127.0.0.1 … 127.0.0.20.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import crossbar
from tests.harness.browser import (
    ConsoleWatch,
    hooked_context,
    launched_chromium,
    open_page,
    snapshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.wamp, crossbar.needed]

pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1280, "height": 900}

browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("many-wamp")
    with crossbar.Router(workdir) as router:
        node = crossbar.Node(workdir, router.url, "north")
        try:
            node.wait_joined()
            yield router, node
        finally:
            node.stop()


def test_twenty_targets_typed_at_once_all_run_through_a_node(browser: Any, cluster: Any) -> None:
    router, node = cluster
    ctx = hooked_context(browser, viewport=DESKTOP)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    console = ConsoleWatch(page)
    open_page(page, router.http_url)
    page.wait_for_selector("#node-list input[value='north']")
    limits = page.evaluate("async () => (await import('./wamp.js')).limits('north')")
    assert limits["max_starts_per_second"] == 10 and limits["max_calls_per_second"] == 20
    page.fill("#count", "3")
    page.fill("#interval", "0.2")
    page.fill("#target", " ".join(f"127.0.0.{i}" for i in range(1, 21)))
    page.press("#target", "Enter")
    page.wait_for_function("() => window.pinguTest.snapshot().panels.some((p) => p.waiting)")
    page.wait_for_function(
        """() => {
          const panels = window.pinguTest.snapshot().panels;
          return panels.length === 20 && panels.every((p) => p.ended);
        }""",
        timeout=40_000,
    )
    state = snapshot(page)
    for panel in state["panels"]:
        source = panel["sources"][0]
        assert source["node"] == "north"
        assert source["types"].get("reply") == 3, (panel["target"], source)
        assert source["types"].get("error") is None, (panel["target"], source)
    assert state["form"]["refusals"] == []
    assert "refused" not in node.output()
    # the summary has a row per run, with its node
    page.wait_for_function(
        "() => window.pinguTest.snapshot().summary.rows.filter((r) => r[3] === 'done').length"
        " === 20"
    )
    assert {tuple(r[1:3]) for r in snapshot(page)["summary"]["rows"]} == {("ping", "north")}
    assert page.is_visible(".summary-table thead th[data-key=node]")
    assert console.errors == []
    ctx.close()
