"""A crowd behind one address (an office, a campus NAT) in real chromium
against the real ``twistd pingu``: ten browsers from 127.0.0.1, each loading
the page (its ~35 files over up to six keep-alive connections) and opening
two runs from a link, all within the per-client limits.

Defence (:mod:`pingu.handshakes`): only sockets with a request in progress
count against ``--max-handshakes-per-client``; a keep-alive connection that
got its answer does not.  Counted until their deadline, the first browsers'
idle keep-alives filled the cap (8) and the later browsers' page files and
WebSockets were refused (issue 17, item 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.browser import ConsoleWatch, launched_chromium, open_page, panel_state
from tests.harness.pingu import PinguServer

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
            context = browser.new_context()
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
