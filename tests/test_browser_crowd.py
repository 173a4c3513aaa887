"""Crowds in real chromium against the real ``twistd pingu``.

* Behind one address (an office, a campus NAT): ten browsers from 127.0.0.1,
  each loading the page (its ~35 files over up to six keep-alive
  connections) and opening two runs from a link, all within the per-client
  limits.  Defence (:mod:`pingu.handshakes`): only sockets with a request in
  progress count against ``--max-handshakes-per-client``; a keep-alive
  connection that got its answer does not.  Counted until their deadline,
  the first browsers' idle keep-alives filled the cap (8) and the later
  browsers' page files and WebSockets were refused (issue 17, item 2).
* A server behind its load (:mod:`pingu.lag`): the page's run is refused
  with 4503 "busy, retry in N s"; the page says so and tries again.  The
  overload is made by stopping the server (SIGSTOP) while the page connects.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.browser import (
    ConsoleWatch,
    hooked_context,
    launched_chromium,
    open_page,
    panel_state,
    start_run,
    wait_ended,
)
from tests.harness.pingu import PinguServer
from tests.harness.service import wait_until

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api")

BROWSERS = 10
LIMITS = (
    "--max-runs-per-client", "20",
    "--max-connections-per-client", "50",
    "--max-starts-per-second", "100",
)  # fmt: skip

browser = pytest.fixture(scope="module")(launched_chromium)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    # the handshake caps stay at their defaults (8 per client)
    with PinguServer(tmp_path_factory.mktemp("crowd"), fake="normal", args=LIMITS) as s:
        yield s


def test_ten_browsers_behind_one_address_get_all_twenty_runs(browser: Any, server) -> None:
    contexts = []
    try:
        pages = []
        for _ in range(BROWSERS):
            context = hooked_context(browser)
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(20_000)
            ConsoleWatch(page)
            open_page(page, server.http_url + "?t=127.0.0.1&t=::1&c=3&i=0.2")
            pages.append(page)
        for page in pages:
            for index in (0, 1):
                page.wait_for_function(
                    "(i) => { const p = window.pinguTest.snapshot().panels[i];"
                    " return !!p && p.ended; }",
                    arg=index,
                    polling=100,
                )
        states = [panel_state(page, i) for page in pages for i in (0, 1)]
        assert [s["replyLines"] for s in states] == [3] * 2 * BROWSERS, states
        assert len(server.recorded_argv()) == 2 * BROWSERS
    finally:
        for context in contexts:
            context.close()


def established(port: int) -> int:
    """TCP connections to ``port`` on 127.0.0.1 the kernel has established
    (also those still in the listen queue of a stopped server)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "01":
            count += 1
    return count


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[PinguServer]:
    """A server at --max-lag 0.5 s (the harness gives every other test 10 s,
    tests/harness/pingu.py's TESTS_MAX_LAG; the default, 0.05 s, could refuse
    the page's retry too on a loaded test machine)."""
    with PinguServer(tmp_path, fake="normal", args=(*LIMITS, "--max-lag", "0.5")) as s:
        yield s


def test_the_page_shows_a_busy_refusal_and_tries_again(browser: Any, strict) -> None:
    server = strict
    context = hooked_context(browser)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        ConsoleWatch(page)
        open_page(page, server.http_url)
        before = established(server.port)
        stopped = time.monotonic()
        os.kill(server.pid, signal.SIGSTOP)
        try:
            start_run(page, "127.0.0.1", count=2, interval=0.2)
            wait_until(lambda: established(server.port) > before, 30, 0.05)
            # held still 1.5 s: over --max-lag (0.5 s) when it goes on
            time.sleep(max(0.0, 1.5 - (time.monotonic() - stopped)))
        finally:
            os.kill(server.pid, signal.SIGCONT)
        state = wait_ended(page, timeout=30_000)
        assert state["replyLines"] == 2 and state["badge"] == "done", state
        text = page.inner_text("body")
        assert "The server is busy (busy, retry in" in text, text
    finally:
        context.close()
