#!/usr/bin/env python3
"""pingu against websocketd and against itself, side by side in one run.

    bench/run [--quick] [--out DIR] [--only a,b,...] [--pingu-src DIR] [--profile]

(``bench/run`` installs what is needed and calls this file with the bench
venv's Python.)  Scenarios (bench/README.rst says what each measures), one
module each in bench/scenarios/:

a  throughput   a child printing N reply lines as fast as it can; 1 and 10 clients
b  latency      a child printing a timestamped line every 10 ms; idle, and with
                200 other sessions of real ping running
c  concurrency  100, 500, 1000 sessions of real ping to 127.0.0.1 at -i 0.2
d  fan-out      one target, 1/10/100/1000 viewers: pingu WAMP through Crossbar
                (one shared run), pingu WebSocket and websocketd (one process each)
e  churn        sessions started and ended per second, rising until errors appear

pingu runs as one process ("pingu", "pingu.json") and as --workers 2
("pingu-w2", "pingu-w2.json") in a, b, c and e.  The load clients' sessions
come from distinct loopback addresses (127.0.0.2 ... 127.0.0.254), but in d.

Prints a table per scenario; writes OUT/bench.json (raw), OUT/bench.png
(chart) and OUT/tables.rst.  Nothing here is a pass/fail gate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
# the bench's own modules, and the repository for the shared harness (tests/harness)
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import report  # noqa: E402
from context import Ctx, log, stop_all  # noqa: E402
from machine import cpu_model, git_commit, icmp_sockets, restore_icmp, versions  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

from tests.harness import REPO  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="a short run (under two minutes)")
    add("--out", default=str(BENCH / "results"), help="results folder")
    add("--only", default="abcdef", help="scenarios to run, e.g. 'ac' or 'a,c'")
    add("--servers", help="only these series, e.g. pingu,websocketd (of pingu, pingu.json, "
        "pingu-w2, pingu-w2.json, websocketd, pingu-wamp, pipe)")  # fmt: skip
    add("--pingu-src", help="source tree to run pingu from (a patched copy)")
    add("--profile", action="store_true",
        help="also run pingu under cProfile during the throughput scenario")  # fmt: skip
    add("--wait-quiet", type=float, default=0, metavar="S",
        help="before each step, wait for other jobs to calm down; S seconds in all")  # fmt: skip
    add("--soak", type=float, default=0, metavar="S",
        help="scenario c only: hold 1000 pingu sessions for S seconds")  # fmt: skip
    add("--raw-icmp", action="store_true",
        help="leave net.ipv4.ping_group_range alone (see ICMP SOCKETS in machine.py)")  # fmt: skip
    add("--publish", action="store_true",
        help="also copy the chart and raw results to bench/latest.*")  # fmt: skip
    return parser.parse_args()


def main() -> int:
    args = arguments()
    ctx = Ctx(args)
    started = time.monotonic()
    results: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "quick": args.quick,
            "cpus": os.cpu_count(),
            "machine": platform.platform(),
            "cpu_model": cpu_model(),
            "versions": versions(),
            "pingu_src": str(ctx.src or REPO),
            "commit": git_commit(),
        }
    }
    results["meta"]["icmp"] = icmp_sockets(args.raw_icmp)
    try:
        for key in args.only.replace(",", ""):
            scenario = SCENARIOS[key]
            log(f"scenario {scenario.NAME}")
            t0 = time.monotonic()
            try:
                results[scenario.NAME] = ctx.results[scenario.NAME] = scenario.run(ctx)
            except Exception as e:
                results[scenario.NAME] = {"error": f"{type(e).__name__}: {e}", "rows": []}
                log(traceback.format_exc())
            results[scenario.NAME]["elapsed_s"] = time.monotonic() - t0
        if args.profile:
            from profiling import profile_pingu

            results["profile"] = profile_pingu(ctx)
    finally:
        stop_all()
        restore_icmp(results["meta"]["icmp"])
    results["meta"]["elapsed_s"] = time.monotonic() - started
    write(results, ctx.out, args.publish)
    return 0


def write(results: dict[str, Any], out: Path, publish: bool) -> None:
    """bench.json, tables.rst, the tables on stdout, bench.png; bench/latest.* with --publish."""
    scenarios = list(SCENARIOS.values())
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    (out / "tables.rst").write_text(report.rst_tables(results, scenarios))
    print(report.text_tables(results, scenarios))
    try:
        report.chart(results, scenarios, out / "bench.png")
    except Exception as e:
        log(f"no chart: {e}")
    if publish:
        shutil.copy(out / "bench.png", BENCH / "latest.png")
        shutil.copy(out / "bench.json", BENCH / "latest.json")
        shutil.copy(out / "tables.rst", BENCH / "latest-tables.rst")
    log(f"done in {results['meta']['elapsed_s']:.0f}s: {out}/bench.json, bench.png, tables.rst")


if __name__ == "__main__":
    sys.exit(main())
