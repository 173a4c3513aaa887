"""c. concurrency: 100, 500, 1000 sessions of real ping to 127.0.0.1 at
-i 0.2, held after all have started (``--soak S``: 1000 pingu sessions for
S seconds); server CPU and RSS, children's RSS, PSS and CPU, lines per
second, time to the first line.  Each session comes from its own loopback
address (1000 sessions: 253 clients, 3 or 4 sessions each); pingu-w2's CPU
and RSS are sums over its parent, workers and watchdogs."""

from __future__ import annotations

from typing import Any

from clients import ms_stats, run_client_measured, session_errors
from context import CHILDREN, PEERS, Ctx, failed, greeting, log, sources, stop
from report import CLIENTS_NOTE, COLORS, FAILURES, Column, fmt, lead, series, slash, split
from sampler import server_sampler

from tests.harness.procs import pss_mb

NAME = "c_concurrency"
TITLE = "c. Concurrency (real ping to 127.0.0.1 at -i 0.2)"
COLUMNS = [
    Column("server", "variant"),
    Column("sessions", "sessions"),
    Column("server CPU %", "server_cpu_pct"),
    Column("server RSS MB", "server_rss_mb"),
    Column("RSS MB/min", "server_rss_growth_mb_per_min"),
    Column("children RSS (PSS) MB", ("kids_rss_mb", "kids_pss_mb"), lead(0)),
    Column("children CPU %", "kids_cpu_pct"),
    Column("lines/s (expected)", ("lines_per_s", "expected_lines_per_s"), lead(0)),
    Column("first line p50/p99/max ms", ("ttfl.p50_ms", "ttfl.p99_ms", "ttfl.max_ms"), slash(0)),
    FAILURES,
]
PANELS = 1
NOTES = [CLIENTS_NOTE]


def run(ctx: Ctx) -> dict:
    q = ctx.quick
    sizes = [1000] if q else [100, 500, 1000]
    window = 3 if q else 12
    warmup = 1.5 if q else 3
    variants = ctx.pick(
        ["pingu", "pingu-w2", "websocketd"]
        if q
        else ["pingu", "pingu.json", "pingu-w2", "pingu-w2.json", "websocketd", *PEERS]
    )
    if ctx.args.soak:
        # one long hold of 1000 sessions: does the server's memory level off?
        sizes, window, variants = [1000], ctx.args.soak, ["pingu"]
    rows = []
    for variant in variants:
        for n in sizes:
            row: dict[str, Any] = {"variant": variant, "sessions": n}
            row["load_before_pct"] = ctx.gate()
            server = None
            try:
                child = [str(CHILDREN / "realping"), "0.2"]
                server = ctx.server(variant, child, "ping0.2")
                sampler = server_sampler(server)
                # children's proportional memory, once, in the middle of the window
                res, pss = run_client_measured(
                    {
                        "url": server.url,
                        "sessions": n,
                        **greeting(variant, "127.0.0.1"),
                        **sources(),
                        "mode": "hold",
                        "inflight": 64,
                        "warmup": warmup,
                        "window": window,
                        "first_timeout": 30,
                        "deadline": window + warmup + 120,
                    },
                    lambda server=server: pss_mb(server.children()),
                    timeout=window + warmup + 150,
                )
                sampler.stop()
                w0, w1 = res["window"]
                usage = sampler.window(w0, w1)
                row["machine_pct"] = usage.get("machine_pct")
                secs = (w1 - w0) / 1e9
                sess = res["sessions"]
                ttfl = [r[2] - r[0] for r in sess if r[2]]
                errors = session_errors(res)
                row.update(
                    server_cpu_pct=usage["cpu_pct"],
                    server_cpu_pct_ticks=usage["cpu_pct_ticks"],
                    server_rss_mb=usage["rss_mb"],
                    server_rss_growth_mb_per_min=(usage["rss_mb_end"] - usage["rss_mb_start"])
                    * 60
                    / usage["seconds"],
                    kids=usage["kids"],
                    kids_rss_mb=usage["kids_rss_mb"],
                    kids_pss_mb=pss,
                    kids_cpu_pct=usage["kids_cpu_pct"],
                    lines_per_s=sum(r[5] for r in sess) / secs,
                    expected_lines_per_s=n / 0.2,
                    ttfl=ms_stats(ttfl),
                    ramp_s=(res["ramp_end"] - res["t0"]) / 1e9,
                    failures=sum(errors.values()),
                    errors=dict(errors),
                    client_cpu_pct=100 * res["client_cpu_s"] / ((res["t1"] - res["t0"]) / 1e9),
                    parts=usage.get("parts"),
                    # the server's RSS over the window: (seconds into it, MB)
                    rss_timeline=[
                        (round((x.t - w0) / 1e9, 1), round(x.rss_kb / 1024, 1))
                        for x in sampler.samples[:: max(1, len(sampler.samples) // 60)]
                        if w0 <= x.t <= w1
                    ],
                )
            except Exception as e:
                failed(row, e)
            finally:
                stop(server)
            log(
                f"c {variant:10} n={n:4} -> cpu {fmt(row.get('server_cpu_pct'), 1)}% "
                f"rss {fmt(row.get('server_rss_mb'), 1)} MB, kids {row.get('kids')} "
                f"{fmt(row.get('lines_per_s'), 0)} lines/s, failures {row.get('failures')}"
                f"{split(row)}"
            )
            rows.append(row)
    return {"rows": rows, "window_s": window, "interval_s": 0.2}


def plot(axes: list[Any], rows: list[dict]) -> None:
    (ax,) = axes
    for name in series(rows, "variant"):
        pts = [
            (r["sessions"], r.get("server_cpu_pct"), r.get("server_rss_mb"))
            for r in rows
            if r["variant"] == name and r.get("server_cpu_pct") is not None
        ]
        if pts:
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                "o-",
                color=COLORS.get(name),
                label=f"{name} CPU %",
            )
            ax.plot(
                [p[0] for p in pts],
                [p[2] for p in pts],
                "s--",
                color=COLORS.get(name),
                label=f"{name} RSS MB",
            )
    ax.axhline(100, color="grey", lw=0.5)
    ax.axhline(150, color="grey", lw=0.5, ls="--")
    ax.text(ax.get_xlim()[0], 101, " one core", fontsize=7, color="grey", va="bottom")
    ax.text(ax.get_xlim()[0], 151, " 150 MB", fontsize=7, color="grey", va="bottom")
    ax.set_xlabel("sessions (real ping, -i 0.2)")
    ax.set_title("c. concurrency: server CPU % and RSS MB")
    ax.legend(fontsize=7)
