"""b. latency: the ticker every 10 ms, one client; delay from the child's
write to the client's receipt, on an idle server and with 200 other sessions
of real ping; the "pipe" row is the same child read straight from its pipe.
Each session comes from its own loopback address (the measured one from
the address after the 200 others'); pingu-w2's CPU is the sum over its
parent, workers and watchdogs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from clients import BENCH, finish_client, ms_stats, run_client, session_errors, start_client
from context import CHILDREN, PEERS, Ctx, failed, greeting, log, sources, stop, wait_children
from report import CLIENTS_NOTE, COLORS, FAILURES, Column, fmt, num, split
from sampler import server_sampler

NAME = "b_latency"
TITLE = "b. Latency, child write to client receipt (a line every 10 ms)"
COLUMNS = [
    Column("server", "variant"),
    Column("other sessions", "background"),
    Column("samples", "n"),
    Column("p50 ms", "p50_ms", num(3)),
    Column("p99 ms", "p99_ms", num(3)),
    Column("max ms", "max_ms", num(3)),
    Column("server CPU %", "server_cpu_pct"),
    FAILURES,
]
PANELS = 1
NOTES = [CLIENTS_NOTE]


def run(ctx: Ctx) -> dict:
    q = ctx.quick
    window = 2.5 if q else 15
    background = 200
    variants = ctx.pick(
        ["pingu", "pingu-w2", "websocketd"]
        if q
        else ["pingu", "pingu.json", "pingu-w2", "pingu-w2.json", "websocketd", *PEERS]
    )
    rows = []
    for variant in variants:
        child = [str(CHILDREN / "mixed"), "0.01", "0.2"]
        server = None
        try:
            server = ctx.server(variant, child, "mixed")
            for load in (0, background):
                row: dict[str, Any] = {"variant": variant, "background": load}
                row["load_before_pct"] = ctx.gate()
                bg = None
                try:
                    sampler = server_sampler(server)
                    if load:
                        bg = start_client(
                            {
                                "url": server.url,
                                "sessions": load,
                                **greeting(variant, "127.0.0.1"),
                                **sources(),
                                "mode": "hold",
                                "warmup": 0,
                                "window": window + 6,
                                "deadline": window + 60,
                            }
                        )
                        wait_children(server, load, 30)
                        time.sleep(1)
                    res = run_client(
                        {
                            "url": server.url,
                            "sessions": 1,
                            **greeting(variant, "::1"),
                            **sources(background),
                            "mode": "hold",
                            "warmup": 1,
                            "window": window,
                            "latency": True,
                            "deadline": window + 30,
                        }
                    )
                    a, b = res["window_samples"]
                    samples = res["samples"][a:b]
                    usage = sampler.window(*res["window"])
                    row["machine_pct"] = usage.get("machine_pct")
                    row.update(ms_stats(samples))
                    row.update(
                        server_cpu_pct=usage["cpu_pct"],
                        kids=usage["kids"],
                        errors=dict(session_errors(res)),
                        parts=usage.get("parts"),
                    )
                    if bg is not None:
                        bres = finish_client(bg, timeout=window + 60)
                        bg = None
                        row["background_errors"] = dict(session_errors(bres))
                        row["background_lines_per_s"] = sum(r[5] for r in bres["sessions"]) / (
                            (bres["window"][1] - bres["window"][0]) / 1e9
                        )
                    sampler.stop()
                except Exception as e:
                    failed(row, e)
                finally:
                    if bg is not None:
                        bg.kill()
                        bg.wait()
                log(
                    f"b {variant:10} bg={load:3} -> p50 {fmt(row.get('p50_ms'), 3)} "
                    f"p99 {fmt(row.get('p99_ms'), 3)} max {fmt(row.get('max_ms'), 3)} ms"
                    f"{split(row)}"
                )
                rows.append(row)
                wait_children(server, 0, 10)
        except Exception as e:
            rows.append(failed({"variant": variant}, e))
        finally:
            stop(server)
    if "pipe" in ctx.pick(["pipe"]):
        # the floor: the same child read straight from its pipe, no server
        row = {"variant": "pipe (no server)", "background": 0}
        row["load_before_pct"] = ctx.gate()
        try:
            proc = subprocess.run(
                [sys.executable, str(BENCH / "pipefloor.py"), "0.01", str(window), "1"],
                capture_output=True,
                timeout=window + 40,
            )
            row.update(ms_stats(json.loads(proc.stdout)["samples"]))
        except Exception as e:
            row["error"] = f"{type(e).__name__}: {e}"
        log(
            f"b pipe (no server) -> p50 {fmt(row.get('p50_ms'), 3)} "
            f"p99 {fmt(row.get('p99_ms'), 3)} max {fmt(row.get('max_ms'), 3)} ms"
        )
        rows.append(row)
    return {"rows": rows, "interval_ms": 10, "window_s": window}


def plot(axes: list[Any], rows: list[dict]) -> None:
    (ax,) = axes
    labels = []
    for i, r in enumerate(r for r in rows if "p50_ms" in r):
        labels.append(f"{r['variant']}\n{'idle' if not r['background'] else '+200'}")
        for k, (key, hatch) in enumerate((("p50_ms", ""), ("p99_ms", "//"), ("max_ms", ".."))):
            ax.bar(
                i * 4 + k,
                r.get(key) or 0,
                color=COLORS.get(r["variant"]),
                hatch=hatch,
                edgecolor="black",
                linewidth=0.3,
            )
    ax.set_xticks([i * 4 + 1 for i in range(len(labels))])
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ms (p50, p99 //, max ..)")
    ax.set_title("b. latency child → client")
