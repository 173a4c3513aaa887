"""e. start-up and churn: sessions that connect, send the target, wait for
the first line and close, at rising rates until errors appear or the server
no longer keeps up (under 90 % of the asked rate).  Each session comes from
its own loopback address (round-robin over 253); pingu-w2's CPU is the sum
over its parent, workers and watchdogs."""

from __future__ import annotations

from typing import Any

from clients import ms_stats, run_client, session_errors
from context import CHILDREN, PEERS, Ctx, failed, greeting, log, sources, stop, wait_children
from report import CLIENTS_NOTE, COLORS, FAILURES, Column, fmt, num, series, slash, split
from sampler import server_sampler

NAME = "e_churn"
TITLE = "e. Start-up and churn (connect, first line, close)"
COLUMNS = [
    Column("server", "variant"),
    Column("asked/s", "rate"),
    Column("completed/s", "achieved_per_s", num(0)),
    Column("first line p50/p99 ms", ("first_line.p50_ms", "first_line.p99_ms"), slash(1)),
    Column("server CPU %", "server_cpu_pct"),
    Column("server CPU ms/session", "server_cpu_ms_per_session", num(2)),
    Column("children CPU %", "kids_cpu_pct"),
    FAILURES,
]
PANELS = 1
NOTES = [CLIENTS_NOTE]


def run(ctx: Ctx) -> dict:
    q = ctx.quick
    rates = [100, 400] if q else [25, 50, 100, 200, 300, 400, 600, 800]
    step = 1.5 if q else 5
    variants = ctx.pick(
        ["pingu", "pingu-w2", "websocketd", *PEERS]
        if q
        else ["pingu", "pingu.json", "pingu-w2", "pingu-w2.json", "websocketd", *PEERS]
    )
    rows = []
    for variant in variants:
        server = None
        try:
            child = [str(CHILDREN / "realping"), "0.2"]
            server = ctx.server(variant, child, "churn")
            for rate in rates:
                row: dict[str, Any] = {"variant": variant, "rate": rate}
                row["load_before_pct"] = ctx.gate()
                try:
                    sampler = server_sampler(server)
                    res = run_client(
                        {
                            "url": server.url,
                            "sessions": 0,
                            **greeting(variant, "127.0.0.1"),
                            **sources(),
                            "mode": "churn",
                            "rate": rate,
                            "duration": step,
                            "inflight": 256,
                            "first_timeout": 10,
                            "deadline": step + 60,
                        },
                        timeout=step + 90,
                    )
                    # Every run of the step ended (its ping reaped) before the
                    # last sample: the server's CPU from the first sample to
                    # it is what the step's sessions cost, whole.
                    wait_children(server, 0, 10)
                    sampler.stop()
                    sess = res["sessions"]
                    errors = session_errors(res, ok_codes=(1000, 1005, None))
                    ok = [r for r in sess if r[2] and not (r[7] and r[7] != "dropped")]
                    launch = (res["launch_end"] - res["window"][0]) / 1e9
                    done = max((r[3] for r in ok), default=res["window"][0])
                    span = max((done - res["window"][0]) / 1e9, launch)
                    usage = sampler.window(res["window"][0], done)
                    row["machine_pct"] = usage.get("machine_pct")
                    # A session's cost (connect, upgrade, request, spawn, first
                    # line, end, close, log): the server's CPU over the whole
                    # step, its end included, shared by the step's sessions.
                    first, last = sampler.samples[0], sampler.samples[-1]
                    row["server_cpu_ms_per_session"] = (
                        (last.cpu - first.cpu) / 1e6 / len(sess) if sess else None
                    )
                    row.update(
                        asked=len(sess) + res.get("skipped", 0),
                        ok=len(ok),
                        achieved_per_s=len(ok) / span if span else None,
                        failures=sum(errors.values()) + res.get("skipped", 0),
                        errors=dict(errors),
                        first_line=ms_stats([r[2] - r[0] for r in ok]),
                        server_cpu_pct=usage["cpu_pct"],
                        kids_cpu_pct=usage["kids_cpu_pct"],
                        max_kids=usage["kids"],
                        parts=usage.get("parts"),
                    )
                except Exception as e:
                    failed(row, e)
                rows.append(row)
                log(
                    f"e {variant:10} rate={rate:4}/s -> ok {row.get('ok')} "
                    f"({fmt(row.get('achieved_per_s'), 0)}/s) failures {row.get('failures')} "
                    f"first line p99 {fmt((row.get('first_line') or {}).get('p99_ms'), 1)} ms"
                    f"{split(row)}"
                )
                wait_children(server, 0, 10)
                if row.get("error") or churn_broke(row):
                    break
        except Exception as e:
            rows.append(failed({"variant": variant}, e))
        finally:
            stop(server)
    return {"rows": rows, "step_s": step}


def churn_broke(row: dict) -> bool:
    """Errors appeared, or the server no longer keeps up with the asked rate."""
    asked = row.get("asked") or 0
    return bool(
        row.get("failures") or (asked and (row.get("achieved_per_s") or 0) < 0.9 * row["rate"])
    )


def plot(axes: list[Any], rows: list[dict]) -> None:
    (ax,) = axes
    for name in series(rows, "variant"):
        pts = [
            (r["rate"], r.get("achieved_per_s"), r.get("failures"))
            for r in rows
            if r["variant"] == name and r.get("achieved_per_s") is not None
        ]
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], "o-", color=COLORS.get(name), label=name
            )
            for p in pts:
                if p[2]:
                    ax.annotate(f"{p[2]} err", (p[0], p[1]), fontsize=7)
    if rows:
        top = max(r["rate"] for r in rows)
        ax.plot([0, top], [0, top], color="grey", lw=0.5)
    ax.set_xlabel("sessions asked per second")
    ax.set_ylabel("completed per second")
    ax.set_title("e. churn")
    ax.legend(fontsize=8)
