"""The page in a real (headless) chromium against the real ``twistd pingu``.

Real ping to 127.0.0.1 and ::1 for the live runs; the FAKE ping's "hostile"
scenario for output that must stay text.  Screenshots of the main states go
to ``screenshots/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.harness.browser import (
    WEB,
    ConsoleWatch,
    hooked_context,
    launched_chromium,
    open_page,
    panel_state,
    screenshot,
    snapshot,
    start_run,
    wait_ended,
    wait_panel,
)
from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class UI:
    page: Any
    console: ConsoleWatch
    url: str
    allow_console_errors: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def open(self, query: str = "") -> UI:
        open_page(self.page, self.url + query)
        return self


browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    with PinguServer(tmp_path_factory.mktemp("real")) as s:
        yield s


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    with PinguServer(tmp_path_factory.mktemp("hostile"), fake="hostile") as s:
        yield s


@contextmanager
def opened(browser: Any, url: str, **context: Any) -> Iterator[UI]:
    """A fresh browser context on ``url``; the page may log no error."""
    ctx = hooked_context(browser, viewport=DESKTOP, accept_downloads=True, **context)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    ui = UI(page, ConsoleWatch(page), url)
    try:
        yield ui
    finally:
        errors = list(ui.console.errors)
        ctx.close()
    if not ui.allow_console_errors:
        assert errors == [], "the page logged errors"


@pytest.fixture
def ui(browser: Any, server: PinguServer) -> Iterator[UI]:
    with opened(browser, server.http_url) as u:
        yield u


def test_page_loads_without_console_errors(ui: UI) -> None:
    ui.open()
    page = ui.page
    assert page.title() == "pingu — live ping"
    assert page.is_visible("#target")
    assert page.evaluate("document.activeElement.id") == "target"
    assert page.evaluate("typeof window.uPlot") == "function"
    assert snapshot(page)["mode"] == "ws"
    # the limits from /pingu-info.json reach the form
    assert page.get_attribute("#interval", "min") == "0.2"
    assert page.get_attribute("#count", "max") == "10000"
    assert "WebSocket" in page.text_content("#conn")
    assert page.is_hidden("#nodes-field")
    assert page.is_visible("#start") and page.is_hidden("#form-stop")
    screenshot(page, "01-empty")


def test_live_lines_statistics_and_chart_while_running(ui: UI) -> None:
    ui.open()
    page = ui.page
    start_run(page, "127.0.0.1", count=6, interval=0.2)
    # all of it while ping still runs: the end event has not arrived yet
    live = wait_panel(
        page,
        "s.state === 'running' && !s.ended && s.replyLines >= 2 && +s.sent >= 2 && s.points >= 2",
    )
    assert live["stopVisible"] and not live["restartVisible"]
    assert live["badge"] == "live"
    assert "icmp_seq=1" in live["text"]
    assert live["avg"] != "—"
    assert page.is_visible(".panel .line.reply >> nth=0")
    screenshot(page, "02-running")

    done = wait_ended(page)
    assert done["state"] == "ok" and done["badge"] == "done"
    assert done["sent"] == "6" and done["received"] == "6" and done["loss"] == "0"
    assert done["replyLines"] == 6 and done["summaryLines"] == 2  # ping's two statistics lines
    assert done["points"] == 6
    assert done["p95"] != "—"
    assert "6 packets transmitted, 6 received" in done["text"]
    assert done["restartVisible"] and not done["stopVisible"]
    # the link reopens the same run
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"t": ["127.0.0.1"], "c": ["6"], "i": ["0.2"]}
    screenshot(page, "03-done")


def test_stop_shows_the_summary(ui: UI) -> None:
    ui.open()
    page = ui.page
    start_run(page, "127.0.0.1", interval=0.2)  # no count: until stopped
    wait_panel(page, "s.state === 'running' && s.replyLines >= 3")
    page.click(".panel button.stop")
    done = wait_ended(page)
    assert done["badge"] == "stopped"
    assert done["summaryLines"] == 2
    assert "packets transmitted" in done["text"]
    assert int(done["sent"]) >= 3
    # the keyboard stays on the panel's button that applies
    assert page.evaluate("document.activeElement.classList.contains('restart')")
    screenshot(page, "04-stopped")

    # Run again, from the keyboard
    page.keyboard.press("Enter")
    wait_panel(page, "s.state === 'running' && s.replyLines >= 1")
    page.keyboard.press("Escape")  # Escape stops every live run
    wait_ended(page)


def test_the_form_shows_only_the_button_that_applies(ui: UI) -> None:
    """Start, and Stop while what the form says is running: Enter does what
    the visible button says; another target in the form is a Start again."""
    ui.open()
    page = ui.page
    start_run(page, "127.0.0.1", interval=0.2)  # until stopped
    wait_panel(page, "s.state === 'running' && s.replyLines >= 2")
    assert page.is_hidden("#start") and page.is_visible("#form-stop")
    page.fill("#target", "::1")
    assert page.is_visible("#start") and page.is_hidden("#form-stop")
    page.fill("#target", "127.0.0.1")
    assert page.is_visible("#form-stop")
    page.press("#target", "Enter")  # stops it
    done = wait_ended(page)
    assert done["badge"] == "stopped" and done["summaryLines"] == 2
    assert page.locator(".panel").count() == 1
    assert page.is_visible("#start") and page.is_hidden("#form-stop")
    page.press("#target", "Enter")  # and starts it again, in the same panel
    wait_panel(page, "s.state === 'running' && s.replyLines >= 1")
    assert page.locator(".panel").count() == 1
    page.click("#form-stop")
    wait_ended(page)
    assert page.evaluate("document.activeElement.id") == "start"  # the keyboard stays there


def test_two_panels_run_at_once_and_are_removed_independently(ui: UI) -> None:
    ui.open()
    page = ui.page
    start_run(page, "127.0.0.1 ::1", count=8, interval=0.2)
    panels = "window.pinguTest.snapshot().panels"
    # Functions, not expressions: Playwright evals a function's text once (from
    # the DevTools call, which the page's CSP allows) but re-evals an
    # expression's at each poll, which script-src 'self' refuses (unsafe-eval).
    page.wait_for_function(f"() => {panels}.length === 2 && {panels}.every(p => p.active)")
    page.wait_for_function(
        f"() => {panels}.every(p => p.lines.reply >= 2 && p.active)",
        polling="raf",
    )
    assert page.locator(".panel").count() == 2
    screenshot(page, "05-two-panels-running")
    first, second = wait_ended(page, 0), wait_ended(page, 1)
    assert first["received"] == "8" and second["received"] == "8"
    assert "from ::1" in second["text"]
    assert parse_qs(urlsplit(page.url).query)["t"] == ["127.0.0.1", "::1"]
    screenshot(page, "06-two-panels-done")

    page.click(".panel >> nth=0 >> button.remove")
    assert page.locator(".panel").count() == 1
    assert page.text_content(".panel .target-name") == "::1"
    assert parse_qs(urlsplit(page.url).query)["t"] == ["::1"]


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("224.0.0.1", 4403, "224.0.0.1 is a multicast address"),
        ("-f", 4400, "the target may not start with '-'"),
    ],
)
def test_refused_target_shows_the_server_message(
    ui: UI, target: str, code: int, message: str
) -> None:
    ui.open()
    page = ui.page
    start_run(page, target)
    state = wait_ended(page)
    assert state["badge"] == "refused"
    assert message in state["notice"] and str(code) in state["notice"]
    assert state["restartLabel"] == "Run again"
    assert page.is_visible(".panel .notice")
    # and next to the form, with the field in question marked
    refusals = page.text_content("#form-refusals")
    assert message in refusals and str(code) in refusals
    assert page.get_attribute("#target", "aria-invalid") == "true"
    screenshot(page, f"07-refused-{code}")


def test_form_checks_limits_before_sending(ui: UI) -> None:
    ui.open()
    page = ui.page
    start_run(page, "127.0.0.1", interval=0.05)
    assert page.is_visible("#form-error")
    assert "Interval must be between 0.2 and 60" in page.text_content("#form-error")
    assert page.get_attribute("#interval", "aria-invalid") == "true"
    assert page.locator(".panel").count() == 0
    page.fill("#target", "")
    page.fill("#interval", "")
    page.press("#target", "Enter")
    assert "Enter a host name" in page.text_content("#form-error")


def test_hostile_output_is_text_and_runs_nothing(browser: Any, hostile: PinguServer) -> None:
    with opened(browser, hostile.http_url) as ui:
        ui.open()
        page = ui.page
        page.evaluate("() => { window.alerted = 0; window.alert = () => { window.alerted++; }; }")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        start_run(page, "127.0.0.1", count=3, interval=0.2)
        state = wait_ended(page)
        text = state["text"]
        assert "<img src=x onerror=\"document.title='pwned1'\">" in text
        assert "<script>alert(1)</script>" in text
        assert "ms ^[[31m" in text  # ESC shown in caret notation, not interpreted
        assert page.locator("#runs .line .ctrl").count() == 3
        assert page.title() == "pingu — live ping"
        assert page.locator("#runs img").count() == 0
        assert page.locator("#runs script").count() == 0
        assert page.evaluate("window.alerted") == 0 and dialogs == []
        screenshot(page, "08-hostile")


def test_phone_width(browser: Any, server: PinguServer) -> None:
    phone = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
    with opened(browser, server.http_url, **phone) as ui:
        page = ui.page
        page.set_viewport_size(PHONE)
        ui.open("?t=127.0.0.1&c=5&i=0.2")  # a link starts its runs
        assert page.input_value("#target") == "127.0.0.1"
        assert page.input_value("#count") == "5"
        state = wait_ended(page)
        screenshot(page, "09-phone")
        assert state["received"] == "5"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways ({width}px)"
        # every statistic fits its tile
        clipped = page.evaluate(
            "[...document.querySelectorAll('.stat dd')]"
            ".filter(d => d.scrollWidth > d.clientWidth + 1).length"
        )
        assert clipped == 0


def test_dark_mode(browser: Any, server: PinguServer) -> None:
    with opened(browser, server.http_url, color_scheme="dark") as ui:
        page = ui.page
        ui.open("?t=127.0.0.1&t=::1&c=5&i=0.2")
        wait_ended(page, 0)
        wait_ended(page, 1)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        r, g, b = (int(x) for x in background[background.index("(") + 1 : -1].split(",")[:3])
        assert r + g + b < 120, background
        screenshot(page, "10-dark")
        page.emulate_media(color_scheme="light")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert sum(int(x) for x in background[background.index("(") + 1 : -1].split(",")[:3]) > 600


def test_export_csv_and_json(ui: UI) -> None:
    ui.open("?t=127.0.0.1&c=3&i=0.2")
    page = ui.page
    wait_ended(page)
    with page.expect_download() as csv_download:
        page.click(".panel button.export-csv")
    name = csv_download.value.suggested_filename
    assert name.startswith("pingu-127.0.0.1-") and name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(csv_download.value.path().read_text(encoding="utf-8"))))
    replies = [r for r in rows if r["type"] == "reply"]
    assert [r["seq"] for r in replies] == ["1", "2", "3"]
    assert all(float(r["rtt_ms"]) >= 0 for r in replies)
    assert rows[0]["type"] == "start" and rows[-1]["type"] == "end"

    with page.expect_download() as json_download:
        page.click(".panel button.export-json")
    body = json.loads(json_download.value.path().read_text(encoding="utf-8"))
    assert body["target"] == "127.0.0.1" and body["request"]["count"] == 3
    (source,) = body["sources"]
    assert source["stats"]["sent"] == 3 and source["stats"]["received"] == 3
    assert [e["type"] for e in source["events"]][-1] == "end"


def test_server_limit_is_shown(browser: Any, tmp_path: Any) -> None:
    """A refusal the page could not foresee (a run of the same client that
    the page did not start holds the one run allowed) is shown with the
    server's words."""
    with PinguServer(tmp_path, args=("--max-runs-per-client", "1")) as limited:
        with opened(browser, limited.http_url) as ui:
            ui.open()
            page = ui.page
            # this page alone would not ask for more than it may: said before starting
            start_run(page, "127.0.0.1 ::1", interval=0.2)
            assert "at most 1" in page.inner_text("#form-error")
            assert snapshot(page)["panels"] == []
            # another run of this client, not the page's: a socket of its own
            page.evaluate(
                """(url) => new Promise((resolve) => {
                  const other = (window.otherRun = new WebSocket(url, "pingu.json"));
                  other.onopen = () => other.send('{"target": "::1", "interval": 0.2}');
                  other.onmessage = (m) => JSON.parse(m.data).type === "start" && resolve();
                })""",
                limited.ws_url,
            )
            start_run(page, "127.0.0.1", interval=0.2)
            refused = wait_panel(page, "s.state === 'error'")
            assert refused["badge"] == "refused" and "4429" in refused["notice"]
            assert "4429" in page.text_content("#form-refusals")
            page.evaluate("window.otherRun.close()")


