"""Helpers for the browser tests: one headless chromium, pages that record
console errors, the page's state read through the tests' hook
(``window.pinguTest.snapshot()``, :func:`hooked_context`).

Chromium is Debian's (``/usr/bin/chromium``, or ``PINGU_CHROMIUM``): Playwright
cannot download its own here.  Screenshots go to ``screenshots/`` at the top
of the repository (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from tests.harness import REPO, outside_the_quick_lane

SCREENSHOTS = REPO / "screenshots"
WEB = REPO / "web"


def chromium_path() -> Optional[str]:
    """The chromium to drive, or None when there is none."""
    for candidate in (
        os.environ.get("PINGU_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def page_files_missing() -> list[str]:
    """What the page needs from ``npm ci`` that ``web/`` lacks."""
    needed = (
        "node_modules/uplot/dist/uPlot.iife.min.js",
        "node_modules/uplot/dist/uPlot.min.css",
        "node_modules/autobahn-browser/autobahn.min.js",
    )
    return [name for name in needed if not (WEB / name).is_file()]


#: The browser tests' hook into the page (window.pinguTest); never shipped.
TEST_HOOK = Path(__file__).resolve().parent / "test-hook.js"
#: What the tests' copy of app.js ends with: the hook, installed on the app.
HOOK_CALL = '\nimport { installTestHook } from "./test-hook.js";\ninstallTestHook(app);\n'


def hooked_context(browser: Any, **options: Any) -> Any:
    """``browser.new_context(**options)`` whose pages have the test hook
    (``window.pinguTest``): test-hook.js is served beside the page's modules,
    and app.js, as the server sends it, gets :data:`HOOK_CALL` appended."""
    context = browser.new_context(**options)

    def app_js(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.text() + HOOK_CALL)

    context.route("**/app.js", app_js)
    context.route(
        "**/test-hook.js",
        lambda route: route.fulfill(path=str(TEST_HOOK), content_type="text/javascript"),
    )
    return context


class ConsoleWatch:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")


@contextmanager
def watched_page(
    browser: Any,
    viewport: dict[str, int],
    timeout: float,
    init_script: Optional[str] = None,
    **options: Any,
) -> Iterator[Any]:
    """A page of its own hooked context (:func:`hooked_context`, with
    ``options``; ``init_script`` run before the page's own), ``timeout`` ms
    its default; when the block ends, its context is closed and the test
    fails if the page logged any error."""
    ctx = hooked_context(browser, viewport=viewport, **options)
    if init_script is not None:
        ctx.add_init_script(init_script)
    p = ctx.new_page()
    p.set_default_timeout(timeout)
    console = ConsoleWatch(p)
    yield p
    errors = list(console.errors)
    ctx.close()
    assert errors == [], "the page logged errors"


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot as ``screenshots/NAME.png``."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def open_page(page: Any, url: str) -> None:
    """Load the page and wait until it has read ``pingu-info.json``."""
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)


def start_run(
    page: Any,
    target: str,
    count: Optional[int] = None,
    interval: Optional[float] = None,
    family: Optional[str] = None,
) -> None:
    """Fill the form and press Enter in the target field."""
    page.fill("#count", "" if count is None else str(count))
    page.fill("#interval", "" if interval is None else str(interval))
    if family is not None:
        page.check(f"#family-{family}", force=True)
    page.fill("#target", target)
    page.press("#target", "Enter")


def start_tool(
    page: Any,
    tool: str,
    target: str,
    fields: dict[str, str],
    nodes: Optional[list[str]] = None,
) -> None:
    """Choose the tool, and (in WAMP mode) the ``nodes`` to run from; fill
    its fields (``{selector: value}``; a select is chosen), fill the target
    and press Enter in it."""
    page.click(f"label[for=tool-{tool}]")
    for box in page.query_selector_all("#node-list input") if nodes is not None else ():
        if box.is_checked() != (box.get_attribute("value") in nodes):
            page.click(f"label[for='{box.get_attribute('id')}']")
    for selector, value in fields.items():
        if page.evaluate("(s) => document.querySelector(s).tagName", selector) == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.fill("#target", target)
    page.press("#target", "Enter")


#: One panel as the tests see it, read through the page's one test hook,
#: ``window.pinguTest.snapshot()``: state, badge, statistics, lines, chart points.
PANEL_STATE_JS = """
(index) => {
  const panel = window.pinguTest.snapshot().panels[index];
  if (!panel) return null;
  const stats = panel.stats[0] || {};
  return {
    state: panel.state,
    badge: panel.badge,
    sent: stats.sent,
    received: stats.received,
    loss: stats.loss_pct,
    avg: stats.avg_ms,
    p95: stats.p95_ms,
    replyLines: panel.lines.reply,
    timeoutLines: panel.lines.timeout,
    summaryLines: panel.lines.summary,
    points: panel.chart.points,
    losses: panel.chart.losses,
    notice: panel.notice,
    stopVisible: panel.stopVisible,
    restartVisible: panel.restartVisible,
    restartLabel: panel.restartLabel,
    ended: panel.ended,
    text: panel.text,
  };
}
"""


def snapshot(page: Any) -> dict[str, Any]:
    """The whole page as plain data (``window.pinguTest.snapshot()``)."""
    return page.evaluate("window.pinguTest.snapshot()")


def panel_state(page: Any, index: int = 0) -> dict[str, Any]:
    return page.evaluate(PANEL_STATE_JS, index)


def _wait_view(
    page: Any, view_js: str, name: str, condition_js: str, index: int, **timeout: float
) -> dict[str, Any]:
    """Wait until ``condition_js`` (over ``name``, ``view_js``'s view of
    panel ``index``) holds, checked each frame; that view."""
    page.wait_for_function(
        f"(index) => {{ const {name} = ({view_js})(index); return !!{name} && ({condition_js}); }}",
        arg=index,
        polling="raf",
        **timeout,
    )
    view: dict[str, Any] = page.evaluate(view_js, index)
    return view


def wait_panel(page: Any, condition_js: str, index: int = 0, timeout: float = 15_000) -> dict:
    """Wait until ``condition_js`` (an expression over ``s``, the panel state) holds."""
    return _wait_view(page, PANEL_STATE_JS, "s", condition_js, index, timeout=timeout)


def wait_ended(page: Any, index: int = 0, timeout: float = 15_000) -> dict:
    return wait_panel(page, "!s.stopVisible && s.restartVisible && s.ended", index, timeout)


#: One panel's whole snapshot (the test hook's), every view's part included.
PANEL_JS = "(i) => window.pinguTest.snapshot().panels[i]"


def wait_panel_snapshot(page: Any, condition_js: str, index: int = 0) -> dict[str, Any]:
    """Wait until ``condition_js`` (over ``p``, :data:`PANEL_JS`'s panel)
    holds, within the page's default timeout; the panel."""
    return _wait_view(page, PANEL_JS, "p", condition_js, index)


class TcpProxy:
    """A TCP proxy on 127.0.0.1 to ``target_port``, for faults a test can cause:
    :meth:`drop` cuts every connection at once (a reset, as a network fault
    would) and refuses new ones for a while.

        with TcpProxy(router.port) as proxy:
            page.goto(f"...?router=ws://127.0.0.1:{proxy.port}/ws")
            proxy.drop(hold=1.5)
    """

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))  # port: one a page's server lists
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._refuse_until = 0.0
        self._closed = False
        self.connections = 0  # accepted and passed on, over the proxy's life
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open += [client, upstream]
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    def drop(self, hold: float = 0.0) -> None:
        """Reset every connection now; refuse new ones for ``hold`` seconds."""
        self._refuse_until = time.monotonic() + hold
        with self._lock:
            doomed, self._open = self._open, []
        for s in doomed:
            _reset(s)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.drop()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """What ``source`` sends, to ``sink`` until it ends (or fails); then
    the end passed on (a proxy's one direction, in a thread of its own)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _reset(s: socket.socket) -> None:
    """Cut a connection: no WebSocket closing handshake, as on a network fault."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RDWR)  # wakes the thread that reads it
    except OSError:
        pass
    s.close()


