"""Overload refused, not queued: how far behind the server is
(:mod:`pingu.lag`: the event loop's lag and the oldest start's wait) on a
fake clock, and the WebSocket face's refusal (4503) over ``--max-lag``."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from pingu.events import CloseCode
from pingu.lag import MAX_RETRY, TICK, WINDOW, LagMeter
from pingu.limits import Limits
from tests.harness.memory import Harness


def test_the_lag_is_how_overdue_the_tick_is_or_how_late_half_the_window_fired() -> None:
    clock = Clock()
    meter = LagMeter(clock, waits=())
    assert meter.lag() == 0.0  # not started: nothing measured
    meter.start()
    clock.advance(TICK)
    assert meter.lag() == 0.0  # on time
    clock.rightNow += 1.0  # the loop is stuck for a second: the tick (due in TICK) cannot run
    assert meter.lag() == pytest.approx(1.0 - TICK)
    clock.advance(0)  # the loop is back: the overdue tick fires, late
    assert meter.lag() == pytest.approx(1.0 - TICK)  # the latest tick's, until the next
    clock.advance(TICK)  # the next comes on time: one late tick of ten is a stall that is over
    assert meter.lag() == 0.0
    meter.stop()
    assert not clock.getDelayedCalls() and meter.lag() == 0.0


def test_a_loop_that_stays_behind_is_behind_while_half_its_ticks_are_late() -> None:
    """Defence: a loop late at every tick (sessions coming faster than it
    serves them) is behind, though no single tick is overdue when asked."""
    clock = Clock()
    meter = LagMeter(clock, waits=())
    meter.start()
    late = 0.08  # every tick fires 80 ms late
    lags = []
    for _ in range(WINDOW):
        clock.rightNow += late
        clock.advance(TICK)
        lags.append(meter.lag())
    assert lags == [pytest.approx(late)] * WINDOW
    for _ in range(WINDOW // 2):  # on time again: behind until half the window is
        clock.advance(TICK)
        assert meter.lag() == pytest.approx(late)
    clock.advance(TICK)
    assert meter.lag() == 0.0
    meter.stop()


def test_retry_after_is_twice_the_lag_in_whole_seconds_bounded() -> None:
    meter = LagMeter(Clock(), waits=())
    assert [meter.retry_after(lag) for lag in (0.0, 0.3, 0.6, 2.2, 1e6)] == [1, 1, 2, 5, MAX_RETRY]


def test_the_oldest_start_s_wait_counts_as_lag_while_the_loop_is_on_time() -> None:
    """Defence: the starts can fall behind while the loop keeps its pace (in
    the bench's churn at 600/s the loop was never 0.5 s late while the
    oldest spawn waited 1.9 s): the worse of the two is the lag."""
    clock = Clock()
    waited = [0.0]
    meter = LagMeter(clock, waits=(lambda: waited[0],))
    assert meter.lag() == 0.0  # nothing waits; not started
    waited[0] = 0.7
    assert meter.lag() == 0.7  # before the loop is measured, too
    meter.start()
    clock.advance(TICK)
    assert meter.lag() == 0.7  # the loop on time, the starts 0.7 s behind
    clock.rightNow += 1.0
    assert meter.lag() == pytest.approx(1.0 - TICK)  # now the loop is the worse
    meter.stop()


def test_the_server_s_hub_reads_the_spawner_s_start_wait() -> None:
    """A real server's hub (pingu.config.build_hub) counts its spawn pool's
    wait; a hub with a test's fake spawner starts nothing that waits."""
    from twisted.internet.testing import MemoryReactorClock

    from pingu import spawner
    from pingu.config import build_hub
    from pingu.request import Policy

    class Reactor(MemoryReactorClock):
        def suggestThreadPoolSize(self, size: int) -> None:
            pass

    hub = build_hub(Reactor(), Limits(), Policy(), ping="/usr/bin/ping")
    assert hub.lag.waits == (spawner.start_wait,)
    assert Harness().hub.lag.waits == ()


