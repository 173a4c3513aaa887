"""a. throughput: the flood child, 1 client and 10 clients at once (each
from its own loopback address: 10 distinct clients); lines delivered per
second, server CPU, CPU time per message.  pingu-w2 (``--workers 2``) has
its CPU and RSS summed over its processes, and each one's in ``parts``."""

from __future__ import annotations

from typing import Any

from clients import run_client, session_errors
from context import CHILDREN, PEERS, PY, Ctx, failed, greeting, log, sources, stop
from report import CLIENTS_NOTE, COLORS, FAILURES, Column, fmt, num, series, split
from sampler import server_sampler

NAME = "a_throughput"
TITLE = "a. Throughput (flood child, lines delivered per second)"
COLUMNS = [
    Column("server", "variant"),
    Column("clients", "clients"),
    Column("lines/s", "lines_per_s", num(0)),
    Column("messages", "messages"),
    Column("server CPU %", "server_cpu_pct"),
    Column("CPU µs/msg", "cpu_us_per_msg"),
    Column("client CPU %", "client_cpu_pct"),
    Column("server RSS MB", "server_rss_mb"),
    FAILURES,
]
PANELS = 1
NOTES = [CLIENTS_NOTE]


def run(ctx: Ctx) -> dict:
    q = ctx.quick
    plan = {1: 40_000 if q else 200_000, 10: 8_000 if q else 40_000}
    # (--quick runs the Python peers in the churn only: it stays under 3 minutes)
    peers = [] if q else PEERS
    variants = ctx.pick(["pingu", "pingu.json", "pingu-w2", "pingu-w2.json", "websocketd", *peers])
    rows = []
    for variant in variants:
        for clients, lines in plan.items():
            row: dict[str, Any] = {"variant": variant, "clients": clients, "lines_each": lines}
            row["load_before_pct"] = ctx.gate()
            child = [PY, str(CHILDREN / "flood.py"), "--lines", str(lines)]
            server = None
            try:
                server = ctx.server(variant, child, f"flood{lines}")
                sampler = server_sampler(server, interval=0.25)
                res = run_client(
                    {
                        "url": server.url,
                        "sessions": clients,
                        **greeting(variant, "127.0.0.1"),
                        **sources(),
                        "mode": "drain",
                        "inflight": clients,
                        "drain_timeout": 120,
                        "deadline": 150,
                    }
                )
                sampler.stop()
                sess = res["sessions"]
                total = sum(r[4] for r in sess)
                begin = min((r[1] for r in sess if r[1]), default=0)
                end = max((r[3] for r in sess if r[3]), default=0)
                secs = (end - begin) / 1e9 if end > begin else float("nan")
                usage = sampler.window(begin, end) if end > begin else {}
                row["machine_pct"] = usage.get("machine_pct")
                row.update(
                    messages=total,
                    seconds=secs,
                    lines_per_s=total / secs if secs == secs and secs > 0 else None,
                    server_cpu_pct=usage.get("cpu_pct"),
                    # server CPU time per message delivered: steadier than
                    # lines/s when other jobs share the machine
                    cpu_us_per_msg=(usage["cpu_pct"] / 100 * usage["seconds"] / total * 1e6)
                    if usage and total
                    else None,
                    kids_cpu_pct=usage.get("kids_cpu_pct"),
                    server_rss_mb=usage.get("rss_mb"),
                    client_cpu_pct=100
                    * res["client_cpu_s"]
                    / max((res["t1"] - res["t0"]) / 1e9, 1e-9),
                    short_sessions=sum(1 for r in sess if r[4] < lines),
                    errors=dict(session_errors(res)),
                    parts=usage.get("parts"),
                )
            except Exception as e:
                failed(row, e)
            finally:
                stop(server)
            log(
                f"a {variant:10} clients={clients:2} -> {fmt(row.get('lines_per_s'), 0)} lines/s"
                f"{split(row)}"
            )
            rows.append(row)
    return {"rows": rows}


def plot(axes: list[Any], rows: list[dict]) -> None:
    (ax,) = axes
    names = series(rows, "variant")
    for i, name in enumerate(names):
        for j, clients in enumerate((1, 10)):
            r = next((r for r in rows if r["variant"] == name and r["clients"] == clients), {})
            ax.bar(
                j * (len(names) + 1) + i,
                (r.get("lines_per_s") or 0) / 1000,
                color=COLORS.get(name),
                label=name if j == 0 else None,
            )
    ax.set_xticks([(len(names) - 1) / 2, len(names) + 1 + (len(names) - 1) / 2])
    ax.set_xticklabels(["1 client", "10 clients"])
    ax.set_ylabel("thousand lines/s")
    ax.set_title("a. throughput")
    ax.legend(fontsize=8)
