"""The smoke chart in a real chromium against the real ``twistd pingu``.

A short real ping to 127.0.0.1 makes the panel; an hour of replies at 0.2 s
(18,000, with a congested stretch that loses 15%) is then handed to it
through the page's test hook, since no real ping gives an hour in seconds.
Screenshots in light and dark, desktop and phone, go to ``screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.browser import (
    ConsoleWatch,
    hooked_context,
    launched_chromium,
    open_page,
    screenshot,
    start_run,
    wait_ended,
)
from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

#: An hour at 0.2 s after the real run: 22 ms, a stretch at 38 ms, a
#: congested stretch (15% lost, up to 25 ms more), rare single losses.
AN_HOUR_JS = """(n) => {
  const t0 = window.pinguTest.snapshot().panels[0].chart.lastX + 1;
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const events = [];
  let lost = 0;
  for (let i = 0; i < n; i++) {
    const t = t0 + i * 0.2, seq = i + 10;
    const congested = i > 8000 && i < 9500;
    if ((congested && rnd() < 0.15) || rnd() < 0.004) {
      events.push({type: "timeout", seq, t, raw: `no answer yet for icmp_seq=${seq}`});
      lost += 1;
      continue;
    }
    const rtt = (i >= 6000 && i < 7500 ? 38 : 22) + (congested ? 25 * rnd() : 0)
      + 3 * rnd() + (rnd() < 0.05 ? 40 * rnd() : 0);
    const raw = `64 bytes from x: icmp_seq=${seq} time=${rtt.toFixed(2)} ms`;
    events.push({type: "reply", seq, rtt_ms: +rtt.toFixed(2), t, raw});
  }
  window.pinguTest.feed(0, 0, events);
  return lost;
}"""

CHART_JS = "window.pinguTest.snapshot().panels[0].chart"


browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    with PinguServer(tmp_path_factory.mktemp("smoke")) as s:
        yield s


def an_hour(
    browser: Any, server: PinguServer, viewport: dict, scheme: str = "light"
) -> tuple[Any, Any, int]:
    ctx = hooked_context(browser, viewport=viewport, color_scheme=scheme)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    console = ConsoleWatch(page)
    open_page(page, server.http_url)
    start_run(page, "127.0.0.1", count=3, interval=0.2)
    wait_ended(page)
    assert page.evaluate(CHART_JS)["view"] == "raw"  # three points: each one shown
    lost = page.evaluate(AN_HOUR_JS, 18_000)
    page.wait_for_function(f"() => {CHART_JS}.view === 'smoke' && {CHART_JS}.drawn > 100")
    return ctx, console, lost


def test_an_hour_is_drawn_as_smoke_and_its_raw_points_on_demand(
    browser: Any, server: PinguServer
) -> None:
    ctx, console, lost = an_hour(browser, server, DESKTOP)
    page = ctx.pages[0]
    chart = page.evaluate(CHART_JS)
    # an hour in 30 s buckets, each with its figures; every point and loss kept
    assert chart["bucketWidth"] == 30
    assert chart["buckets"] == chart["drawn"] <= 150
    assert chart["points"] == 18_003 - lost  # replies: points with an RTT
    smoke = chart["smoke"][0]
    assert sum(smoke["lost"]) == lost == chart["losses"]
    assert sum(smoke["replies"]) == chart["points"]
    # the congested stretch's buckets lose far more than the rest
    assert max(smoke["lost"]) >= 20 > sorted(smoke["lost"])[len(smoke["lost"]) // 2]
    assert page.is_visible(".panel .smoke-key")
    assert "lost per 30 s" in page.inner_text(".panel .loss-key")
    screenshot(page, "smoke-hour")

    # zoom in on ten minutes, then ask for the raw points: only those
    over = page.locator(".panel .u-over").bounding_box()
    assert over is not None
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.55, y, steps=5)
    page.mouse.up()
    zoom = page.evaluate(f"[{CHART_JS}.xMin, {CHART_JS}.xMax]")
    page.click(".panel .chart-view")
    raw = page.evaluate(CHART_JS)
    assert raw["view"] == "raw-range"
    in_range = page.evaluate(
        """([lo, hi]) => {
          const c = window.pinguTest.snapshot().panels[0].chart;
          return c.rawRange[0] === lo && c.rawRange[1] === hi;
        }""",
        zoom,
    )
    assert in_range
    # about 15% of 18,000: the stretch's points, not the hour's
    assert 1500 < raw["drawn"] < 4500, raw["drawn"]
    assert page.get_attribute(".panel .chart-view", "aria-pressed") == "true"
    screenshot(page, "smoke-raw-range")
    page.click(".panel .chart-view")
    assert page.evaluate(CHART_JS)["view"] == "smoke"
    assert console.errors == []
    ctx.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_smoke_fits_every_width_and_scheme(
    browser: Any, server: PinguServer, scheme: str, width: str
) -> None:
    ctx, console, _ = an_hour(browser, server, DESKTOP if width == "desktop" else PHONE, scheme)
    page = ctx.pages[0]
    box = page.locator(".panel .chart-wrap").bounding_box()
    assert box is not None and box["width"] <= (DESKTOP if width == "desktop" else PHONE)["width"]
    # the canvas is as wide as its panel: nothing sticks out
    canvas = page.locator(".panel .chart canvas").bounding_box()
    assert canvas is not None and canvas["x"] + canvas["width"] <= box["x"] + box["width"] + 1
    assert page.is_visible(".panel .chart-view")
    shot = screenshot(page, f"smoke-{width}-{scheme}", full_page=False)
    page.locator(".panel").first.screenshot(path=str(shot))
    assert console.errors == []
    ctx.close()
