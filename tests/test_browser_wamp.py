"""The page in WAMP mode, in a real chromium, against a real Crossbar router
that serves the page itself, with two real ``twistd pingu`` nodes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests import crossbar
from tests.browser_helpers import ConsoleWatch, chromium_path, open_page, screenshot
from tests.crossbar import CrossbarRouter
from tests.test_wamp import SECRET, Node

pytestmark = [
    pytest.mark.browser,
    pytest.mark.wamp,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium (apt-get install chromium)"),
    pytest.mark.skipif(not crossbar.available(), reason="Crossbar venv missing: .ci/crossbar-venv"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[CrossbarRouter, dict[str, Node]]]:
    workdir = tmp_path_factory.mktemp("wamp-page")
    with CrossbarRouter(workdir, SECRET) as router:
        nodes = {name: Node(workdir, router.url, name) for name in ("north", "south")}
        for node in nodes.values():
            node.wait_joined()
        yield router, nodes
        for node in nodes.values():
            node.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        launched.close()


def wait_nodes(page: Any, names: list[str]) -> None:
    for name in names:
        page.wait_for_selector(f"#node-list input[value='{name}']", timeout=15_000)


def start(page: Any, target: str, nodes: list[str], count: str = "", interval: str = "0.2"):
    page.fill("#target", target)
    page.fill("#count", count)
    page.fill("#interval", interval)
    for box in page.query_selector_all("#node-list input"):
        # the checkbox is styled away behind its label chip: click the chip
        if (box.get_attribute("value") in nodes) != box.is_checked():
            page.click(f"label[for='{box.get_attribute('id')}']")
    page.press("#target", "Enter")


def test_two_nodes_side_by_side_from_the_routers_own_page(browser, cluster):
    router, nodes = cluster
    page = browser.new_page()
    console = ConsoleWatch(page)
    open_page(page, router.http_url)
    assert page.evaluate("document.body.dataset.mode") == "wamp"
    wait_nodes(page, ["north", "south"])
    start(page, "127.0.0.1", ["north", "south"], count="5")
    # live: replies from both nodes while the runs go on
    page.wait_for_function(
        "window.pingu.panels.length === 1 && "
        "window.pingu.panels[0].el.querySelectorAll('.line.reply').length >= 4",
        timeout=15_000,
    )
    screenshot(page, "wamp-01-two-nodes-running")
    page.wait_for_function("window.pingu.panels.every(p => !p.active)", timeout=20_000)
    text = page.text_content(".panel")
    assert "north" in text and "south" in text
    assert page.locator(".panel .line.reply").count() == 10  # five from each node
    series = page.evaluate("window.pingu.panels[0].chart.series.length")
    assert series >= 3  # x, and one RTT series per node
    screenshot(page, "wamp-02-two-nodes-done")
    assert console.errors == []
    page.close()


def test_a_second_browser_joins_the_same_run(browser, cluster):
    router, nodes = cluster
    first = browser.new_page()
    open_page(first, router.http_url)
    wait_nodes(first, ["north"])
    start(first, "127.0.0.1", ["north"])  # until stopped
    first.wait_for_function(
        "window.pingu.panels[0] && "
        "window.pingu.panels[0].el.querySelectorAll('.line.reply').length >= 3",
        timeout=15_000,
    )
    assert len(nodes["north"].children()) == 1
    second = browser.new_page()
    open_page(second, router.http_url)
    wait_nodes(second, ["north"])
    start(second, "127.0.0.1", ["north"])
    # the backlog at once (the replies from before it came), then live
    second.wait_for_function(
        "window.pingu.panels[0] && "
        "window.pingu.panels[0].el.querySelectorAll('.line.reply').length >= 3",
        timeout=5_000,
    )
    before = second.locator(".panel .line.reply").count()
    second.wait_for_function(
        f"window.pingu.panels[0].el.querySelectorAll('.line.reply').length > {before}",
        timeout=5_000,
    )
    assert len(nodes["north"].children()) == 1  # still one ping for both pages
    seqs = second.evaluate(
        "[...window.pingu.panels[0].el.querySelectorAll('.line.reply')]"
        ".map(l => l.textContent.match(/icmp_seq=(\\d+)/)[1] * 1)"
    )
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate
    screenshot(second, "wamp-03-joined-shared-run")
    first.close()
    second.close()
    until = time.monotonic() + 5
    while nodes["north"].children() and time.monotonic() < until:
        time.sleep(0.05)
    assert nodes["north"].children() == []  # both pages gone: the run ended