def test_connection_lost_offers_to_reconnect(browser: Any, tmp_path: Any) -> None:
    doomed = PinguServer(tmp_path).start()
    try:
        with opened(browser, doomed.http_url) as ui:
            ui.allow_console_errors = True  # the failed reconnection is logged by chromium
            ui.open()
            page = ui.page
            start_run(page, "127.0.0.1", interval=0.2)
            wait_panel(page, "s.state === 'running' && s.replyLines >= 2")
            assert doomed.proc is not None
            doomed.proc.kill()  # no close frame: 1006
            lost = wait_ended(page)
            assert lost["badge"] == "disconnected"
            assert "Connection lost" in lost["notice"] and "1006" in lost["notice"]
            assert lost["restartLabel"] == "Reconnect"
            screenshot(page, "11-connection-lost")
            page.click(".panel button.restart")
            again = wait_ended(page)
            assert "Could not reach the server" in again["notice"]
    finally:
        doomed.stop()


def test_many_points_stay_smooth(ui: UI) -> None:
    """5000 events in one burst: drawn in a frame or two (as smoke), every
    point kept, the output capped at 2000 lines on screen."""
    ui.open()
    page = ui.page
    start_run(page, "127.0.0.1", count=3, interval=0.2)
    wait_ended(page)
    started = time.monotonic()
    result = page.evaluate(
        """async () => {
          const t0 = Date.now() / 1000;
          const began = performance.now();
          const events = [];
          for (let i = 0; i < 5000; i++) {
            const rtt = (i % 50) / 10;
            events.push({type: "reply", seq: i + 10, rtt_ms: rtt, t: t0 + i * 0.01,
                         raw: `64 bytes from x: icmp_seq=${i + 10} time=${rtt} ms`});
          }
          window.pinguTest.feed(0, 0, events);
          await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
          const ms = performance.now() - began;
          const panel = window.pinguTest.snapshot().panels[0];
          const {points, view, drawn} = panel.chart;
          return {ms, points, view, drawn, dom: panel.lines.shown};
        }"""
    )
    assert time.monotonic() - started < 5
    assert result["ms"] < 2000, result
    assert result["points"] == 5003
    # more points than the chart is wide: it draws their smoke (per-bucket spread)
    assert result["view"] == "smoke"
    assert 0 < result["drawn"] <= 150
    assert result["dom"] <= 2000


