"""CPU and memory of a server and of its children over time.

A :class:`Sampler` thread reads, every ``interval`` seconds (with the
harness's /proc readers, ``tests/harness/procs.py``):

* the server's own CPU (all threads' scheduler run time) and RSS;
* the CPU its reaped children have used (cutime + cstime), plus the CPU and
  RSS of its live children.

A server of several processes (``pingu --workers N``: the parent, the
workers, their watchdogs) is sampled with ``roles``, a function that names
them anew at each sample (:meth:`servers.BenchServer.roles`): its CPU and RSS
are then the sums over those processes, its children the other children of
any of them (the tool processes), and each role's own figures are kept as
well (``parts`` in :meth:`Sampler.window`: how the load was shared).

The children's CPU over a window is then Δ(cutime + cstime) + Δ(live
children's CPU): a child that ends inside the window moves its total into
the parent's cutime, which makes the sum right without tracking each child
(close enough: cutime is tick-sampled, the live children's time comes from
the scheduler, see ``procs.run_ns``).  Both Twisted and websocketd reap their
children.

Times are CLOCK_MONOTONIC nanoseconds, the clock the load client reports
its windows in.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from tests.harness.procs import (
    TICK,
    children_of,
    descendants,
    machine_ticks,
    parents,
    read_stat,
    run_ns,
    tasks_run_ns,
)


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
    # with roles: role -> (cpu ns, rss kb, live children), each server process
    parts: dict[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass
class Sampler:
    """Samples a group of "server" pids (e.g. twistd; or crossbar and its
    workers) and their children."""

    pids: list[int]
    interval: float = 0.5
    tree: bool = False  # the server pids' descendants count as server (router)
    #: pid -> parent table -> {role: pid}: the server's processes, found at
    #: each sample (replaces ``pids``)
    roles: Optional[Callable[[dict[int, int]], dict[str, int]]] = None
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None

    def sample(self) -> Sample:
        t = time.monotonic_ns()
        cpu = ticks = reaped = kids_cpu = rss = kids_rss = nkids = procs = 0
        table = parents()  # one pass over /proc for the whole tree
        named = self.roles(table) if self.roles is not None else {}
        servers = list(named.values()) if self.roles is not None else list(self.pids)
        role_of = {pid: role for role, pid in named.items()}
        parts: dict[str, tuple[int, int, int]] = {}
        if self.tree:
            for p in self.pids:
                servers += descendants(p, table)
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
            mine = 0
            for kid in children_of(pid, table):
                if kid in server_set:
                    continue
                ks = read_stat(kid)
                kns = run_ns(kid)
                if ks is None or kns is None:
                    continue
                mine += 1
                kids_cpu += kns
                kids_rss += ks[2]
            nkids += mine
            if pid in role_of:
                parts[role_of[pid]] = (ns, st[2], mine)
        busy, total = machine_ticks()
        return Sample(
            t, cpu, ticks, reaped, kids_cpu, rss, kids_rss, nkids, procs, busy, total, parts
        )

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

    def window(self, start: int, end: int) -> dict[str, Any]:
        """Averages and peaks over [start, end] (monotonic ns)."""
        inside = [s for s in self.samples if start <= s.t <= end]
        if len(inside) < 2:
            # too short for the sampling period: nearest samples around it
            before = [s for s in self.samples if s.t <= start] or self.samples[:1]
            after = [s for s in self.samples if s.t >= end] or self.samples[-1:]
            inside = [before[-1], *inside, after[0]]
        a, b = inside[0], inside[-1]
        dt = max((b.t - a.t) / 1e9, 1e-9)
        out = {
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
        if len(b.parts) > 1:
            # each process of a several-process server: CPU %, peak RSS, children
            out["parts"] = {
                role: {
                    "cpu_pct": 100.0 * (b.parts[role][0] - a.parts[role][0]) / 1e9 / dt
                    if role in a.parts
                    else None,
                    "rss_mb": max(s.parts[role][1] for s in inside if role in s.parts) / 1024,
                    "kids": max(s.parts[role][2] for s in inside if role in s.parts),
                }
                for role in b.parts
            }
        return out


def server_sampler(server: Any, interval: float = 0.5) -> Sampler:
    """A started :class:`Sampler` of ``server`` (one process, or all of a
    ``--workers`` pingu's: :meth:`servers.BenchServer.roles`)."""
    return Sampler([server.pid], interval=interval, roles=server.roles).start()
