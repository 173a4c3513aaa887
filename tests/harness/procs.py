"""Processes, their trees, CPU, memory and file descriptors, from /proc.

Children are found from the parent pid in ``/proc/PID/stat`` (one pass over
/proc serves a whole tree); zombies count, they still have their parent.
CPU times are the scheduler's (``schedstat``, nanoseconds) where exactness
matters, ``utime + stime`` ticks otherwise.
"""

from __future__ import annotations

import os
from typing import Optional

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> Optional[list[bytes]]:
    """The fields of ``/proc/PID/stat`` after the command name (state first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data.rsplit(b")", 1)[1].split()


def parents() -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                table[int(entry)] = int(fields[1])
    return table


def children_of(pid: int, table: Optional[dict[int, int]] = None) -> list[int]:
    """Pids whose parent is ``pid`` (zombies included)."""
    table = parents() if table is None else table
    return sorted(child for child, parent in table.items() if parent == pid)


def is_watchdog(pid: int) -> bool:
    """Is ``pid`` pingu's watchdog (``pingu/watchdog.py``)?"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"pingu/watchdog.py" in f.read()
    except OSError:
        return False


def descendants(pid: int, table: Optional[dict[int, int]] = None) -> list[int]:
    """Every process below ``pid`` (a router's workers, their children)."""
    table = parents() if table is None else table
    below: dict[int, list[int]] = {}
    for child, parent in table.items():
        below.setdefault(parent, []).append(child)
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = below.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def state(pid: int) -> Optional[str]:
    """The one-letter state (R, S, Z, ...) of ``pid``, None if it is gone."""
    fields = _stat_fields(pid)
    return fields[0].decode() if fields else None


def zombies_of(pid: int) -> list[int]:
    """Children of ``pid`` in state Z."""
    return [child for child in children_of(pid) if state(child) == "Z"]


def open_fds(pid: int) -> int:
    """How many file descriptors ``pid`` has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_stat(pid: int) -> Optional[tuple[int, int, int]]:
    """(utime + stime, cutime + cstime, rss_kb) of a process, None if gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # fields[0] is the state (field 3 of stat); utime is field 14 -> index 11
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return utime + stime, cutime + cstime, int(fields[21]) * PAGE_KB


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


def _kb_field(path: str, name: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size (shared pages divided among their users)."""
    return _kb_field(f"/proc/{pid}/smaps_rollup", "Pss:")


def vm_hwm_kb(pid: int) -> int:
    """Peak resident set size."""
    return _kb_field(f"/proc/{pid}/status", "VmHWM:")


def pss_mb(pids: list[int]) -> float:
    """PSS of all of ``pids``, MB."""
    return sum(pss_kb(p) for p in pids) / 1024


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    total = sum(fields)
    return total - idle, total