# ---- recorded events of the path tools (pingu/events.py's hop and hop_stats) ----

#: A route of three hops as traceroute saw it: the second hop never answers.
ROUTE = (("10.0.0.2", 0.05), (None, None), ("10.0.2.2", 0.21))


def numbered(events: list[dict[str, Any]], t0: float = 1_700_000_000.0) -> list[dict[str, Any]]:
    """``n`` from 1 and ``t`` a tenth of a second apart, as a node numbers them."""
    return [{**e, "n": i + 1, "t": t0 + i / 10} for i, e in enumerate(events)]


def traceroute_events(
    target: str = "10.0.2.2", route: tuple = ROUTE, lost: tuple = ((3, 1),)
) -> list[dict]:
    """start, traceroute's first line, one hop each (probe ``(hop, i)`` in ``lost`` lost), end."""
    events: list[dict[str, Any]] = [
        {"type": "start", "raw": None, "tool": "traceroute", "target": target, "address": target,
         "family": 4, "options": {"max_hops": 5, "queries": 3}},
        {"type": "line", "raw": f"traceroute to {target} ({target}), 5 hops max, 60 byte packets"},
    ]  # fmt: skip
    for number, (address, base) in enumerate(route, 1):
        rtts = [
            None if address is None or (number, i) in lost else round(base + i / 100, 3)
            for i in range(3)
        ]
        shown = "  ".join("*" if r is None else f"{r:.3f} ms" for r in rtts)
        raw = f"{number:2d}  {address}  {shown}" if address else f"{number:2d}  * * *"
        events.append(
            {"type": "hop", "raw": raw, "hop": number, "address": address, "rtt_ms": rtts}
        )
    events.append({"type": "end", "raw": None, "how": "completed", "exit_code": 0, "signal": None,
                   "code": 1000, "message": "traceroute completed", "duration_s": 0.4})  # fmt: skip
    return events