def test_the_spawn_pool_knows_how_long_its_oldest_start_has_waited() -> None:
    """The pool's bookkeeping, on a fake clock, with no thread to answer:
    the oldest unanswered start's age; 0 once every one is answered."""
    from pingu.spawner import _SpawnPool

    class Unanswered(_SpawnPool):
        threads = 0  # nobody takes the jobs: they wait as long as the test likes

    clock = Clock()
    pool = Unanswered(clock=clock.seconds)
    first, second = object(), object()
    assert pool.oldest_wait() == 0.0
    pool.submit(first, "/bin/true", ["true"], {}, -1, -1)  # type: ignore[arg-type]
    clock.advance(0.3)
    pool.submit(second, "/bin/true", ["true"], {}, -1, -1)  # type: ignore[arg-type]
    clock.advance(0.2)
    assert pool.oldest_wait() == pytest.approx(0.5)
    pool.done(first)  # type: ignore[arg-type]
    assert pool.oldest_wait() == pytest.approx(0.2)
    pool.done(second)  # type: ignore[arg-type]
    assert pool.oldest_wait() == 0.0


def test_a_new_session_is_refused_busy_while_the_starts_wait() -> None:
    """Defence, end to end in memory: the loop on time, the oldest start
    waiting 1.2 s: a new session gets 4503 and nothing is started."""
    h = Harness(limits=Limits(max_lag=0.5))
    h.hub.lag.waits = (lambda: 1.2,)
    h.hub.lag.start()
    h.clock.advance(TICK)
    refused = h.connect()
    assert refused.closed == (CloseCode.OVERLOADED, "busy, retry in 3 s")
    assert h.spawner.started == []


def behind(h: Harness, seconds: float) -> None:
    """The harness's server falls ``seconds`` behind: its clock moves on and
    none of its timers has run yet (as while a long step blocks the loop)."""
    h.hub.lag.start()
    h.clock.advance(TICK)
    h.clock.rightNow += seconds


@pytest.mark.parametrize("protocols", [None, ["pingu.json"]])
def test_a_new_session_is_refused_busy_while_the_server_is_behind(protocols) -> None:
    """Defence: over --max-lag a new session gets 4503 and when to come back;
    nothing is started.  The sessions admitted before keep theirs."""
    h = Harness(limits=Limits(max_lag=0.5))
    admitted = h.connect()
    h.send(admitted, "127.0.0.1")
    assert len(h.spawner.started) == 1
    behind(h, 1.2)
    refused = h.connect(protocols)  # refused as it opens, before its request
    assert refused.closed == (CloseCode.OVERLOADED, "busy, retry in 3 s")
    if protocols:
        (error,) = refused.events
        assert (error["code"], error["reason"]) == (4503, "busy")
    assert len(h.spawner.started) == 1
    assert admitted.closed is None
    assert h.hub.metrics._refusals.labels(reason="busy")._value.get() == 1


def test_under_the_lag_limit_sessions_are_admitted() -> None:
    """The partner: the same stall under --max-lag 2, and once caught up."""
    h = Harness(limits=Limits(max_lag=2.0))
    behind(h, 1.2)
    client = h.connect()
    h.send(client, "127.0.0.1")
    assert len(h.spawner.started) == 1 and client.closed is None
    h2 = Harness(limits=Limits(max_lag=0.5))
    behind(h2, 1.2)
    for _ in range(WINDOW + 1):  # the late tick, then a window of on-time ones
        h2.clock.advance(TICK)
    client = h2.connect()
    h2.send(client, "127.0.0.1")
    assert len(h2.spawner.started) == 1


def test_the_watch_waits_what_the_server_says_plus_up_to_half_again() -> None:
    from pingu.cli.ws import busy_delay

    assert busy_delay("busy, retry in 3 s", 0.0) == 3.0
    assert busy_delay("busy, retry in 3 s", 1.0) == 4.5  # the most jitter adds
    assert busy_delay("overloaded", 0.0) == 1.0  # no figure: one second


def test_the_server_freezes_its_boot_objects_once_running() -> None:
    """Defence: a full collection of the ~62,000 objects an idle server holds
    takes 11-25 ms, a third of --max-lag and more: once running, the
    WebSocket server moves them out of the collector's reach."""
    from pingu.lag import freeze_boot_objects

    h = Harness()
    assert (freeze_boot_objects, (), {}) in h.clock.whenRunningHooks


def test_freezing_takes_what_exists_out_of_the_collector_s_reach() -> None:
    import gc

    from pingu.lag import freeze_boot_objects

    try:
        freeze_boot_objects()
        assert gc.get_freeze_count() > 10_000  # the test process's own objects
    finally:
        gc.unfreeze()
