"""The page in WAMP mode, in a real chromium, against a real Crossbar router
(``tests/harness/crossbar.py``) that serves the page itself, with two real
``twistd pingu`` nodes pinging 127.0.0.1.

Also the faults: a page whose connection to the router drops (through a TCP
proxy the test cuts) reconnects, subscribes again and fills the gap from the
backlog; a router that restarts under a run is survived by the page; a node
behind its load is tried again, each wait said, then shown refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import crossbar
from tests.harness.browser import (
    ConsoleWatch,
    TcpProxy,
    chromium_path,
    hooked_context,
    open_page,
    panel_state,
    screenshot,
    snapshot,
    wait_ended,
    wait_hops,
    wait_panel,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.wamp,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium (apt-get install chromium)"),
    crossbar.needed,
]

DESKTOP = {"width": 1280, "height": 900}
#: What chromium logs, as an error, for each reconnection attempt that fails.
RECONNECT_NOISE = "WebSocket connection to"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("wamp-page")
    router = crossbar.Router(workdir)
    # the cut-able way to the router (TcpProxy), which a link may name
    router.proxy_port = crossbar.free_port()
    crossbar.list_page_routers(router, [f"ws://127.0.0.1:{router.proxy_port}/ws"])
    with router:
        nodes = {name: crossbar.Node(workdir, router.url, name) for name in ("north", "south")}
        try:
            for node in nodes.values():
                node.wait_joined()
            yield router, nodes
        finally:
            for node in nodes.values():
                node.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        launched.close()


class Pages:
    """Pages in their own browser contexts; none may log an error (but the
    failed reconnection attempts where a test cuts the connection)."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.opened: list[tuple[Any, ConsoleWatch, bool]] = []

    def open(self, url: str, noisy: bool = False) -> Any:
        context = hooked_context(self.browser, viewport=DESKTOP)
        page = context.new_page()
        page.set_default_timeout(15_000)
        self.opened.append((context, ConsoleWatch(page), noisy))
        open_page(page, url)
        assert page.evaluate("document.body.dataset.mode") == "wamp"
        return page

    def close(self) -> list[str]:
        errors = []
        for context, console, noisy in self.opened:
            errors += [e for e in console.errors if not (noisy and RECONNECT_NOISE in e)]
            context.close()
        return errors


@pytest.fixture
def pages(browser: Any) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    assert opened.close() == [], "a page logged errors"


def wait_nodes(page: Any, names: list[str]) -> None:
    for name in names:
        page.wait_for_selector(f"#node-list input[value='{name}']", timeout=15_000)


def start(page: Any, target: str, nodes: list[str], count: str = "", interval: str = "0.2"):
    wait_nodes(page, nodes)
    page.fill("#target", target)
    page.fill("#count", count)
    page.fill("#interval", interval)
    for box in page.query_selector_all("#node-list input"):
        # the checkbox is styled away behind its label chip: click the chip
        if (box.get_attribute("value") in nodes) != box.is_checked():
            page.click(f"label[for='{box.get_attribute('id')}']")
    page.press("#target", "Enter")


def reply_seqs(page: Any, index: int = 0) -> list[int]:
    return page.evaluate(
        "(i) => [...document.querySelectorAll('#panels > .panel')[i]"
        ".querySelectorAll('.line.reply')]"
        ".map(l => +l.textContent.match(/icmp_seq=(\\d+)/)[1])",
        index,
    )


def wait_children(node: crossbar.Node, count: int, timeout: float = 10.0) -> None:
    until = time.monotonic() + timeout
    while len(node.children()) != count:
        assert time.monotonic() < until, f"{node.name} has {node.children()} children"
        time.sleep(0.05)


def test_two_nodes_side_by_side_from_the_routers_own_page(cluster, pages):
    router, nodes = cluster
    page = pages.open(router.http_url)
    assert "WAMP" in page.text_content("#conn")
    start(page, "127.0.0.1", ["north", "south"], count="5")
    # live: replies from both nodes, in one panel, while the runs go on
    live = wait_panel(page, "s.state === 'running' && s.replyLines >= 4 && s.points >= 4")
    assert not live["ended"]
    screenshot(page, "wamp-01-two-nodes-running")
    wait_ended(page, timeout=20_000)
    assert page.locator(".panel").count() == 1
    assert page.locator(".panel .line.reply").count() == 10  # five from each node
    # one statistics group and one chart series per node, each line tagged
    groups = page.locator(".panel .stat-node").all_text_contents()
    assert [g.split()[0] for g in groups] == ["north", "south"]  # each with its address
    assert snapshot(page)["panels"][0]["chart"]["series"] == [
        "Time",
        "north",
        "south",
    ]
    assert [s["figures"]["received"] for s in snapshot(page)["panels"][0]["sources"]] == [5, 5]
    untagged = page.locator(".panel .line:not(.meta):not(:has(.node-tag))").count()
    assert untagged == 0  # the two lines of each summary included
    assert page.locator(".panel .line.summary").count() == 4
    screenshot(page, "wamp-02-two-nodes-done")


