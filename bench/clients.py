"""The load client processes (bench/wsclient.py, bench/wampclient.py) and
what their results say: delays in ms, and why sessions failed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

BENCH = Path(__file__).resolve().parent
WSCLIENT = BENCH / "wsclient.py"
WAMPCLIENT = BENCH / "wampclient.py"


def pct(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms_stats(ns: list[int]) -> dict[str, Optional[float]]:
    v = [x / 1e6 for x in ns]
    return {
        "n": len(v),
        "p50_ms": pct(v, 50),
        "p99_ms": pct(v, 99),
        "max_ms": max(v) if v else None,
        "mean_ms": sum(v) / len(v) if v else None,
    }


def start_client(spec: dict[str, Any], script: Path = WSCLIENT) -> subprocess.Popen:
    """Start one load-client process with ``spec`` on its stdin."""
    proc = subprocess.Popen(
        [sys.executable, str(script), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec).encode())
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    return proc


def finish_client(proc: subprocess.Popen, timeout: float = 120) -> dict:
    """Wait for a client (killed after ``timeout``); its JSON result."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"client failed ({proc.returncode}): {err.decode()[-800:]}")
    return json.loads(out)


def run_client(spec: dict[str, Any], script: Path = WSCLIENT, timeout: float = 400) -> dict:
    """Run one load-client process; its JSON result."""
    return finish_client(start_client(spec, script), timeout)


def run_client_measured(
    spec: dict[str, Any], at_mid: Callable[[], Any], script: Path = WSCLIENT, timeout: float = 400
) -> tuple[dict, Any]:
    """Run a hold-mode client; call ``at_mid()`` in the middle of its
    measurement window (the client announces the window on stderr)."""
    proc = start_client(spec, script)
    measured: list[Any] = []
    errors: list[bytes] = []

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(b"WINDOW "):
                a, b = (int(x) for x in line.split()[1:3])
                time.sleep(max(0.0, ((a + b) / 2 - time.monotonic_ns()) / 1e9))
                try:
                    measured.append(at_mid())
                except Exception as e:
                    measured.append({"error": str(e)})
            else:
                errors.append(line)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out = proc.stdout.read() if proc.stdout else b""
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    watcher.join(30)
    if proc.returncode != 0:
        raise RuntimeError(f"client failed ({proc.returncode}): {b''.join(errors)[-800:]!r}")
    return json.loads(out), (measured[0] if measured else None)


def session_errors(result: dict, ok_codes: tuple = (1000, None)) -> Counter:
    """Why sessions failed: transport errors and unexpected close codes."""
    why: Counter = Counter()
    for row in result["sessions"]:
        _t0, _topen, tfirst, _tlast, lines, _wl, code, error = row[:8]
        if error and error != "dropped":
            why[error] += 1
        elif code not in ok_codes:
            why[f"close {code}"] += 1
        elif not lines or not tfirst:
            why["no line"] += 1
    return why
