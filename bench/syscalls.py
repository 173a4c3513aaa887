#!/usr/bin/env python3
"""System calls per output line and per session, from ``strace -c``.

    PYTHONPATH=. .venv-bench/bin/python bench/syscalls.py [--sessions N] [--seconds S]
        [--tracer perf|strace|py-spy|cprofile] [--churn RATE --background N] [--variant V]
        [--pingu-src DIR]

* steady: N sessions of real ping at ``-i 0.2`` (the concurrency scenario's
  load), held; the server's system calls for S seconds, counted by the
  kernel (``perf stat`` on the syscall tracepoints: no slow-down) or, with
  ``--tracer strace``, by ``strace -c -f -p PID`` (every call by name, but
  the server runs several times slower, so more lines per wake-up); the
  lines the client got in that time.  Per line: every system call, and
  ``epoll_wait`` (one per reactor iteration).
* churn (``--churn RATE``): sessions that connect, get their first line and
  close, at RATE a second for S seconds, over ``--background N`` held
  sessions (the children a reaper has to look at); counted with ``perf
  stat`` too (the server's thread, not its children), per session accepted
  while counting (``accept4``; also per session the client began in the
  window: ``per_session_began``); with a background, its lines' calls
  (``read``, ``sendto``) are in the figures.  ``--tracer strace`` counts
  every call by name on the server's own threads only (one ``-p`` each, no
  ``-f``: its children's exec is not counted), slowing them: use a low rate.

Counts do not depend on what else the machine runs, unlike times: that is
why they are measured this way.  Not a test.

``--tracer cprofile`` (churn only) runs the server under cProfile instead and
prints its Python function calls per session that completed (the whole
reactor run divided by the sessions: its idle work, the lag meter's ten
ticks a second, is a few hundred calls a second) and the functions called
most per session; the statistics kept in ``--out``.  Exact, whatever the
machine's load.

``--tracer py-spy`` (churn only) samples the server's Python stacks instead
(``py-spy record --gil``: the thread holding the GIL, 250 Hz; py-spy from
``PATH`` or ``$PY_SPY``) and prints the functions by their share of the
samples (inclusive), the collapsed stacks kept in ``--out``.  Every churn
row also has the server's own CPU (``/proc/PID/stat`` utime + stime) per
session that began in the window (by the client's clock).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from clients import start_client  # noqa: E402
from context import CHILDREN, Ctx, greeting, stop_all  # noqa: E402
from machine import icmp_sockets, restore_icmp  # noqa: E402

from tests.harness import procs  # noqa: E402

LINE = re.compile(r"^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def strace_counts(
    pid: int, seconds: float, out: Path, threads: bool = True, tasks: bool = False
) -> dict[str, int]:
    """``strace -c [-f] -p PID`` for ``seconds``: calls per system call
    (``-f``, all threads, only when ``threads``: it would follow children;
    with ``tasks``, each thread of the process that exists now is named
    with its own ``-p`` instead, and no child is followed)."""
    follow = ["-f"] if threads and not tasks else []
    ids = sorted(os.listdir(f"/proc/{pid}/task")) if tasks else [str(pid)]
    tracer = subprocess.Popen(
        ["strace", "-c", *follow, "-o", str(out), *(a for t in ids for a in ("-p", t))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    tracer.send_signal(2)
    tracer.wait(30)
    counts: dict[str, int] = {}
    for line in out.read_text().splitlines():
        m = LINE.match(line)
        if m and m.group(6) != "total":
            counts[m.group(6)] = int(m.group(4))
    return counts


#: the system calls counted one by one with perf (the rest only in the total)
PERF_CALLS = ["epoll_wait", "epoll_ctl", "read", "sendto", "write", "recvfrom", "fcntl",
              "getdents64", "openat", "close", "pipe2", "clone3", "vfork", "wait4", "kill",
              "pidfd_open", "pidfd_send_signal", "accept4"]  # fmt: skip


def perf_counts(pid: int, seconds: float) -> dict[str, int]:
    """System calls of ``pid`` over ``seconds``, counted by the kernel's
    tracepoints (``perf stat``): unlike strace, it does not slow the server
    down, so lines per wake-up stay what they are without it."""
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}" for c in PERF_CALLS]
    out = subprocess.run(
        ["perf", "stat", "-x", ",", "-e", ",".join(events), "-p", str(pid), "sleep", str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stderr
    counts: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].isdigit():
            name = parts[2].rsplit("sys_enter_", 1)[-1]
            counts["total" if name == "raw_syscalls:sys_enter" else name] = int(parts[0])
    return counts


def py_spy_profile(pid: int, seconds: float, out: Path) -> dict[str, float]:
    """``py-spy record`` of ``pid`` for ``seconds``: each function's share of
    the samples (in %, counted once per stack it is in), the top 40."""
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
    subprocess.run(
        [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250",
         "-f", "raw", "-o", str(out), "--nonblocking", "--gil"],
        capture_output=True,
        timeout=seconds + 60,
    )  # fmt: skip
    shares: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in set(stack.split(";")):
            shares[frame] = shares.get(frame, 0) + int(count)
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:40]
    return {frame: round(100 * n / total, 1) for frame, n in top} if total else {}


def cprofile_calls(stats: Path, sessions: int, top: int = 45) -> dict[str, object]:
    """Function calls per session from a whole run's cProfile ``stats``, and
    the ``top`` functions by calls per session."""
    import pstats

    p = pstats.Stats(str(stats))
    table = p.stats  # type: ignore[attr-defined]  # pstats keeps it undocumented
    per_function = sorted(
        ((nc, f"{Path(f).name}:{line}({name})") for (f, line, name), (_, nc, *_) in table.items()),
        reverse=True,
    )
    return {
        "pstats": str(stats),
        "function_calls": p.total_calls,  # type: ignore[attr-defined]
        "function_calls_per_session": round(p.total_calls / sessions, 1) if sessions else None,  # type: ignore[attr-defined]
        "most_called_per_session": {
            where: round(nc / sessions, 2) for nc, where in per_function[:top]
        }
        if sessions
        else {},
    }


def cpu_ns(pid: int) -> tuple[int, int]:
    """The process's own CPU (all threads, not its children), in ns: user, system."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * tick, int(fields[12]) * tick


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def steady(ctx: Ctx, variant: str, n: int, seconds: float, tracer: str = "perf") -> dict:
    server = ctx.server(variant, [str(CHILDREN / "realping"), "0.2"], "sys")
    warmup = 4.0
    spec = {
        "url": server.url,
        "sessions": n,
        **greeting(variant, "127.0.0.1"),
        "mode": "hold",
        "inflight": 64,
        "warmup": warmup + 1,
        "window": seconds,
        "first_timeout": 30,
        "deadline": seconds + warmup + 120,
    }
    proc = start_client(spec)
    window = None
    assert proc.stderr is not None
    for raw in proc.stderr:
        if raw.startswith(b"WINDOW "):
            window = [int(x) for x in raw.split()[1:3]]
            break
    assert window is not None
    time.sleep(max(0.0, (window[0] - time.monotonic_ns()) / 1e9))
    if tracer == "strace":
        counts = strace_counts(server.pid, seconds, ctx.tmp / f"strace-{variant}-{n}.txt")
        total = sum(counts.values())
    else:
        counts = perf_counts(server.pid, seconds)
        total = counts.pop("total", 0)
    out, _ = proc.communicate(timeout=seconds + 200)
    res = json.loads(out)
    lines = sum(r[5] for r in res["sessions"])  # lines inside the window traced
    row = {
        "variant": variant,
        "sessions": n,
        "seconds": seconds,
        "lines": lines,
        "threads": threads(server.pid),
        "tracer": tracer,
        "syscalls": total,
        "per_line": round(total / lines, 2) if lines else None,
        "per_line_by_call": {k: round(v / lines, 3) for k, v in sorted(counts.items())}
        if lines
        else {},
        "counts": counts,
    }
    server.stop()
    return row


