"""The statistics a probe tool's run ends with (pingu/tools/series.py)."""

from __future__ import annotations

from pingu.tools.series import Series, seconds


def test_loss_min_avg_max_p95_and_jitter() -> None:
    series = Series()
    # 20 answers, in the order 1, 3, 2, 4..20 ms, and one lost probe
    for rtt in (1.0, 3.0, 2.0, None, *(float(n) for n in range(4, 21))):
        series.probe()
        if rtt is not None:
            series.answered(rtt)
    event = series.summary("probe")
    assert (event["transmitted"], event["received"], event["loss_pct"]) == (21, 20, 4.8)
    assert (event["min_ms"], event["avg_ms"], event["max_ms"]) == (1.0, 10.5, 20.0)
    assert event["p95_ms"] == 19.0  # nearest rank: the 19th of 20
    # |3-1| + |2-3| + |4-2| + sixteen steps of 1, over 19 steps
    assert event["jitter_ms"] == round(21 / 19, 3)
    assert event["raw"].startswith("--- probe statistics: 21 probes, 20 answered, 4.8% loss")


def test_a_run_without_answers_or_probes() -> None:
    silent = Series()
    silent.probe()
    event = silent.summary("probe")
    assert (event["loss_pct"], event["min_ms"], event["p95_ms"], event["jitter_ms"]) == (
        100.0, None, None, None,
    )  # fmt: skip
    assert Series().summary("probe")["loss_pct"] is None


def test_seconds_in_parentheses() -> None:
    assert seconds("(0.0013s)") == 0.0013
    for junk in ("0.0013s", "(0.0013)", "(-1s)", "(nans)", "(infs)", "(s)", "()"):
        assert seconds(junk) is None, junk