def test_a_refused_target_is_shown_next_to_the_form(cluster, pages):
    router, _ = cluster
    page = pages.open(router.http_url)
    start(page, "224.0.0.1", ["north"])
    state = wait_ended(page)
    assert state["badge"] == "refused"
    assert "multicast" in state["notice"] and "4403" in state["notice"]
    assert page.is_visible("#form-refusals")
    assert "multicast" in page.text_content("#form-refusals")
    screenshot(page, "wamp-04-refused")


def test_a_second_browser_joins_the_same_run_then_leaves_it(cluster, pages):
    router, nodes = cluster
    first = pages.open(router.http_url)
    start(first, "127.0.0.1", ["north"])  # until stopped
    wait_panel(first, "s.replyLines >= 3")
    assert len(nodes["north"].children()) == 1
    second = pages.open(router.http_url)
    start(second, "127.0.0.1", ["north"])
    # the backlog at once (the replies from before it came), then live
    joined = wait_panel(second, "s.replyLines >= 3", timeout=5_000)
    wait_panel(second, f"s.replyLines > {joined['replyLines']}", timeout=5_000)
    assert len(nodes["north"].children()) == 1  # still one ping for both pages
    seqs = reply_seqs(second)
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate
    assert "Joined the run going on north" in panel_state(second)["text"]
    assert "Joined" not in panel_state(first)["text"]  # the first page started it
    screenshot(second, "wamp-03-joined-shared-run")

    # the second page stops: only its own interest; the first page's run goes on
    second.click(".panel button.stop")
    left = wait_ended(second, timeout=5_000)
    assert left["badge"] == "stopped"
    assert "another viewer keeps the run going on north" in left["notice"]
    before = panel_state(first)["replyLines"]
    wait_panel(first, f"s.state === 'running' && s.replyLines > {before}")
    # the last viewer's Stop: SIGINT, so ping's statistics still come
    first.click(".panel button.stop")
    done = wait_ended(first)
    assert done["badge"] == "stopped" and done["summaryLines"] == 2
    wait_children(nodes["north"], 0)


def test_a_late_joiner_of_a_long_run_gets_what_the_node_still_keeps(cluster, pages, tmp_path):
    """The backlog is bounded (``--max-backlog``): a page that joins late
    starts from the oldest event the node still has, says so, and goes live."""
    router, _ = cluster
    east = crossbar.Node(tmp_path, router.url, "east", args=("--max-backlog", "5"))
    try:
        east.wait_joined()
        first = pages.open(router.http_url)
        start(first, "127.0.0.1", ["east"])  # until stopped
        wait_panel(first, "s.replyLines >= 8")
        late = pages.open(router.http_url)
        start(late, "127.0.0.1", ["east"])
        state = wait_panel(late, "s.state === 'running' && s.replyLines >= 6")
        assert "no longer kept by node east" in state["text"]
        assert state["avg"] != "—"
        seqs = reply_seqs(late)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] > 1
        screenshot(late, "wamp-05-late-joiner")
        first.keyboard.press("Escape")
        late.keyboard.press("Escape")
        wait_ended(first)
        wait_ended(late)
    finally:
        east.stop()


def test_a_dropped_connection_reconnects_and_fills_the_gap(cluster, pages):
    """The router connection of one page is cut while another page keeps the
    shared run alive: autobahn reconnects, the page subscribes again and the
    backlog fills what it missed, without a gap or a duplicate."""
    router, nodes = cluster
    keeper = pages.open(router.http_url)
    start(keeper, "127.0.0.1", ["north"])  # until stopped
    wait_panel(keeper, "s.replyLines >= 1")
    with TcpProxy(router.port, router.proxy_port) as proxy:
        page = pages.open(f"{router.http_url}?router=ws://127.0.0.1:{proxy.port}/ws", noisy=True)
        start(page, "127.0.0.1", ["north"])
        before = wait_panel(page, "s.state === 'running' && s.replyLines >= 3")

        proxy.drop(hold=1.5)  # about seven replies go by while the page is away
        away = wait_panel(page, "s.state === 'reconnecting'", timeout=5_000)
        assert away["badge"] == "reconnecting…" and away["stopVisible"]
        assert page.get_attribute("#conn", "data-state") == "error"
        assert "connection lost" in page.text_content("#conn")
        screenshot(page, "wamp-06-reconnecting")

        back = wait_panel(page, "s.state === 'running' && s.text.includes('Reconnected')")
        assert page.get_attribute("#conn", "data-state") == "ok"
        assert back["replyLines"] >= before["replyLines"] + 6  # the gap, filled at once
        wait_panel(page, f"s.replyLines > {back['replyLines']}")  # and live again
        assert proxy.connections >= 2
        seqs = reply_seqs(page)
        assert seqs == list(range(1, len(seqs) + 1)), seqs  # no gap, no duplicate
        assert len(nodes["north"].children()) == 1
        screenshot(page, "wamp-07-reconnected")
    keeper.click("#stop-all")
    wait_ended(keeper)
    wait_children(nodes["north"], 0)


