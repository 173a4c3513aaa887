"""The page in WAMP mode with traceroute and mtr from two vantage nodes side by
side, and the backlog fetched page by page, in a real (headless) chromium.

The router is a stand-in: a small autobahn look-alike installed before the
page loads (``window.autobahn``, which the page's wamp.js uses when it is
there), with two nodes, ``north`` and ``south``, that answer ``start``,
``backlog(run, since)`` (at most ``max_backlog_page`` events above ``since``)
and ``stop``, and publish what the test hands them.  The page itself is
served by the real ``twistd pingu`` (its ``/pingu-info.json`` has the limits).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.browser import (
    end_event,
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

FAKE_ROUTER_JS = """
(() => {
  const router = (window.fakeRouter = { calls: [], runs: {}, topics: {}, preloaded: {} });
  Object.assign(router, { page: 1000, nodes: ["north", "south"] });
  const reply = (value) => new Promise((resolve) => setTimeout(() => resolve(value), 5));
  router.publish = (node, events) => {
    const run = router.runs[node];
    for (const e of events) {
      const event = { ...e, n: run.log.length + 1 };
      run.log.push(event);
      for (const fn of router.topics[run.topic] || []) fn([{ ...event }], {});
    }
  };
  router.preload = (node, events) => { router.preloaded[node] = events; };
  const since = (run, n) =>
    run.log.filter((e) => e.n > n).slice(0, router.page).map((e) => ({ ...e }));
  const session = {
    call(uri, args = [], kwargs = {}) {
      router.calls.push([uri, args, kwargs]);
      if (uri === "pingu.nodes") return reply([...router.nodes]);
      const [, node, what] = uri.split(".");
      if (what === "start") {
        const topic = `pingu.${node}.run.r-${node}`;
        const log = (router.preloaded[node] || []).map((e, i) => ({ ...e, n: i + 1 }));
        const run = (router.runs[node] = { topic, log, request: { target: args[0], ...kwargs } });
        return reply({ run: `r-${node}`, topic, backlog: since(run, 0) });
      }
      if (what === "backlog") return reply(since(router.runs[node], kwargs.since ?? args[1] ?? 0));
      if (what === "stop") return reply({ ending: false, viewers: 1 });
      if (what === "runs") return reply([]);
      return Promise.reject({ error: "wamp.error.no_such_procedure", args: [], kwargs: {} });
    },
    subscribe(topic, fn) {
      (router.topics[topic] = router.topics[topic] || []).push(fn);
      return reply({ topic, active: true });
    },
    unsubscribe(subscription) {
      subscription.active = false;
      return reply(true);
    },
  };
  window.autobahn = {
    Connection: class {
      constructor(options) { this.options = options; }
      open() { setTimeout(() => this.onopen(session, {}), 0); }
    },
  };
})();
"""


browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    # the page's fake router: a link may name it only when the server lists it
    args = ("--page-router", "ws://router.invalid/ws")
    with PinguServer(tmp_path_factory.mktemp("tools-wamp"), args=args) as s:
        yield s


@pytest.fixture
def page(browser: Any, server: PinguServer) -> Iterator[Any]:
    with watched_page(browser, DESKTOP, 15_000, init_script=FAKE_ROUTER_JS) as p:
        open_page(p, server.http_url + "?router=ws://router.invalid/ws")
        # a router the server did not list is refused: the page stays in its own
        # mode and no node list would ever come (say so, not a timeout on it)
        assert p.evaluate("document.body.dataset.mode") == "wamp", "the page refused the router"
        p.wait_for_selector("#node-list input[value=south]", state="attached")
        yield p


def publish(page: Any, node: str, events: list[dict[str, Any]]) -> None:
    page.evaluate("([node, events]) => window.fakeRouter.publish(node, events)", [node, events])


def wait_runs(page: Any, *nodes: str) -> None:
    page.wait_for_function(
        "(nodes) => nodes.every((n) => window.fakeRouter.runs[n] && "
        "window.fakeRouter.calls.some((c) => c[0] === `pingu.${n}.backlog`))",
        arg=list(nodes),
    )


def test_mtr_from_two_nodes_side_by_side(page: Any) -> None:
    start_tool(page, "mtr", "10.0.2.2", nodes=["north", "south"], fields={"#count": "5"})
    wait_runs(page, "north", "south")
    requests = page.evaluate("Object.values(window.fakeRouter.runs).map((r) => r.request)")
    assert requests == [{"target": "10.0.2.2", "tool": "mtr", "count": 5}] * 2
    north = mtr_rounds(4)
    south = mtr_rounds(
        4, hops=(("10.9.0.1", 0.3), ("10.9.1.1", 4.0), ("10.0.2.2", 6.5)), lossy=3, every=2
    )
    publish(page, "north", [mtr_start()])
    publish(page, "south", [mtr_start()])
    for r in range(4):
        publish(page, "north", north[r])
        publish(page, "south", south[r])
    h = wait_hops(page, "h.hops.every((s) => s.rounds === 4)")
    table = h["table"]
    assert [s["node"] for s in h["hops"]] == ["north", "south"]
    assert table["columns"].count("Host") == 2 and table["columns"].count("RTT") == 2
    assert page.locator(".hop-table .node-row th").all_text_contents() == ["north", "south"]
    assert table["worst"] == [2, 3]  # each node's own worst hop
    row3 = table["rows"][2]
    assert row3[1] == "10.0.2.2" and row3[10] == "10.0.2.2"
    assert table["bars"] == 6
    assert "north: round 4" in table["note"] and "south: round 4" in table["note"]
    screenshot(page, "tools-wamp-01-mtr-two-nodes")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "tools-wamp-02-mtr-two-nodes-phone")
    for node in ("north", "south"):
        publish(page, node, [end_event("mtr")])
    # the state is drawn at the frame after the end: wait for it, then see which
    h = wait_hops(page, "h.ended && h.state !== 'running'")
    assert h["state"] == "ok"


def test_traceroute_from_two_nodes(page: Any) -> None:
    start_tool(page, "traceroute", "10.0.2.2", nodes=["north", "south"], fields={"#queries": "2"})
    wait_runs(page, "north", "south")
    events = traceroute_events()
    publish(page, "north", events[:3])
    h = wait_hops(page, "h.hops[0].rows.length === 1 && h.hops[1].rows.length === 0")
    assert h["table"]["rows"][0][:2] == ["1", "10.0.0.2"] and h["table"]["rows"][0][5:] == [
        "",
        "",
        "",
        "",
    ]
    publish(page, "south", events)
    publish(page, "north", events[3:])
    # both nodes' last hops drawn (south may end before north's events are)
    h = wait_hops(page, "h.ended && h.hops.every((s) => s.rows.length === 3)")
    assert [r[1] for r in h["table"]["rows"]] == ["10.0.0.2", "*", "10.0.2.2"]
    screenshot(page, "tools-wamp-03-traceroute-two-nodes")


def test_a_long_backlog_is_fetched_page_by_page(page: Any) -> None:
    """A run joined late with 2401 events: start's page, then backlog from 1000 and 2000."""
    rounds = [e for r in mtr_rounds(800) for e in r]  # 2400 hop_stats
    backlog = numbered([mtr_start(), *rounds])
    page.evaluate("(events) => window.fakeRouter.preload('north', events)", backlog)
    start_tool(page, "mtr", "10.0.2.2", nodes=["north"], fields={})
    h = wait_hops(page, "h.hops[0].rounds === 800", timeout=20_000)
    calls = page.evaluate("window.fakeRouter.calls.filter((c) => c[0] === 'pingu.north.backlog')")
    assert [c[2]["since"] for c in calls] == [1000, 2000]
    snap = page.evaluate("window.pinguTest.snapshot().panels[0].sources[0]")
    assert snap["events"] == 2400 + 1
    assert "no longer kept" not in h["text"]
    publish(page, "north", [end_event("mtr")])
    h = wait_hops(page, "h.ended")
    assert page.evaluate("window.pinguTest.snapshot().panels[0].sources[0].events") == 2402
