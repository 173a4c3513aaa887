"""d. fan-out: one target (real ping -i 0.2 -D) watched by 1 ... 1000
viewers: pingu's WAMP mode through Crossbar (one shared run), pingu's plain
WebSocket and websocketd (one ping each); processes, CPU and memory of all
of them, events delivered per second, delay from ping's print to the viewer."""

from __future__ import annotations

import time
from typing import Any

from clients import WAMPCLIENT, WSCLIENT, ms_stats, run_client_measured, session_errors
from context import CHILDREN, Ctx, failed, greeting, log, stop, wait_children
from report import COLORS, FAILURES, Column, fmt, lead, series, slash
from sampler import Sampler
from servers import wamp_available

from tests.harness.procs import descendants, pss_mb

NAME = "d_fanout"
TITLE = "d. Fan-out (one target at -i 0.2, N viewers)"
COLUMNS = [
    Column("mode", "mode"),
    Column("viewers", "viewers"),
    Column("processes", "processes"),
    Column(
        "CPU % all (pingu, router, pings)",
        ("cpu_pct", "server_cpu_pct", "router_cpu_pct", "kids_cpu_pct"),
        lead(),
    ),
    Column("memory MB, PSS, all", "memory_mb"),
    Column("events/s (expected)", ("events_per_s", "expected_events_per_s"), lead(0)),
    Column("delay p50/p99/max ms", ("delay.p50_ms", "delay.p99_ms", "delay.max_ms"), slash(2)),
    FAILURES,
]
PANELS = 2


def run(ctx: Ctx) -> dict:
    """One target (real ping at -i 0.2 with -D timestamps), V viewers.

    pingu-wamp: one node, one Crossbar router, one shared run whatever V;
    pingu and websocketd: one WebSocket session and one ping process per
    viewer.  Each server serves the viewer counts in rising order.  Memory
    is the PSS (shared pages split among their users) of every process
    involved, measured in the middle of the window; CPU is from /proc over
    the window.
    """
    q = ctx.quick
    viewers = [1, 100] if q else [1, 10, 100, 1000]
    window = 2.5 if q else 8
    warmup = 1 if q else 2
    rows = []
    wamp = wamp_available(ctx.src)
    child = [str(CHILDREN / "realping"), "0.2", "--timestamps"]
    for mode in ctx.pick(["pingu-wamp", "pingu", "websocketd"]):
        if mode == "pingu-wamp" and wamp is not True:
            rows += [{"mode": mode, "viewers": v, "error": f"skipped: {wamp}"} for v in viewers]
            continue
        servers: list[Any] = []
        try:
            if mode == "pingu-wamp":
                router, node = ctx.wamp(child)
                servers = [router, node]
                main = node
            else:
                main = ctx.server(mode, child, "ping0.2D")
                servers = [main]
                router = None
            for v in viewers:
                row: dict[str, Any] = {"mode": mode, "viewers": v}
                row["load_before_pct"] = ctx.gate()
                try:
                    spec: dict[str, Any] = {
                        "sessions": v,
                        "mode": "hold",
                        "inflight": 64,
                        "warmup": warmup,
                        "window": window,
                        "latency": True,
                        "first_timeout": 30,
                        "deadline": window + warmup + 120,
                    }
                    if router is not None:
                        spec.update(router.viewer_spec("127.0.0.1"))
                        script = WAMPCLIENT
                    else:
                        spec.update(url=main.url, first=greeting(mode, "127.0.0.1")["first"])
                        script = WSCLIENT
                    sampler = Sampler([main.pid], interval=0.5).start()
                    rsampler = (
                        Sampler([router.pid], interval=0.5, tree=True).start() if router else None
                    )

                    def memory(main: Any = main, router: Any = router) -> dict[str, float]:
                        kids = main.children()
                        out = {
                            "server": pss_mb([main.pid]),
                            "children": pss_mb(kids),
                            "processes": 1 + len(kids),
                        }
                        if router is not None:
                            tree = [router.pid, *descendants(router.pid)]
                            out["router"] = pss_mb(tree)
                            out["processes"] += len(tree)
                        return out

                    res, mem = run_client_measured(
                        spec, memory, script=script, timeout=window + warmup + 150
                    )
                    sampler.stop()
                    w0, w1 = res["window"]
                    secs = (w1 - w0) / 1e9
                    usage = sampler.window(w0, w1)
                    row["machine_pct"] = usage.get("machine_pct")
                    a, b = res["window_samples"]
                    cpu = usage["cpu_pct"] + usage["kids_cpu_pct"]
                    row.update(server_cpu_pct=usage["cpu_pct"], kids_cpu_pct=usage["kids_cpu_pct"])
                    if rsampler is not None:
                        rsampler.stop()
                        ru = rsampler.window(w0, w1)
                        row.update(router_cpu_pct=ru["cpu_pct"])
                        cpu += ru["cpu_pct"]
                    mem = mem or {}
                    sess = res["sessions"]
                    errors = session_errors(res)
                    row.update(
                        processes=mem.get("processes"),
                        cpu_pct=cpu,
                        memory_mb=sum(v for k, v in mem.items() if k != "processes") or None,
                        memory=mem,
                        server_rss_mb=usage["rss_mb"],
                        kids=usage["kids"],
                        events_per_s=sum(r[5] for r in sess) / secs,
                        expected_events_per_s=v / 0.2,
                        delay=ms_stats(res["samples"][a:b]),
                        failures=sum(errors.values()),
                        errors=dict(errors),
                    )
                except Exception as e:
                    failed(row, e)
                log(
                    f"d {mode:10} viewers={v:4} -> procs {row.get('processes')} "
                    f"cpu {fmt(row.get('cpu_pct'), 1)}% (server {fmt(row.get('server_cpu_pct'))}"
                    f", router {fmt(row.get('router_cpu_pct'))}) "
                    f"mem {fmt(row.get('memory_mb'), 1)} MB "
                    f"{fmt(row.get('events_per_s'), 0)} ev/s "
                    f"p99 {fmt((row.get('delay') or {}).get('p99_ms'), 2)} ms"
                )
                rows.append(row)
                if mode != "pingu-wamp":
                    wait_children(main, 0, 15)
                else:
                    time.sleep(1)  # the shared run ends when its last viewer leaves
        except Exception as e:
            rows.append(failed({"mode": mode, "viewers": 0}, e))
        finally:
            for s in reversed(servers):
                stop(s)
    return {"rows": rows, "window_s": window, "interval_s": 0.2}


def plot(axes: list[Any], rows: list[dict]) -> None:
    ax, ax2 = axes
    for name in series(rows, "mode"):
        pts = [
            (r["viewers"], r.get("cpu_pct"), r.get("memory_mb"), r.get("processes"))
            for r in rows
            if r["mode"] == name and r.get("cpu_pct") is not None
        ]
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], "o-", color=COLORS.get(name), label=name
            )
            ax2.plot(
                [p[0] for p in pts], [p[2] for p in pts], "o-", color=COLORS.get(name), label=name
            )
    for x, title in (
        (ax, "d. fan-out: CPU % (all processes)"),
        (ax2, "d. fan-out: memory MB (all processes)"),
    ):
        x.set_xscale("log")
        x.set_yscale("log")
        x.set_xlabel("viewers of one target")
        x.set_title(title)
        x.legend(fontsize=8)