def test_the_page_survives_a_router_restart(cluster, pages):
    """The router goes: the page says so and reconnects by itself; the nodes
    kept their runs (--router-grace), so the page follows the same runs again,
    the gap filled from the backlog by n: every reply once, none missing."""
    router, nodes = cluster
    page = pages.open(router.http_url, noisy=True)
    start(page, "127.0.0.1", ["north", "south"])  # until stopped
    before = wait_panel(page, "s.state === 'running' && s.replyLines >= 4")
    router.stop()
    wait_panel(page, "s.state === 'reconnecting'", timeout=10_000)
    assert "connection lost" in page.text_content("#conn")
    screenshot(page, "wamp-08-router-down")
    router.start()
    for node in nodes.values():
        node.wait_joined(count=2)
    wanted = before["replyLines"] + 10
    after = wait_panel(
        page, f"s.state === 'running' && s.replyLines >= {wanted}", timeout=40_000
    )
    assert page.get_attribute("#conn", "data-state") == "ok"
    assert not after["ended"] and "ended while" not in after["notice"]
    screenshot(page, "wamp-09-after-router-restart")
    # each node's replies: every icmp_seq from 1 to the latest shown, once (the
    # statistics count distinct sequence numbers: a gap would count fewer)
    panel = snapshot(page)["panels"][0]
    for source in panel["sources"]:
        node = source["node"]
        reply = rf"{node}64 bytes from [^:]+: icmp_seq=(\d+)"
        seqs = [int(m) for m in re.findall(reply, panel["text"])]
        assert seqs and source["types"].get("reply", 0) >= 10, source
        assert source["figures"]["sent"] >= max(seqs), (source, seqs)
        assert source["figures"]["received"] == source["types"]["reply"], source
    page.keyboard.press("Escape")
    wait_ended(page)


def test_mtr_from_two_real_nodes_side_by_side(cluster, pages):
    """The real router and two real nodes run the real mtr to 127.0.0.1: the
    page shows one column group per vantage node, each updated every round."""
    router, _nodes = cluster
    page = pages.open(router.http_url)
    wait_nodes(page, ["north", "south"])
    page.click("label[for=tool-mtr]")
    page.fill("#count", "3")
    page.fill("#interval", "1")
    page.fill("#target", "127.0.0.1")
    for box in page.query_selector_all("#node-list input"):
        if not box.is_checked():
            page.click(f"label[for='{box.get_attribute('id')}']")
    page.press("#target", "Enter")
    h = wait_hops(page, "h.ended && h.state !== 'running'", timeout=40_000)
    assert h["tool"] == "mtr" and h["state"] == "ok", h
    assert sorted(source["node"] for source in h["hops"]) == ["north", "south"]
    for source in h["hops"]:
        rows = source["rows"]
        assert [r["address"] for r in rows] == ["127.0.0.1"], source
        assert rows[0]["sent"] == 3 and rows[0]["loss_pct"] == 0, source
    screenshot(page, "wamp-10-mtr-two-real-nodes")


def test_a_node_behind_its_load_is_tried_again_then_said_refused(cluster, pages, tmp_path):
    """A node over ``--max-lag`` (0.000001 s: no event loop meets it, see
    tests/test_wamp_overload.py) refuses every start with pingu.error.busy:
    the panel says each wait, tries again BUSY_RETRIES times, then shows the
    refusal (4503) and that it gave up; nothing is started."""
    from pingu.cli.retry import BUSY_RETRIES

    router, _ = cluster
    laggy = crossbar.Node(tmp_path, router.url, "laggy", args=("--max-lag", "0.000001"))
    try:
        laggy.wait_joined()
        page = pages.open(router.http_url)
        start(page, "127.0.0.1", ["laggy"], count="1")
        state = wait_ended(page, timeout=30_000)
        assert laggy.children() == []
    finally:
        laggy.stop()
    assert state["badge"] == "refused", state
    assert "still busy after 6 tries: giving up (busy, retry in 1 s)" in state["notice"], state
    assert "4503" in state["notice"], state
    text = page.inner_text("#panels")
    said = re.findall(r"Node laggy is busy \(busy, retry in 1 s\): trying again in [\d.]+ s", text)
    assert len(said) == BUSY_RETRIES, text