def test_a_zoom_holds_while_the_run_goes_on(ui: UI) -> None:
    """Dragging over the chart zooms in on a stretch of time; new points do not
    undo it; a double-click follows live again."""
    ui.open()
    page = ui.page
    start_run(page, "127.0.0.1", interval=0.2)  # until stopped
    wait_panel(page, "s.points >= 6")
    over = page.locator(".panel .u-over").bounding_box()
    assert over is not None
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + 10, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] / 3, y, steps=5)
    page.mouse.up()
    chart = "window.pinguTest.snapshot().panels[0].chart"
    zoom = f"[{chart}.xMin, {chart}.xMax]"
    zoomed = page.evaluate(zoom)
    assert page.is_visible(".panel .zoom-hint")
    before = panel_state(page)["points"]
    wait_panel(page, f"s.points >= {before + 3}")
    assert page.evaluate(zoom) == zoomed  # still where the user looked
    page.dblclick(".panel .u-over")
    page.wait_for_function(f"() => {zoom}[1] > {zoomed[1]}")  # a function: CSP, above
    assert page.is_hidden(".panel .zoom-hint")
    newest = page.evaluate(f"{chart}.lastX")
    assert page.evaluate(zoom)[1] >= newest
    page.keyboard.press("Escape")
    wait_ended(page)