def churn(
    ctx: Ctx, variant: str, rate: float, seconds: float, background: int, tracer: str = "perf"
) -> dict:
    stats = ctx.out / f"churn-{variant}.pstats"
    if tracer == "cprofile":
        server = ctx.pingu([str(CHILDREN / "realping"), "0.2"], "sys", profile=stats)
    else:
        server = ctx.server(variant, [str(CHILDREN / "realping"), "0.2"], "sys")
    held = None
    if background:
        held = start_client(
            {
                "url": server.url,
                "sessions": background,
                **greeting(variant, "127.0.0.1"),
                "mode": "hold",
                "inflight": 64,
                "warmup": seconds + 30,
                "window": 1,
                "first_timeout": 30,
                "deadline": seconds + 200,
            }
        )
        deadline = time.monotonic() + 60
        while len(server.children()) < background and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
    proc = start_client(
        {
            "url": server.url,
            "sessions": 0,
            **greeting(variant, "127.0.0.1"),
            "mode": "churn",
            "rate": rate,
            "duration": seconds,
            "inflight": 256,
            "first_timeout": 10,
            "deadline": seconds + 60,
        }
    )
    time.sleep(1)  # the rate is steady by then
    dogs = [kid for kid in procs.children_of(server.pid) if procs.is_watchdog(kid)]
    dog_before = [cpu_ns(pid) for pid in dogs]
    cpu_before, t_before = cpu_ns(server.pid), time.monotonic_ns()
    profile: dict[str, float] = {}
    if tracer == "py-spy":
        profile = py_spy_profile(server.pid, seconds - 2, ctx.tmp / f"py-spy-{variant}.txt")
        counts = {}
    elif tracer == "cprofile":
        time.sleep(seconds - 2)
        counts = {}
    elif tracer == "strace":
        # The server's own threads (the reactor's, the spawn thread), not
        # its children: strace slows them down, so use a low rate.
        out = ctx.tmp / f"strace-churn-{variant}.txt"
        counts = strace_counts(server.pid, seconds - 2, out, tasks=True)
        counts["total"] = sum(counts.values())
    else:
        counts = perf_counts(server.pid, seconds - 2)
    cpu_after, t_after = cpu_ns(server.pid), time.monotonic_ns()
    dog_ns = sum(sum(cpu_ns(pid)) - sum(before) for pid, before in zip(dogs, dog_before))
    total = counts.pop("total", 0)
    out, _ = proc.communicate(timeout=seconds + 90)
    res = json.loads(out)
    done = sum(1 for r in res["sessions"] if r[2])
    # sessions that began while counted (accept4 calls: one per session, and
    # one more per burst that ends in EAGAIN), and by the client's own clock
    accepted = counts.get("accept4", 0)
    began = sum(1 for r in res["sessions"] if t_before <= r[0] <= t_after)
    if held is not None:
        held.kill()
        held.wait()
    server.stop()
    calls: dict[str, object] = {}
    if tracer == "cprofile":
        calls = cprofile_calls(stats, len(res["sessions"]))
    return {
        "variant": variant,
        "rate": rate,
        "background": background,
        "seconds": seconds,
        "sessions_done": done,
        "accepted_while_counted": accepted,
        "sessions_began_while_counted": began,
        "server_cpu_ms_per_session": round((sum(cpu_after) - sum(cpu_before)) / 1e6 / began, 2)
        if began
        else None,
        # pingu's watchdog process (a child of the server, not in its CPU)
        "watchdog_cpu_ms_per_session": round(dog_ns / 1e6 / began, 3) if began and dogs else None,
        "server_user_sys_ms_per_session": [
            round((cpu_after[i] - cpu_before[i]) / 1e6 / began, 2) for i in (0, 1)
        ]
        if began
        else None,
        "profile": profile,
        **calls,
        "syscalls": total,
        "per_session": round(total / accepted, 1) if accepted else None,
        "per_session_began": round(total / began, 1) if began else None,
        "per_session_by_call": {k: round(v / accepted, 2) for k, v in sorted(counts.items())}
        if accepted
        else {},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--churn", type=float, default=0, metavar="RATE")
    parser.add_argument("--background", type=int, default=0)
    parser.add_argument("--variant", default="pingu")
    parser.add_argument(
        "--tracer", default="perf", choices=["perf", "strace", "py-spy", "cprofile"]
    )
    parser.add_argument("--pingu-src")
    parser.add_argument("--out", default=str(BENCH / "results" / "syscalls"))
    args = parser.parse_args()
    ns = argparse.Namespace(
        quick=True, out=args.out, pingu_src=args.pingu_src, wait_quiet=0, servers=None
    )
    ctx = Ctx(ns)
    icmp = icmp_sockets(False)
    try:
        if args.churn:
            row = churn(ctx, args.variant, args.churn, args.seconds, args.background, args.tracer)
        else:
            row = steady(ctx, args.variant, args.sessions, args.seconds, args.tracer)
    finally:
        stop_all()
        restore_icmp(icmp)
    row.pop("counts", None)
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
