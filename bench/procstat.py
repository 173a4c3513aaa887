"""CPU and memory of a server and of its children, from /proc.

A :class:`Sampler` thread reads, every ``interval`` seconds:

* the server's own CPU (all threads' scheduler run time) and RSS;
* the CPU its reaped children have used (cutime + cstime), plus the CPU and
  RSS of its live children (from ``/proc/PID/task/PID/children``).

The children's CPU over a window is then Δ(cutime + cstime) + Δ(live
children's CPU): a child that ends inside the window moves its total into
the parent's cutime, which makes the sum right without tracking each child
(close enough: cutime is tick-sampled, the live children's time comes from
the scheduler, see :func:`run_ns`).  Both Twisted and websocketd reap their
children.

Times are CLOCK_MONOTONIC nanoseconds, the clock the load client reports
its windows in.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def read_stat(pid: int) -> Optional[tuple[int, int, int]]:
    """(utime + stime, cutime + cstime, rss_kb) of a process, None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data.rsplit(b")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14 -> index 11
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    rss_pages = int(fields[21])
    return utime + stime, cutime + cstime, rss_pages * PAGE_KB


def children(pid: int) -> list[int]:
    """Live (and zombie) children of ``pid``, all threads."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (for routers that run worker processes)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = children(p)
        found.extend(kids)
        todo.extend(kids)
    return found


def run_ns(pid: int) -> Optional[int]:
    """Time on CPU, nanoseconds, from the scheduler (``/proc/PID/schedstat``).

    Exact, unlike utime + stime, which the kernel samples at each tick: a
    process that wakes up briefly after a timer (ping) is seldom the one
    running at a tick and shows no CPU at all there.  Main thread only."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tasks_run_ns(pid: int) -> Optional[int]:
    """:func:`run_ns` summed over every thread of a process."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def pss_kb(pid: int) -> int:
    """Proportional set size (shared pages divided among their users)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    total = sum(fields)
    return total - idle, total


@dataclass
class Sample:
    t: int
    cpu: int  # ns, the watched processes themselves (all threads, schedstat)
    cpu_ticks: int  # the same from utime + stime, for comparison
    reaped: int  # ticks, their reaped children
    kids_cpu: int  # ns, live children (schedstat)
    rss_kb: int
    kids_rss_kb: int
    kids: int
    procs: int  # watched processes found alive
    busy: int = 0  # machine-wide busy ticks (all CPUs)
    total: int = 0  # machine-wide ticks (all CPUs)


@dataclass
class Sampler:
    """Samples a group of "server" pids (e.g. twistd; or crossbar and its
    workers) and their children."""

    pids: list[int]
    interval: float = 0.5
    tree: bool = False  # the server pids' descendants count as server (router)
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def sample(self) -> Sample:
        t = time.monotonic_ns()
        cpu = ticks = reaped = kids_cpu = rss = kids_rss = nkids = procs = 0
        servers = list(self.pids)
        if self.tree:
            for p in self.pids:
                servers += descendants(p)
        server_set = set(servers)
        for pid in servers:
            st = read_stat(pid)
            ns = tasks_run_ns(pid)
            if st is None or ns is None:
                continue
            procs += 1
            cpu += ns
            ticks += st[0]
            reaped += st[1]
            rss += st[2]
            if self.tree:
                continue
            for kid in children(pid):
                if kid in server_set:
                    continue
                ks = read_stat(kid)
                ns = run_ns(kid)
                if ks is None or ns is None:
                    continue
                nkids += 1
                kids_cpu += ns
                kids_rss += ks[2]
        busy, total = machine_ticks()
        return Sample(t, cpu, ticks, reaped, kids_cpu, rss, kids_rss, nkids, procs, busy, total)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.samples.append(self.sample())

    def window(self, start: int, end: int) -> dict[str, float]:
        """Averages and peaks over [start, end] (monotonic ns)."""
        inside = [s for s in self.samples if start <= s.t <= end]
        if len(inside) < 2:
            # too short for the sampling period: nearest samples around it
            before = [s for s in self.samples if s.t <= start] or self.samples[:1]
            after = [s for s in self.samples if s.t >= end] or self.samples[-1:]
            inside = [before[-1], *inside, after[0]]
        a, b = inside[0], inside[-1]
        dt = max((b.t - a.t) / 1e9, 1e-9)
        return {
            "seconds": dt,
            "cpu_pct": 100.0 * (b.cpu - a.cpu) / 1e9 / dt,
            "cpu_pct_ticks": 100.0 * (b.cpu_ticks - a.cpu_ticks) / TICK / dt,
            "kids_cpu_pct": 100.0
            * ((b.reaped - a.reaped) / TICK + (b.kids_cpu - a.kids_cpu) / 1e9)
            / dt,
            "rss_mb": max(s.rss_kb for s in inside) / 1024,
            "rss_mb_end": b.rss_kb / 1024,
            "rss_mb_start": a.rss_kb / 1024,
            "kids_rss_mb": max(s.kids_rss_kb for s in inside) / 1024,
            "kids": max(s.kids for s in inside),
            "procs": max(s.procs for s in inside),
            # the whole machine, in % of one CPU (2 CPUs: up to 200)
            "machine_pct": 100.0
            * (os.cpu_count() or 1)
            * (b.busy - a.busy)
            / max(b.total - a.total, 1),
        }
