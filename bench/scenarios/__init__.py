"""The bench's scenarios, one module each, in the order they run and are
drawn.  Each module has ``NAME`` (its key in bench.json), ``TITLE`` and
``COLUMNS`` (its table, see report.Column), ``run(ctx) -> {"rows": [...]}``
and ``plot(axes, rows)`` on ``PANELS`` panels of the chart."""

from scenarios import a_throughput, b_latency, c_concurrency, d_fanout, e_churn, f_overload

#: letter (``--only``) -> module
SCENARIOS = {
    "a": a_throughput,
    "b": b_latency,
    "c": c_concurrency,
    "d": d_fanout,
    "e": e_churn,
    "f": f_overload,
}
