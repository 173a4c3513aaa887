"""Refusals for load on WAMP, against a REAL Crossbar router, a REAL
``twistd pingu`` node, the real ping and the real ``pingu watch``.

The load is made, not waited for:

* **busy**: the node runs with ``--max-lag 0.000001``, a bound no event loop
  meets (every tick of :mod:`pingu.lag` fires some microseconds late at
  least: the reactor wakes at or after its due time, then runs Python before
  the tick reads the clock), so every ``start`` is refused at once with
  ``pingu.error.busy`` and "busy, retry in 1 s".  The watch says so, tries
  again, and gives up after its last try, exit 2; the node counts each
  refusal as "busy" and starts nothing.
* **the router's bound**: the node is stopped (SIGSTOP) and this test fills
  the router's bound of calls held for its ``start`` (``MAX_PENDING_CALLS``):
  the router answers the next call at once with
  ``crossbar.error.max_concurrency_reached``.  A watch started then is
  refused; once it has said that it tries again, the node goes on (SIGCONT),
  answers the held calls, and the watch's next try runs to the end.  The
  watch's tries span at least 6.2 s (0.2 s doubling, five times) against the
  node's time to answer the held calls (printed; about a tenth of a second
  here), so the order does not depend on luck; ``--max-lag 60`` and call
  rates far above the flood keep the node's own refusals out of this test.

Each shown able to fail: without ``self._keeping_up()`` in the node's
``start`` the first test's watch runs (exit 0, no refusal); with
``retry_delay`` answering None (no retry) both watches exit 2 at the first
refusal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pingu.cli.retry import BUSY_RETRIES
from tests.harness import crossbar
from tests.harness.crossbar import METRICS_ON_PAGE, Node, Router
from tests.harness.ports import free_port
from tests.test_adversarial_wamp import Session
from tests.test_wamp import scrape

pytestmark = [pytest.mark.wamp, crossbar.needed]

PINGU = Path(sys.executable).parent / "pingu"
ROUTER_FULL = "the router holds as many calls for it as it takes"


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    with Router(tmp_path_factory.mktemp("router")) as started:
        yield started


def watch(router: Router, node: str) -> subprocess.Popen:
    """``pingu watch`` of two pings to 127.0.0.1 from ``node``; stderr piped."""
    return subprocess.Popen(
        [str(PINGU), "watch", "--router", router.url, "--node", node, "127.0.0.1",
         "-c", "2", "-i", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def counted(port: int) -> tuple[float, float]:
    """The node's refusals for "busy" and its runs started, from /metrics."""
    metrics = scrape(port)
    started = metrics[("pingu_runs_started_total", (("mode", "wamp"), ("tool", "ping")))]
    return metrics[("pingu_refusals_total", (("reason", "busy"),))], started


def test_a_node_behind_its_load_refuses_start_busy_and_the_watch_gives_up_after_its_tries(
    router, tmp_path
):
    node = Node(
        tmp_path, router.url, "laggy", args=(*METRICS_ON_PAGE, "--max-lag", "0.000001"),
        port=free_port(),
    )  # fmt: skip
    try:
        node.wait_joined()
        out, err = watch(router, "laggy").communicate(timeout=120)
        refused, started = counted(node.port)
        log = node.log()
    finally:
        node.stop()
    lines = err.splitlines()
    tries = [line for line in lines if "trying again in" in line]
    assert len(tries) == BUSY_RETRIES, err
    assert all(
        line.startswith("pingu: node laggy is busy: trying again in ")
        and line.endswith(" s (busy, retry in 1 s)")
        for line in tries
    ), err
    assert lines[-1] == (
        f"pingu: node laggy is still busy after {BUSY_RETRIES + 1} tries: "
        "giving up (busy, retry in 1 s)"
    ), err
    assert out == ""
    # every try refused and counted as the WebSocket face counts it; nothing started
    assert (refused, started) == (BUSY_RETRIES + 1, 0)
    assert "refused 127.0.0.1: busy: busy, retry in 1 s" in log, log


def test_calls_the_router_will_not_hold_are_tried_again_and_the_run_completes(router, tmp_path):
    from pingu.wamp.node import MAX_PENDING_CALLS

    node = Node(
        tmp_path, router.url, "stalled",
        args=("--max-lag", "60", "--max-calls-per-second", "10000",
              "--max-calls-per-second-total", "100000"),
    )  # fmt: skip
    watcher = None
    try:
        node.wait_joined()
        flood = Session(router.port)
        try:
            flood.call("pingu.stalled.runs")  # the node knows this session's client now
            os.kill(node.pid, signal.SIGSTOP)
            try:
                # start() with no target: a bad request, answered at once when
                # the node reads again, and nothing started
                held = [flood.send_call("pingu.stalled.start") for _ in range(MAX_PENDING_CALLS)]
                over = flood.send_call("pingu.stalled.start")
                while over not in flood.replies:
                    flood._pump(30)
                assert flood.replies[over][4] == "crossbar.error.max_concurrency_reached"
                assert not any(request in flood.replies for request in held)
                watcher = watch(router, "stalled")
                assert watcher.stderr is not None
                said = watcher.stderr.readline()  # blocks until the watch was refused
                assert said.startswith("pingu: node stalled is busy: trying again in "), said
                assert said.rstrip().endswith(f"({ROUTER_FULL})"), said
            finally:
                os.kill(node.pid, signal.SIGCONT)
            resumed = time.monotonic()
            while not all(request in flood.replies for request in held):
                flood._pump(60)
            answered = time.monotonic() - resumed
            out, rest = watcher.communicate(timeout=120)
        finally:
            flood.close()
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
        node.stop()
    print(f"the node answered the {MAX_PENDING_CALLS} held calls in {answered:.3f} s")
    assert {flood.replies[r][4] for r in held} == {"pingu.error.invalid_request"}
    assert watcher.returncode == 0, (out, said + rest)
    assert out.count("bytes from 127.0.0.1") == 2, out
    assert "giving up" not in rest, rest