def test_lost_packets_are_marked_in_lines_statistics_and_chart(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with PinguServer(tmp_path_factory.mktemp("timeouts"), fake="timeouts") as lossy:
        with opened(browser, lossy.http_url) as ui:
            ui.open("?t=127.0.0.1&c=8&i=0.2")
            page = ui.page
            state = wait_ended(page)
            assert state["timeoutLines"] == 4 and state["replyLines"] == 4
            assert page.locator(".panel .line.timeout .lost-tag").count() == 4
            assert state["losses"] == 4 and state["points"] == 4
            assert state["sent"] == "8" and state["received"] == "4" and state["loss"] == "50"
            assert page.get_attribute(".panel .stat.loss", "data-level") == "bad"
            assert page.is_visible(".panel .loss-key")
            screenshot(page, "12-losses")


AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_accessibility_of_the_main_states(browser: Any, server: PinguServer, scheme: str) -> None:
    """axe-core (a dev dependency in web/package.json) finds no violation:
    form, a finished run, a refused run, in both colour schemes."""
    if not AXE.is_file():
        pytest.skip("axe-core is missing: run npm ci in web/")
    with opened(browser, server.http_url, color_scheme=scheme) as ui:
        ui.open("?t=127.0.0.1&t=224.0.0.1&c=3&i=0.2")
        page = ui.page
        wait_ended(page, 0)
        wait_ended(page, 1)
        # axe comes as a script of the page's own origin (a route, never the
        # server's): the page stays under its real CSP (script-src 'self'),
        # which refuses an inline <script> such as add_script_tag(path=...).
        page.route(
            "**/axe.min.js",
            lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"),
        )
        page.add_script_tag(url="/axe.min.js")
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        found = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"]
        ]
        assert found == []


