"""The machine a run measures: its CPU, the versions of what runs, the
commit, and the ICMP socket setting the bench changes for its run."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

from context import log

from tests.harness import REPO


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("twisted", "autobahn", "pingu"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except Exception:
            out[mod] = "?"
    try:
        out["websocketd"] = subprocess.run(
            ["websocketd", "--version"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        out["ping"] = subprocess.run(
            ["/usr/bin/ping", "-V"], capture_output=True, text=True, timeout=5
        ).stdout.splitlines()[0]
    except Exception:
        pass
    try:
        from autobahn.websocket import USES_NVX

        out["autobahn_nvx"] = str(USES_NVX)
    except Exception:
        pass
    return out


PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


def icmp_sockets(raw: bool) -> dict[str, Any]:
    """ICMP SOCKETS: with the kernel's default ``ping_group_range`` ("1 0")
    ping falls back to a raw ICMP socket, and every raw ICMP socket of the
    machine gets a copy of every echo reply: 1000 pings at -i 0.2 then cost
    the kernel 5000 x 1000 packet copies a second, whoever runs them.
    Debian with systemd allows datagram ICMP sockets for every group
    (systemd's 50-default.conf), which the kernel demultiplexes by id; the
    bench does the same for its run and restores the old value after.
    """
    try:
        old = PING_GROUP_RANGE.read_text().split()
    except OSError as e:
        return {"mode": "unknown", "error": str(e)}
    low, high = int(old[0]), int(old[1])
    if raw or low <= 0 <= high:
        return {"mode": "datagram" if low <= 0 <= high else "raw", "old": old, "changed": False}
    try:
        PING_GROUP_RANGE.write_text("0 2147483647\n")
    except OSError as e:
        return {"mode": "raw", "old": old, "changed": False, "error": str(e)}
    log("net.ipv4.ping_group_range = 0 2147483647 for this run (datagram ICMP sockets)")
    return {"mode": "datagram", "old": old, "changed": True}


def restore_icmp(state: dict[str, Any]) -> None:
    if state.get("changed"):
        try:
            PING_GROUP_RANGE.write_text(" ".join(state["old"]) + "\n")
            log(f"net.ipv4.ping_group_range restored to {' '.join(state['old'])}")
        except OSError as e:
            log(f"could not restore net.ipv4.ping_group_range: {e}")


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except Exception:
        return "?"
