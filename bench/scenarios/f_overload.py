"""f. overload: sessions asked at twice what the server carries (and, in a
full run, at half of it first: what a server refuses when it is not
overloaded), each connecting, sending its target, waiting for its first
line or its refusal, and closing.

pingu runs here at its default ``--max-lag`` (every other scenario raises
it, to measure how much pingu carries and how late): over it, pingu refuses
a new session at once with 4503 "busy, retry in N s" (pingu/lag.py), so the
figures are how fast a refused client learns it and how soon an admitted one
gets its first line.  websocketd and the Python peers have no such refusal:
they take everyone, and their first lines show the queue.

"What the server carries" is the most sessions/s pingu (text) completed in
scenario e of the same run (under 90 % of the asked rate stops e); without
scenario e, :data:`DEFAULT_CAPACITY`.  Every server is asked the same rate.
"""

from __future__ import annotations

import time
from typing import Any

from clients import finish_client, ms_stats, run_client, session_errors, start_client
from context import CHILDREN, PEERS, Ctx, failed, greeting, log, sources, stop, wait_children
from report import CLIENTS_NOTE, COLORS, FAILURES, Column, fmt, num, series, slash
from sampler import server_sampler

#: sessions/s pingu carries when scenario e has not run (the full run of
#: 2026-12-06: 409 completed at 600 asked)
DEFAULT_CAPACITY = 400
#: the refusal's close code
BUSY = 4503
#: sessions held through each step (ping -i 0.2, stamped): their lines' delay
HELD = 50

NAME = "f_overload"
TITLE = "f. Overload (half, then twice what pingu carries; pingu at its default --max-lag)"
COLUMNS = [
    Column("server", "variant"),
    Column("asked/s", "rate"),
    Column("first line/s", "achieved_per_s", num(0)),
    Column("refused/s", "refused_per_s", num(0)),
    Column("first line p50/p99 ms", ("first_line.p50_ms", "first_line.p99_ms"), slash(1)),
    Column(
        "refusal p50/p99/max ms", ("refusal.p50_ms", "refusal.p99_ms", "refusal.max_ms"), slash(1)
    ),
    Column("held: line delay p50/p99 ms", ("held.p50_ms", "held.p99_ms"), slash(1)),
    Column("server CPU %", "server_cpu_pct"),
    FAILURES,
]
PANELS = 1
NOTES = [
    CLIENTS_NOTE,
    "A refusal's time runs from the client's connect to the server's close frame "
    "(4503, busy); a first line's from the connect to the first output line. "
    "Nobody retries here: the page and pingu watch retry after the N s the refusal says.",
    f"Held: {HELD} sessions opened before the crowd and kept through it (ping -i 0.2 -D); "
    "a line's delay runs from ping's own stamp to the client's receipt.",
]



def capacity(ctx: Ctx) -> float:
    """The most sessions/s pingu completed in this run's scenario e."""
    rows = ctx.results.get("e_churn", {}).get("rows", [])
    done = [
        r["achieved_per_s"] for r in rows if r.get("variant") == "pingu" and r.get("achieved_per_s")
    ]
    return max(done) if done else DEFAULT_CAPACITY


def run(ctx: Ctx) -> dict:
    top = capacity(ctx)
    rates = (
        [int(round(2 * top, -1))]
        if ctx.quick
        else [int(round(top / 2, -1)), int(round(2 * top, -1))]
    )
    seconds = 2 if ctx.quick else 6
    # --quick: pingu and websocketd only (the run stays under three minutes)
    variants = ctx.pick(
        ["pingu", "websocketd"] if ctx.quick else ["pingu", "pingu.json", "websocketd", *PEERS]
    )
    rows = []
    for variant in variants:
        server = None
        try:
            child = [str(CHILDREN / "realping"), "0.2", "--timestamps"]
            server = ctx.server(variant, child, "overload", refuse_busy=True)
            for rate in rates:
                rows.append(step(ctx, server, variant, rate, seconds))
                wait_children(server, 0, 15)
        except Exception as e:
            rows.append(failed({"variant": variant}, e))
        finally:
            stop(server)
    return {"rows": rows, "rates": rates, "step_s": seconds}