def mtr_rounds(
    rounds: int,
    hops: tuple = (("10.0.0.2", 0.05), ("10.0.1.2", 1.2), ("10.0.2.2", 2.4)),
    lossy: int = 2,
    every: int = 3,
) -> list[list[dict]]:
    """mtr's hop_stats, one list a round: hop ``lossy`` loses every ``every``-th probe."""
    import statistics

    seen: dict[int, list[float]] = {n: [] for n in range(1, len(hops) + 1)}
    out = []
    for r in range(1, rounds + 1):
        events = []
        for number, (address, base) in enumerate(hops, 1):
            if not (number == lossy and r % every == 0):
                seen[number].append(round(base * (1 + 0.3 * ((r * number) % 4)), 3))
            got = seen[number]
            deltas = [abs(a - b) for a, b in zip(got, got[1:])]
            some = bool(got)
            events.append({
                "type": "hop_stats", "raw": None, "hop": number, "address": address,
                "addresses": [address], "sent": r, "received": len(got),
                "loss_pct": round(100 * (r - len(got)) / r, 1),
                "last_ms": got[-1] if some else None, "best_ms": min(got) if some else None,
                "avg_ms": round(sum(got) / len(got), 3) if some else None,
                "worst_ms": max(got) if some else None,
                "stdev_ms": round(statistics.pstdev(got), 3) if some else None,
                "jitter_ms": round(sum(deltas) / len(deltas), 3) if deltas else None,
            })  # fmt: skip
        out.append(events)
    return out


def mtr_start(target: str = "10.0.2.2") -> dict[str, Any]:
    return {"type": "start", "raw": None, "tool": "mtr", "target": target, "address": target,
            "family": 4, "options": {"count": 10}}  # fmt: skip


def end_event(tool: str) -> dict[str, Any]:
    return {"type": "end", "raw": None, "how": "completed", "exit_code": 0, "signal": None,
            "code": 1000, "message": f"{tool} completed", "duration_s": 1.0}  # fmt: skip


#: A panel's hop table as the tests see it (the test hook's hops and hopTable).
HOPS_JS = """
(index) => {
  const panel = window.pinguTest.snapshot().panels[index];
  return panel ? {tool: panel.tool, state: panel.state, badge: panel.badge, hops: panel.hops,
                  table: panel.hopTable, text: panel.text, ended: panel.ended} : null;
}
"""


def hops_state(page: Any, index: int = 0) -> dict[str, Any]:
    return page.evaluate(HOPS_JS, index)


def wait_hops(page: Any, condition_js: str, index: int = 0, timeout: float = 15_000) -> dict:
    """Wait until ``condition_js`` (over ``h``, :data:`HOPS_JS`'s panel) holds."""
    return _wait_view(page, HOPS_JS, "h", condition_js, index, timeout=timeout)


def launched_chromium() -> Iterator[Any]:
    """The browser tests' chromium (a module fixture's body): Debian's, headless;
    the tests skip without one, and fail if the page lacks its npm files."""
    import pytest

    outside_the_quick_lane("chromium", "browser")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium (apt-get install chromium, or set PINGU_CHROMIUM)")
    missing = page_files_missing()
    assert not missing, f"web/ lacks {missing}: run npm ci in web/"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()