def test_statistics_definitions(ui: UI) -> None:
    """web/stats.js, in the page: loss, mdev (as ping), mean |Δrtt|, p95 (nearest rank)."""
    ui.open()
    figures = ui.page.evaluate(
        """async () => {
          const { RunStats } = await import("./stats.js");
          const s = new RunStats();
          const reply = (seq, rtt, dup = false) => s.add({type: "reply", seq, rtt_ms: rtt, dup});
          reply(1, 10); reply(2, 20); reply(3, 30);
          const lost = s.add({type: "timeout", seq: 4});
          reply(3, 99, true);  // a duplicate counts apart
          const before = s.snapshot();
          reply(4, 40);  // late: the loss is taken back
          const late = s.snapshot();
          s.add({type: "summary", transmitted: 5, received: 4, loss_pct: 20});
          return {lost, before, late, after: s.snapshot()};
        }"""
    )
    assert figures["lost"] == {"lost": True}
    before = figures["before"]
    assert (before["sent"], before["received"], before["loss_pct"]) == (4, 3, 25)
    assert (before["min_ms"], before["avg_ms"], before["max_ms"]) == (10, 20, 30)
    assert before["mdev_ms"] == pytest.approx((200 / 3) ** 0.5)
    assert before["mean_delta_ms"] == 10 and before["p95_ms"] == 30
    assert before["duplicates"] == 1
    late = figures["late"]
    assert (late["sent"], late["received"], late["loss_pct"]) == (4, 4, 0)
    assert late["p95_ms"] == 40 and late["last_ms"] == 40
    after = figures["after"]
    assert (after["sent"], after["received"], after["loss_pct"]) == (5, 4, 20)
