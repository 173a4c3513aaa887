"""An hour in one panel stays light: 200, 2,000 and 18,000 replies (an hour
at 0.2 s) in a real chromium from the real ``twistd pingu``, measured through
the DevTools protocol (``Performance.getMetrics``: JS heap, DOM nodes) and
a trace of the page's main thread (``Tracing``: each task's CPU time), and
the page's own ``PerformanceObserver('longtask')`` (each task's wall time).

Why CPU time: on the shared machine that runs the suite (2 cores, load 6 to
12), a task's wall time is mostly waiting for a core. Measured once at
18,000 replies: the longest task took 332 ms of wall time and 17 ms of CPU,
the task with the most CPU 20 ms. The page's own work is what it can keep
under 50 ms; the wall-clock long tasks are recorded as figures.

The replies come from the FAKE ping's ``steady`` scenario (realistic lines,
a varying RTT, 1 in 97 missing) at 1,000 lines a second: ten times the
100 a second of the issue's measurement, so that an hour takes 18 s. The bounds are generous (the
machine running the suite is shared); the measured figures are written to
``screenshots/long-run.json`` and quoted in docs/page.rst.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.browser import (
    SCREENSHOTS,
    ConsoleWatch,
    hooked_context,
    launched_chromium,
    open_page,
    start_run,
)
from tests.harness.pingu import PinguServer

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")

DESKTOP = {"width": 1280, "height": 900}

#: Every task longer than 50 ms (the browser reports no shorter one).
LONG_TASKS_JS = """
window.pinguLongTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.pinguLongTasks.push([entry.startTime, entry.duration]);
  }
}).observe({ type: "longtask", buffered: true });
"""

browser = pytest.fixture(scope="module")(launched_chromium)

FIGURES: dict[int, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PinguServer]:
    with PinguServer(
        tmp_path_factory.mktemp("long"),
        fake="steady",
        fake_extra="--rate 1000",
        args=("--max-count", "20000"),
    ) as s:
        yield s
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "long-run.json").write_text(json.dumps(FIGURES, indent=1) + "\n")


def longest_main_thread_task_ms(trace: bytes) -> float:
    """The most CPU time one task of the page's main thread took, in the trace."""
    events = json.loads(trace)["traceEvents"]
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
        and e["args"].get("name") == "CrRendererMain"
    }  # fmt: skip
    cpu = [
        e.get("tdur", 0)
        for e in events
        if e.get("name") == "RunTask" and (e.get("pid"), e.get("tid")) in main
    ]
    assert cpu, "the trace has no task of the page's main thread"
    return max(cpu) / 1000


def metrics(cdp: Any) -> dict[str, float]:
    cdp.send("HeapProfiler.collectGarbage")
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


@pytest.mark.parametrize("replies", [200, 2_000, 18_000])
def test_a_long_run_stays_light(browser: Any, server: PinguServer, replies: int) -> None:
    ctx = hooked_context(browser, viewport=DESKTOP, accept_downloads=True)
    ctx.add_init_script(LONG_TASKS_JS)
    page = ctx.new_page()
    console = ConsoleWatch(page)
    cdp = ctx.new_cdp_session(page)
    cdp.send("Performance.enable")
    open_page(page, server.http_url)
    before = metrics(cdp)
    # from here: the page's loading and the garbage collection asked for are not the run's
    began = page.evaluate("performance.now()")
    browser.start_tracing(
        page=page, categories=["disabled-by-default-devtools.timeline", "__metadata"]
    )
    start_run(page, "127.0.0.1", count=replies, interval=0.2)
    # a light wait: the Run again button, looked for twice a second
    page.wait_for_selector(".panel .restart:not([hidden])", timeout=replies * 3 + 15_000)
    page.wait_for_timeout(300)  # the last frames and the summary's quarter second
    longest_cpu = longest_main_thread_task_ms(browser.stop_tracing())
    long_tasks = [
        round(duration)
        for start, duration in page.evaluate("window.pinguLongTasks")
        if start >= began
    ]
    panel = page.evaluate(
        """() => {
          const p = window.pinguTest.snapshot().panels[0];
          const {view, drawn} = p.chart;
          return {types: p.sources[0].types, view, drawn, shown: p.lines.shown};
        }"""
    )
    after = metrics(cdp)
    with page.expect_download() as download:
        page.click(".panel .export-csv")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    seqs = {int(r["seq"]) for r in rows if r["type"] in ("reply", "timeout")}

    figures = {
        "heap_mb": round(after["JSHeapUsedSize"] / 2**20, 1),
        "heap_grew_mb": round((after["JSHeapUsedSize"] - before["JSHeapUsedSize"]) / 2**20, 1),
        "dom_nodes": int(after["Nodes"]),
        "longest_task_cpu_ms": round(longest_cpu, 1),
        "longest_task_wall_ms": max(long_tasks, default=0),
        "long_tasks_wall": len(long_tasks),
        "chart": panel["view"],
        "chart_points_drawn": panel["drawn"],
        "lines_shown": panel["shown"],
        "csv_rows": len(rows),
    }
    FIGURES[replies] = figures
    print(f"\n{replies} replies: {figures}")

    # every reply and every loss, in the panel and in its CSV
    assert panel["types"].get("reply", 0) + panel["types"].get("timeout", 0) == replies
    assert seqs == set(range(1, replies + 1))
    # the chart: each point while it can show them, the smoke after
    assert panel["view"] == ("raw" if replies <= 300 else "smoke")
    assert panel["drawn"] <= 300
    # bounded: the output keeps 2,000 lines on screen, the heap a few MB per hour
    assert panel["shown"] <= 2_000
    assert figures["dom_nodes"] < 12_000
    assert figures["heap_mb"] < 64
    # no task of the page's own work reaches 50 ms
    assert longest_cpu < 50
    assert console.errors == []
    ctx.close()
