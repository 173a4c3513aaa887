#!/usr/bin/env python3
"""The bench's targets, from one run's bench.json: issue 13's and 21's as
ratios to websocketd, and the overload's (scenario f) as figures.

    python3 bench/targets.py [bench/latest.json]

Prints an rST table (figure, pingu, pingu.json, websocketd, ratios, target, met)
for the manual's performance page (docs/performance.rst); when the run has ``pingu-w2`` figures
(``twistd pingu --workers 2``), a second table, the same for pingu-w2 and
pingu-w2.json.  Every ratio is taken within the one run.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Optional


def rows(d: dict, scenario: str) -> list[dict]:
    return d.get(scenario, {}).get("rows", [])


def pick(d: dict, scenario: str, **match: Any) -> Optional[dict]:
    for r in rows(d, scenario):
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def get(r: Optional[dict], path: str) -> Optional[float]:
    if r is None:
        return None
    v: Any = r
    for part in path.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return v if isinstance(v, (int, float)) else None


def churn_kept(d: dict, variant: str) -> Optional[float]:
    """Highest sessions/s completed at any asked rate (the server's ceiling)."""
    done = [r.get("achieved_per_s") or 0 for r in rows(d, "e_churn") if r["variant"] == variant]
    return max(done) if done else None


def churn_p99(d: dict, variant: str, rate: int = 300) -> Optional[float]:
    return get(pick(d, "e_churn", variant=variant, rate=rate), "first_line.p99_ms")


def churn(d: dict, variant: str, rate: int, key: str) -> Optional[float]:
    return get(pick(d, "e_churn", variant=variant, rate=rate), key)


def fmt(v: Optional[float], digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}".replace(",", " ")


#: the pingu series each table compares with websocketd: (text, json)
SINGLE = ("pingu", "pingu.json")
WORKERS2 = ("pingu-w2", "pingu-w2.json")


def has(d: dict, variant: str) -> bool:
    """Does the run have any row of ``variant``?"""
    return any(
        r.get("variant") == variant for section in d.values() if isinstance(section, dict)
        for r in section.get("rows", [])
    )  # fmt: skip


def rst_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """An rST simple table of ``header`` and ``rows``."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    rule = " ".join("=" * w for w in widths)
    lines = [rule, " ".join(h.ljust(w) for h, w in zip(header, widths)), rule]
    lines += [" ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.append(rule)
    return "\n".join(lines)


def table(d: dict, series: tuple[str, str] = SINGLE) -> str:
    def a(variant: str, clients: int) -> Optional[float]:
        return get(pick(d, "a_throughput", variant=variant, clients=clients), "lines_per_s")

    def b(variant: str, bg: int) -> Optional[float]:
        return get(pick(d, "b_latency", variant=variant, background=bg), "p99_ms")

    def c(variant: str, key: str) -> Optional[float]:
        return get(pick(d, "c_concurrency", variant=variant, sessions=1000), key)

    def lost(variant: str) -> Optional[float]:
        r = pick(d, "c_concurrency", variant=variant, sessions=1000)
        return None if r is None else r.get("failures")

    Spec = tuple[str, Callable[[str], Optional[float]], str, Callable[[float], bool], int]
    specs: list[Spec] = [
        ("a. lines/s, 1 client", lambda v: a(v, 1), "> 1 (keep the lead)", lambda x: x > 1, 0),
        ("a. lines/s, 10 clients", lambda v: a(v, 10), ">= 1", lambda x: x >= 1, 0),
        ("b. p99 ms, idle", lambda v: b(v, 0), "<= 1", lambda x: x <= 1, 2),
        ("b. p99 ms, 200 other sessions", lambda v: b(v, 200), "<= 1", lambda x: x <= 1, 2),
        ("c. 1000 pings: server CPU %", lambda v: c(v, "server_cpu_pct"), "<= 0.8",
         lambda x: x <= 0.8, 1),
        ("c. 1000 pings: server RSS MB", lambda v: c(v, "server_rss_mb"), "<= 1",
         lambda x: x <= 1, 1),
        ("e. churn: completed/s at 300/s", lambda v: churn(d, v, 300, "achieved_per_s"),
         ">= 1", lambda x: x >= 0.995, 0),
        ("e. churn: completed/s at 400/s", lambda v: churn(d, v, 400, "achieved_per_s"),
         ">= 1", lambda x: x >= 0.995, 0),
        ("e. churn: first line p99 ms at 300/s", lambda v: churn_p99(d, v), "<= 2",
         lambda x: x <= 2, 1),
        ("e. churn: server CPU ms/session at 300/s",
         lambda v: churn(d, v, 300, "server_cpu_ms_per_session"), "<= 1", lambda x: x <= 1, 2),
        ("e. churn: server CPU ms/session at 400/s",
         lambda v: churn(d, v, 400, "server_cpu_ms_per_session"), "<= 1", lambda x: x <= 1, 2),
        ("e. churn: most sessions/s completed, any rate", lambda v: churn_kept(d, v),
         "(shown)", lambda x: True, 0),
    ]  # fmt: skip
    text, json_ = series
    header = ("figure", text, json_, "websocketd", "ratio (json)", "target", "met")
    out: list[tuple[str, ...]] = []
    for title, value, target, ok, digits in specs:
        p, j, w = value(text), value(json_), value("websocketd")
        ratios = [x / w if x is not None and w else None for x in (p, j)]
        met = ["-" if r is None else ("yes" if ok(r) else "no") for r in ratios]
        out.append(
            (
                title,
                fmt(p, digits),
                fmt(j, digits),
                fmt(w, digits),
                f"{fmt(ratios[0], 2)} ({fmt(ratios[1], 2)})",
                target,
                f"{met[0]} ({met[1]})",
            )
        )
    lost_p, lost_j = lost(text), lost(json_)
    out.append(("c. 1000 pings: sessions failed", fmt(lost_p, 0), fmt(lost_j, 0),
                fmt(lost("websocketd"), 0), "", "0", "yes" if not lost_p else "no"))  # fmt: skip
    return rst_table(header, out)


#: the overload targets (issue 21): a refusal's p99, ms, at twice what pingu
#: carries; an admitted session's first line p99 there, ms; the share of
#: sessions refused at half of it
REFUSAL_P99_MS = 50
FIRST_LINE_P99_MS = 1000
REFUSED_AT_HALF = 0.01


def overload_table(d: dict, series: tuple[str, str] = SINGLE) -> str:
    """Scenario f's figures against their targets (absolute: websocketd and
    the Python peers refuse nobody; their first lines are shown beside)."""
    rows_f = rows(d, "f_overload")
    if not rows_f:
        return ""
    top = max(r["rate"] for r in rows_f)
    low = min(r["rate"] for r in rows_f)

    def f(variant: str, rate: int, path: str) -> Optional[float]:
        return get(pick(d, "f_overload", variant=variant, rate=rate), path)

    def refused_share(variant: str) -> Optional[float]:
        r = pick(d, "f_overload", variant=variant, rate=low)
        if r is None or not r.get("asked"):
            return None
        return (r.get("refused") or 0) / r["asked"]

    text, json_ = series
    peers = ("websocketd", "py-websockets", "py-asgi")
    specs: list[tuple[str, Callable[[str], Optional[float]], str, Callable[[float], bool], int]]
    specs = [
        (f"f. refusal p99 ms at {top}/s", lambda v: f(v, top, "refusal.p99_ms"),
         f"<= {REFUSAL_P99_MS}", lambda x: x <= REFUSAL_P99_MS, 1),
        (f"f. first line p99 ms at {top}/s", lambda v: f(v, top, "first_line.p99_ms"),
         f"<= {FIRST_LINE_P99_MS}", lambda x: x <= FIRST_LINE_P99_MS, 1),
    ]  # fmt: skip
    if low != top:
        specs.append(
            (f"f. share refused at {low}/s", refused_share, f"<= {REFUSED_AT_HALF:.0%}",
             lambda x: x <= REFUSED_AT_HALF, 3)
        )  # fmt: skip
    header = ("figure", text, json_, *peers, "target", "met")
    out: list[tuple[str, ...]] = []
    for title, value, target, ok, digits in specs:
        p, j = value(text), value(json_)
        met = ["-" if x is None else ("yes" if ok(x) else "no") for x in (p, j)]
        out.append(
            (title, fmt(p, digits), fmt(j, digits), *(fmt(value(v), digits) for v in peers),
             target, f"{met[0]} ({met[1]})")
        )  # fmt: skip
    return rst_table(header, out)


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "bench/latest.json"
    d = json.load(open(path))
    meta = d["meta"]
    print(f"run of {meta['date']}, commit {meta['commit']}, quick={meta['quick']}\n")
    print(table(d))
    overload = overload_table(d)
    if overload:
        print(f"\noverload (scenario f; pingu at its default --max-lag)\n\n{overload}")
    if has(d, WORKERS2[0]) or has(d, WORKERS2[1]):
        print(f"\n{WORKERS2[0]}: twistd pingu --workers 2, CPU and RSS summed over its processes\n")
        print(table(d, WORKERS2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