def step(ctx: Ctx, server: Any, variant: str, rate: int, seconds: float) -> dict[str, Any]:
    """One rate against one server: its row."""
    row: dict[str, Any] = {"variant": variant, "rate": rate}
    row["load_before_pct"] = ctx.gate()
    held = None
    try:
        # sessions admitted before the crowd, whose pace the crowd must not
        # break: each line's delay from ping's own stamp (-D) to the client
        held = start_client(
            {
                "url": server.url,
                "sessions": HELD,
                **greeting(variant, "127.0.0.1"),
                **sources(200),
                "mode": "hold",
                "warmup": 0.5,
                "window": seconds + 1.5,
                "latency": True,
                "deadline": seconds + 60,
            }
        )
        wait_children(server, HELD, 30)
        time.sleep(0.5)
        sampler = server_sampler(server)
        res = run_client(
            {
                "url": server.url,
                "sessions": 0,
                **greeting(variant, "127.0.0.1"),
                **sources(),
                "mode": "churn",
                "rate": rate,
                "duration": seconds,
                # every session at once, so that a server's queue shows in
                # its figures, not in the client's
                "inflight": 4000,
                "max_open": 4000,
                "first_timeout": 20,
                "deadline": seconds + 60,
            },
            timeout=seconds + 90,
        )
        # the crowd's runs have ended (their end is part of what they cost)
        deadline = time.monotonic() + 15
        while len(server.children()) > HELD and time.monotonic() < deadline:
            time.sleep(0.1)
        sampler.stop()
        hres = finish_client(held, timeout=seconds + 60)
        held = None
        a, b = hres["window_samples"]
        sess = res["sessions"]
        # (a refused pingu.json session has a first message too: its error)
        ok = [r for r in sess if r[2] and r[6] != BUSY and not (r[7] and r[7] != "dropped")]
        refused = [r for r in sess if r[6] == BUSY and r[8]]
        # a refusal is an answer here, not a failure
        answered = {"sessions": [r for r in sess if r[6] != BUSY]}
        errors = session_errors(answered, ok_codes=(1000, 1005, None))
        span = max((res["launch_end"] - res["window"][0]) / 1e9, 1e-9)
        last = max((max(r[3], r[8] or 0) for r in sess), default=res["window"][1])
        usage = sampler.window(res["window"][0], last)
        row.update(
            asked=len(sess) + res.get("skipped", 0),
            ok=len(ok),
            refused=len(refused),
            achieved_per_s=len(ok) / span,
            refused_per_s=len(refused) / span,
            failures=sum(errors.values()) + res.get("skipped", 0),
            errors=dict(errors),
            first_line=ms_stats([r[2] - r[0] for r in ok]),
            refusal=ms_stats([r[8] - r[0] for r in refused]),
            server_cpu_pct=usage["cpu_pct"],
            kids_cpu_pct=usage["kids_cpu_pct"],
            held=ms_stats(hres["samples"][a:b]),
            held_errors=dict(session_errors(hres)),
            client_cpu_pct=100 * res["client_cpu_s"] / max((res["t1"] - res["t0"]) / 1e9, 1e-9),
        )
    except Exception as e:
        failed(row, e)
    finally:
        if held is not None:
            held.kill()
            held.wait()
    log(
        f"f {variant:10} rate={rate:4}/s -> first lines {row.get('ok')}, refused "
        f"{row.get('refused')}, first line p99 "
        f"{fmt((row.get('first_line') or {}).get('p99_ms'), 1)} ms, refusal p99 "
        f"{fmt((row.get('refusal') or {}).get('p99_ms'), 1)} ms"
    )
    return row


def plot(axes: list[Any], rows: list[dict]) -> None:
    (ax,) = axes
    top = max((r["rate"] for r in rows), default=0)
    rows = [r for r in rows if r["rate"] == top]
    names = series(rows, "variant")
    for i, name in enumerate(names):
        row = next(r for r in rows if r["variant"] == name)
        first = row.get("first_line") or {}
        refusal = row.get("refusal") or {}
        color = COLORS.get(name)
        if first.get("p99_ms") is not None:
            ax.bar(i - 0.2, first["p99_ms"], 0.4, color=color)
        if refusal.get("p99_ms") is not None:
            ax.bar(i + 0.2, refusal["p99_ms"], 0.4, color=color, hatch="//", alpha=0.6)
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms, p99 (plain: first line; hatched: refusal)")
    ax.set_title(f"f. overload at {top} sessions/s")
