"""The memory a node's events can take, with the default limits, measured.

What grows with what clients do is the events runs keep: the backlogs of
shared runs (and the WAMP node's ended runs), within ``--max-backlog-bytes``
of JSON, and the few events of each private run.  This fills them the worst
way: ``--max-runs`` shared runs, each fed by a FAKE ping (the test suite's
in-memory spawner, no processes) that answers every request with duplicates,
then with lines of ``--max-line`` bytes, far past the budget, and reads the
process's RSS from /proc as it goes.  The real hub, runs and backlogs; a fake
clock and fake children, because a thousand real duplicate floods cannot be
made on demand.

    .venv/bin/python bench/worst_rss.py      # prints a table, writes bench/results/worst-rss.json
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from twisted.internet.testing import MemoryReactorClock  # noqa: E402

from pingu import events  # noqa: E402
from pingu.backlog import EVENT_OVERHEAD  # noqa: E402
from pingu.limits import Limits  # noqa: E402
from pingu.request import ResolvedRequest  # noqa: E402
from pingu.runs import RunHub  # noqa: E402
from pingu.tools.ping import PingOptions  # noqa: E402
from tests.harness.memory import FakeSpawner  # noqa: E402

DUP = "64 bytes from {addr}: icmp_seq={seq} ttl=64 time=0.045 ms (DUP!)"


def rss_mb() -> float:
    """This process's resident set, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def fill(hub: RunHub, spawner: FakeSpawner, runs: int, line: str, rounds: int) -> None:
    """Every run's FAKE child says ``line`` ``rounds`` times."""
    children = [transport for _, _, transport in spawner.started[-runs:]]
    for _ in range(rounds):
        for i, child in enumerate(children):
            child.say(line.replace("{addr}", f"10.{i // 250}.{i % 250}.1"))


def main() -> int:
    limits = Limits()
    spawner = FakeSpawner()
    hub = RunHub(MemoryReactorClock(), "/usr/bin/ping", limits, spawner=spawner)
    gc.collect()
    rows = [{"step": "empty hub", "budget_used_mb": 0.0, "rss_mb": round(rss_mb(), 1)}]
    shared = []
    for i in range(limits.max_runs):
        request = ResolvedRequest(
            "dup.example", f"10.{i // 250}.{i % 250}.1", 4, PingOptions(count=None)
        )
        run = hub.start(request, client=f"198.51.100.{i % 200}", shared=True)
        run.add_viewer(f"viewer-{i}")
        shared.append(run)
    budget = limits.max_backlog_bytes

    def record(step: str) -> None:
        gc.collect()
        rows.append(
            {
                "step": step,
                "budget_used_mb": round(hub.budget.used / 2**20, 1),
                "dropped": hub.budget.dropped,
                "events_kept": sum(len(run.backlog) for run in shared),
                "rss_mb": round(rss_mb(), 1),
            }
        )

    record(f"{limits.max_runs} shared runs started")
    offered = 0
    seq = 0
    for line, label in ((DUP, "duplicate flood"), ("x" * limits.max_line, "--max-line lines")):
        offered = 0
        for share in (0.5, 1.0, 2.0):
            while offered < share * budget:
                fill(hub, spawner, limits.max_runs, line.replace("{seq}", str(seq)), 1)
                seq += 1
                last = shared[0].backlog[-1]
                cost = len(events.encode(last).encode("utf-8")) + EVENT_OVERHEAD
                offered += limits.max_runs * cost
            record(f"{label}: {share:g}x the budget offered")
    print(f"{'step':<58} {'budget MB':>9} {'events':>9} {'RSS MB':>7}")
    for row in rows:
        print(
            f"{row['step']:<58} {row['budget_used_mb']:>9} "
            f"{row.get('events_kept', 0):>9} {row['rss_mb']:>7}"
        )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "worst-rss.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
