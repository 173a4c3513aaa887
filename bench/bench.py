#!/usr/bin/env python3
"""pingu against websocketd and against itself, side by side in one run.

    bench/run [--quick] [--out DIR] [--only a,b,...] [--pingu-src DIR] [--profile]

(``bench/run`` installs what is needed and calls this file with the bench
venv's Python.)  Scenarios (bench/README.rst says what each measures):

a  throughput   a child printing N reply lines as fast as it can; 1 and 10 clients
b  latency      a child printing a timestamped line every 10 ms; idle, and with
                200 other sessions of real ping running
c  concurrency  100, 500, 1000 sessions of real ping to 127.0.0.1 at -i 0.2
d  fan-out      one target, 1/10/100/1000 viewers: pingu WAMP through Crossbar
                (one shared run), pingu WebSocket and websocketd (one process each)
e  churn        sessions started and ended per second, rising until errors appear

Prints a table per scenario; writes OUT/bench.json (raw), OUT/bench.png
(chart) and OUT/tables.rst.  Nothing here is a pass/fail gate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procstat import Sampler, pss_kb
from servers import (
    BENCH,
    CHILDREN,
    REPO,
    Pingu,
    Server,
    Websocketd,
    stop_all,
    write_wrapper,
)

PY = "/usr/bin/python3"  # the children's interpreter (pingu gives them PATH only)
WSCLIENT = BENCH / "wsclient.py"
WAMPCLIENT = BENCH / "wampclient.py"

LIVE: list[Server] = []  # servers to stop whatever happens


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- statistics ---------------------------------------------------------------


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


# -- the load client ------------------------------------------------------------


def run_client(spec: dict[str, Any], script: Path = WSCLIENT, timeout: float = 400) -> dict:
    """Run one load-client process; its JSON result."""
    proc = subprocess.run(
        [sys.executable, str(script), "-"],
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"client failed ({proc.returncode}): {proc.stderr.decode()[-800:]}")
    return json.loads(proc.stdout)


def start_client(spec: dict[str, Any], script: Path = WSCLIENT) -> subprocess.Popen:
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
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"client failed ({proc.returncode}): {err.decode()[-800:]}")
    return json.loads(out)


def run_client_measured(
    spec: dict[str, Any], at_mid: Callable[[], Any], script: Path = WSCLIENT, timeout: float = 400
) -> tuple[dict, Any]:
    """Run a hold-mode client; call ``at_mid()`` in the middle of its
    measurement window (the client announces the window on stderr)."""
    import threading

    proc = subprocess.Popen(
        [sys.executable, str(script), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(json.dumps(spec).encode())
    proc.stdin.close()
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


def pss_mb(pids: list[int]) -> float:
    return sum(pss_kb(p) for p in pids) / 1024


def session_errors(result: dict, ok_codes: tuple = (1000, None)) -> Counter:
    """Why sessions failed: transport errors and unexpected close codes."""
    why: Counter = Counter()
    for row in result["sessions"]:
        _t0, _topen, tfirst, _tlast, lines, _wl, code, error = row
        if error and error != "dropped":
            why[error] += 1
        elif code not in ok_codes:
            why[f"close {code}"] += 1
        elif not lines or not tfirst:
            why["no line"] += 1
    return why


# -- servers -----------------------------------------------------------------------


class Ctx:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.out = Path(args.out).resolve()
        self.tmp = self.out / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.src = Path(args.pingu_src).resolve() if args.pingu_src else None
        self.serial = 0
        self.quiet_budget = float(args.wait_quiet)  # seconds, for the whole run

    def gate(self) -> float:
        """The machine's CPU use by others right before a step (% of one
        CPU); with --wait-quiet, first wait for it to fall under 30 % (the
        option's seconds are a budget for the whole run).  Other jobs on the
        machine skew every figure."""
        from procstat import machine_ticks

        def busy(seconds: float = 0.3) -> float:
            b0, t0 = machine_ticks()
            time.sleep(seconds)
            b1, t1 = machine_ticks()
            return 100.0 * (os.cpu_count() or 1) * (b1 - b0) / max(t1 - t0, 1)

        load = busy()
        started = time.monotonic()
        while load > 30 and time.monotonic() - started < self.quiet_budget:
            load = busy(2.0)
        self.quiet_budget = max(0.0, self.quiet_budget - (time.monotonic() - started))
        if load > 30:
            log(f"the machine is busy ({load:.0f}% of a CPU used by others): figures are skewed")
        return load

    def pick(self, names: list[str]) -> list[str]:
        """``names``, less those --servers leaves out."""
        wanted = self.args.servers.split(",") if self.args.servers else None
        return [n for n in names if wanted is None or n in wanted]

    def name(self, what: str) -> str:
        self.serial += 1
        return f"{self.serial:02d}-{what}"

    def pingu(self, child: list[str], tag: str, profile: Optional[Path] = None) -> Pingu:
        wrapper = write_wrapper(self.tmp, f"child-{tag}", child)
        server = Pingu(self.tmp, self.name(f"pingu-{tag}"), wrapper, src=self.src, profile=profile)
        LIVE.append(server)
        return server.start()

    def websocketd(self, child: list[str], tag: str) -> Websocketd:
        server = Websocketd(self.tmp, self.name(f"websocketd-{tag}"), child)
        LIVE.append(server)
        return server.start()


def stop(server: Server) -> None:
    server.stop()
    if server in LIVE:
        LIVE.remove(server)


#: The compared variants: the server kind and how the client speaks to it.
VARIANTS = {
    "pingu": {"server": "pingu", "subprotocol": None},
    "pingu.json": {"server": "pingu", "subprotocol": "pingu.json"},
    "websocketd": {"server": "websocketd", "subprotocol": None},
}


def first_message(variant: str, target: str) -> str:
    if VARIANTS[variant]["subprotocol"] == "pingu.json":
        return json.dumps({"target": target})
    return target


def make_server(ctx: Ctx, variant: str, child: list[str], tag: str, **kw: Any) -> Server:
    if VARIANTS[variant]["server"] == "pingu":
        return ctx.pingu(child, tag, **kw)
    return ctx.websocketd(child, tag)


# -- scenario a: throughput ---------------------------------------------------------


def scenario_throughput(ctx: Ctx) -> dict:
    q = ctx.quick
    plan = {1: 40_000 if q else 200_000, 10: 8_000 if q else 40_000}
    variants = ctx.pick(["pingu", "pingu.json", "websocketd"])
    rows = []
    for variant in variants:
        for clients, lines in plan.items():
            row: dict[str, Any] = {"variant": variant, "clients": clients, "lines_each": lines}
            row["load_before_pct"] = ctx.gate()
            child = [PY, str(CHILDREN / "flood.py"), "--lines", str(lines)]
            server = None
            try:
                server = make_server(ctx, variant, child, f"flood{lines}")
                sampler = Sampler([server.pid], interval=0.25).start()
                res = run_client(
                    {
                        "url": server.url,
                        "sessions": clients,
                        "first": first_message(variant, "127.0.0.1"),
                        "subprotocol": VARIANTS[variant]["subprotocol"],
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
                )
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"
                log(traceback.format_exc())
            finally:
                if server is not None:
                    stop(server)
            log(f"a {variant:10} clients={clients:2} -> {fmt(row.get('lines_per_s'), 0)} lines/s")
            rows.append(row)
    return {"rows": rows}


# -- scenario b: latency ---------------------------------------------------------------


def scenario_latency(ctx: Ctx) -> dict:
    q = ctx.quick
    window = 2.5 if q else 15
    background = 200
    variants = ctx.pick(["pingu", "websocketd"] if q else ["pingu", "pingu.json", "websocketd"])
    rows = []
    for variant in variants:
        child = [str(CHILDREN / "mixed"), "0.01", "0.2"]
        server = None
        try:
            server = make_server(ctx, variant, child, "mixed")
            for load in (0, background):
                row: dict[str, Any] = {"variant": variant, "background": load}
                row["load_before_pct"] = ctx.gate()
                bg = None
                try:
                    sampler = Sampler([server.pid], interval=0.5).start()
                    if load:
                        bg = start_client(
                            {
                                "url": server.url,
                                "sessions": load,
                                "first": first_message(variant, "127.0.0.1"),
                                "subprotocol": VARIANTS[variant]["subprotocol"],
                                "mode": "hold",
                                "warmup": 0,
                                "window": window + 6,
                                "deadline": window + 60,
                            }
                        )
                        wait_children(server, load, 30)
                        time.sleep(1)
                    res = run_client(
                        {
                            "url": server.url,
                            "sessions": 1,
                            "first": first_message(variant, "::1"),
                            "subprotocol": VARIANTS[variant]["subprotocol"],
                            "mode": "hold",
                            "warmup": 1,
                            "window": window,
                            "latency": True,
                            "deadline": window + 30,
                        }
                    )
                    a, b = res["window_samples"]
                    samples = res["samples"][a:b]
                    usage = sampler.window(*res["window"])
                    row["machine_pct"] = usage.get("machine_pct")
                    row.update(ms_stats(samples))
                    row.update(
                        server_cpu_pct=usage["cpu_pct"],
                        kids=usage["kids"],
                        errors=dict(session_errors(res)),
                    )
                    if bg is not None:
                        bres = finish_client(bg, timeout=window + 60)
                        bg = None
                        row["background_errors"] = dict(session_errors(bres))
                        row["background_lines_per_s"] = sum(r[5] for r in bres["sessions"]) / (
                            (bres["window"][1] - bres["window"][0]) / 1e9
                        )
                    sampler.stop()
                except Exception as e:
                    row["error"] = f"{type(e).__name__}: {e}"
                    log(traceback.format_exc())
                finally:
                    if bg is not None:
                        bg.kill()
                        bg.wait()
                log(
                    f"b {variant:10} bg={load:3} -> p50 {fmt(row.get('p50_ms'), 3)} "
                    f"p99 {fmt(row.get('p99_ms'), 3)} max {fmt(row.get('max_ms'), 3)} ms"
                )
                rows.append(row)
                wait_children(server, 0, 10)
        except Exception as e:
            rows.append({"variant": variant, "error": f"{type(e).__name__}: {e}"})
            log(traceback.format_exc())
        finally:
            if server is not None:
                stop(server)
    if "pipe" in ctx.pick(["pipe"]):
        # the floor: the same child read straight from its pipe, no server
        row = {"variant": "pipe (no server)", "background": 0}
        row["load_before_pct"] = ctx.gate()
        try:
            proc = subprocess.run(
                [sys.executable, str(BENCH / "pipefloor.py"), "0.01", str(window), "1"],
                capture_output=True,
                timeout=window + 40,
            )
            row.update(ms_stats(json.loads(proc.stdout)["samples"]))
        except Exception as e:
            row["error"] = f"{type(e).__name__}: {e}"
        log(
            f"b pipe (no server) -> p50 {fmt(row.get('p50_ms'), 3)} "
            f"p99 {fmt(row.get('p99_ms'), 3)} max {fmt(row.get('max_ms'), 3)} ms"
        )
        rows.append(row)
    return {"rows": rows, "interval_ms": 10, "window_s": window}


def wait_children(server: Server, n: int, timeout: float) -> int:
    """Wait until the server has ``n`` children (at least n, or none when n == 0)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        count = len(server.children())
        if count >= n if n else count == 0:
            return count
        if time.monotonic() > deadline:
            log(f"{server.name}: {count} children after {timeout:g}s (waited for {n})")
            return count
        time.sleep(0.1)


# -- scenario c: concurrency ---------------------------------------------------------------


def scenario_concurrency(ctx: Ctx) -> dict:
    q = ctx.quick
    sizes = [1000] if q else [100, 500, 1000]
    window = 3 if q else 12
    warmup = 1.5 if q else 3
    variants = ctx.pick(["pingu", "websocketd"] if q else ["pingu", "pingu.json", "websocketd"])
    if ctx.args.soak:
        # one long hold of 1000 sessions: does the server's memory level off?
        sizes, window, variants = [1000], ctx.args.soak, ["pingu"]
    rows = []
    for variant in variants:
        for n in sizes:
            row: dict[str, Any] = {"variant": variant, "sessions": n}
            row["load_before_pct"] = ctx.gate()
            server = None
            try:
                child = [str(CHILDREN / "realping"), "0.2"]
                server = make_server(ctx, variant, child, "ping0.2")
                sampler = Sampler([server.pid], interval=0.5).start()
                # children's proportional memory, once, in the middle of the window
                res, pss = run_client_measured(
                    {
                        "url": server.url,
                        "sessions": n,
                        "first": first_message(variant, "127.0.0.1"),
                        "subprotocol": VARIANTS[variant]["subprotocol"],
                        "mode": "hold",
                        "inflight": 64,
                        "warmup": warmup,
                        "window": window,
                        "first_timeout": 30,
                        "deadline": window + warmup + 120,
                    },
                    lambda server=server: pss_mb(server.children()),
                    timeout=window + warmup + 150,
                )
                sampler.stop()
                w0, w1 = res["window"]
                usage = sampler.window(w0, w1)
                row["machine_pct"] = usage.get("machine_pct")
                secs = (w1 - w0) / 1e9
                sess = res["sessions"]
                ttfl = [r[2] - r[0] for r in sess if r[2]]
                errors = session_errors(res)
                row.update(
                    server_cpu_pct=usage["cpu_pct"],
                    server_cpu_pct_ticks=usage["cpu_pct_ticks"],
                    server_rss_mb=usage["rss_mb"],
                    server_rss_growth_mb_per_min=(usage["rss_mb_end"] - usage["rss_mb_start"])
                    * 60
                    / usage["seconds"],
                    kids=usage["kids"],
                    kids_rss_mb=usage["kids_rss_mb"],
                    kids_pss_mb=pss,
                    kids_cpu_pct=usage["kids_cpu_pct"],
                    lines_per_s=sum(r[5] for r in sess) / secs,
                    expected_lines_per_s=n / 0.2,
                    ttfl=ms_stats(ttfl),
                    ramp_s=(res["ramp_end"] - res["t0"]) / 1e9,
                    failures=sum(errors.values()),
                    errors=dict(errors),
                    client_cpu_pct=100 * res["client_cpu_s"] / ((res["t1"] - res["t0"]) / 1e9),
                    # the server's RSS over the window: (seconds into it, MB)
                    rss_timeline=[
                        (round((x.t - w0) / 1e9, 1), round(x.rss_kb / 1024, 1))
                        for x in sampler.samples[:: max(1, len(sampler.samples) // 60)]
                        if w0 <= x.t <= w1
                    ],
                )
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"
                log(traceback.format_exc())
            finally:
                if server is not None:
                    stop(server)
            log(
                f"c {variant:10} n={n:4} -> cpu {fmt(row.get('server_cpu_pct'), 1)}% "
                f"rss {fmt(row.get('server_rss_mb'), 1)} MB, kids {row.get('kids')} "
                f"{fmt(row.get('lines_per_s'), 0)} lines/s, failures {row.get('failures')}"
            )
            rows.append(row)
    return {"rows": rows, "window_s": window, "interval_s": 0.2}


# -- scenario d: fan-out -------------------------------------------------------------------


def scenario_fanout(ctx: Ctx) -> dict:
    """One target (real ping at -i 0.2 with -D timestamps), V viewers.

    pingu-wamp: one node, one Crossbar router, one shared run whatever V;
    pingu and websocketd: one WebSocket session and one ping process per
    viewer.  Each server serves the viewer counts in rising order.  Memory
    is the PSS (shared pages split among their users) of every process
    involved, measured in the middle of the window; CPU is from /proc over
    the window.
    """
    q = ctx.quick
    viewers = [1, 100] if q else [1, 10, 100, 1000]
    window = 2.5 if q else 8
    warmup = 1 if q else 2
    rows = []
    wamp = wamp_available()
    child = [str(CHILDREN / "realping"), "0.2", "--timestamps"]
    for mode in ctx.pick(["pingu-wamp", "pingu", "websocketd"]):
        if mode == "pingu-wamp" and wamp is not True:
            rows += [{"mode": mode, "viewers": v, "error": f"skipped: {wamp}"} for v in viewers]
            continue
        servers: list[Server] = []
        try:
            if mode == "pingu-wamp":
                from wamp import start_wamp

                router, node = start_wamp(ctx, child, LIVE)
                servers = [router, node]
                main = node
            else:
                main = make_server(ctx, mode, child, "ping0.2D")
                servers = [main]
                router = None
            for v in viewers:
                row: dict[str, Any] = {"mode": mode, "viewers": v}
                row["load_before_pct"] = ctx.gate()
                try:
                    spec: dict[str, Any] = {
                        "sessions": v,
                        "mode": "hold",
                        "inflight": 64,
                        "warmup": warmup,
                        "window": window,
                        "latency": True,
                        "first_timeout": 30,
                        "deadline": window + warmup + 120,
                    }
                    if router is not None:
                        spec.update(router.viewer_spec("127.0.0.1"))
                        script = WAMPCLIENT
                    else:
                        spec.update(url=main.url, first=first_message(mode, "127.0.0.1"))
                        script = WSCLIENT
                    sampler = Sampler([main.pid], interval=0.5).start()
                    rsampler = (
                        Sampler([router.pid], interval=0.5, tree=True).start() if router else None
                    )

                    def memory(main: Server = main, router: Any = router) -> dict[str, float]:
                        from procstat import descendants

                        kids = main.children()
                        out = {
                            "server": pss_mb([main.pid]),
                            "children": pss_mb(kids),
                            "processes": 1 + len(kids),
                        }
                        if router is not None:
                            tree = [router.pid, *descendants(router.pid)]
                            out["router"] = pss_mb(tree)
                            out["processes"] += len(tree)
                        return out

                    res, mem = run_client_measured(
                        spec, memory, script=script, timeout=window + warmup + 150
                    )
                    sampler.stop()
                    w0, w1 = res["window"]
                    secs = (w1 - w0) / 1e9
                    usage = sampler.window(w0, w1)
                    row["machine_pct"] = usage.get("machine_pct")
                    a, b = res["window_samples"]
                    cpu = usage["cpu_pct"] + usage["kids_cpu_pct"]
                    row.update(server_cpu_pct=usage["cpu_pct"], kids_cpu_pct=usage["kids_cpu_pct"])
                    if rsampler is not None:
                        rsampler.stop()
                        ru = rsampler.window(w0, w1)
                        row.update(router_cpu_pct=ru["cpu_pct"])
                        cpu += ru["cpu_pct"]
                    mem = mem or {}
                    sess = res["sessions"]
                    errors = session_errors(res)
                    row.update(
                        processes=mem.get("processes"),
                        cpu_pct=cpu,
                        memory_mb=sum(v for k, v in mem.items() if k != "processes") or None,
                        memory=mem,
                        server_rss_mb=usage["rss_mb"],
                        kids=usage["kids"],
                        events_per_s=sum(r[5] for r in sess) / secs,
                        expected_events_per_s=v / 0.2,
                        delay=ms_stats(res["samples"][a:b]),
                        failures=sum(errors.values()),
                        errors=dict(errors),
                    )
                except Exception as e:
                    row["error"] = f"{type(e).__name__}: {e}"
                    log(traceback.format_exc())
                log(
                    f"d {mode:10} viewers={v:4} -> procs {row.get('processes')} "
                    f"cpu {fmt(row.get('cpu_pct'), 1)}% (server {fmt(row.get('server_cpu_pct'))}"
                    f", router {fmt(row.get('router_cpu_pct'))}) "
                    f"mem {fmt(row.get('memory_mb'), 1)} MB "
                    f"{fmt(row.get('events_per_s'), 0)} ev/s "
                    f"p99 {fmt((row.get('delay') or {}).get('p99_ms'), 2)} ms"
                )
                rows.append(row)
                if mode != "pingu-wamp":
                    wait_children(main, 0, 15)
                else:
                    time.sleep(1)  # the shared run ends when its last viewer leaves
        except Exception as e:
            rows.append({"mode": mode, "viewers": 0, "error": f"{type(e).__name__}: {e}"})
            log(traceback.format_exc())
        finally:
            for s in reversed(servers):
                stop(s)
    return {"rows": rows, "window_s": window, "interval_s": 0.2}


def wamp_available() -> Any:
    """True, or why the WAMP fan-out cannot run here."""
    try:
        from wamp import available

        return available()
    except ImportError as e:
        return f"bench/wamp.py missing ({e})"


# -- scenario e: start-up and churn ---------------------------------------------------------


def scenario_churn(ctx: Ctx) -> dict:
    q = ctx.quick
    rates = [100, 400] if q else [25, 50, 100, 200, 300, 400, 600, 800]
    step = 1.5 if q else 5
    variants = ctx.pick(["pingu", "websocketd"])
    rows = []
    for variant in variants:
        server = None
        try:
            child = [str(CHILDREN / "realping"), "0.2"]
            server = make_server(ctx, variant, child, "churn")
            for rate in rates:
                row: dict[str, Any] = {"variant": variant, "rate": rate}
                row["load_before_pct"] = ctx.gate()
                try:
                    sampler = Sampler([server.pid], interval=0.5).start()
                    res = run_client(
                        {
                            "url": server.url,
                            "sessions": 0,
                            "first": first_message(variant, "127.0.0.1"),
                            "subprotocol": VARIANTS[variant]["subprotocol"],
                            "mode": "churn",
                            "rate": rate,
                            "duration": step,
                            "inflight": 256,
                            "first_timeout": 10,
                            "deadline": step + 60,
                        },
                        timeout=step + 90,
                    )
                    sampler.stop()
                    sess = res["sessions"]
                    errors = session_errors(res, ok_codes=(1000, 1005, None))
                    ok = [r for r in sess if r[2] and not (r[7] and r[7] != "dropped")]
                    launch = (res["launch_end"] - res["window"][0]) / 1e9
                    done = max((r[3] for r in ok), default=res["window"][0])
                    span = max((done - res["window"][0]) / 1e9, launch)
                    usage = sampler.window(res["window"][0], done)
                    row["machine_pct"] = usage.get("machine_pct")
                    row.update(
                        asked=len(sess) + res.get("skipped", 0),
                        ok=len(ok),
                        achieved_per_s=len(ok) / span if span else None,
                        failures=sum(errors.values()) + res.get("skipped", 0),
                        errors=dict(errors),
                        first_line=ms_stats([r[2] - r[0] for r in ok]),
                        server_cpu_pct=usage["cpu_pct"],
                        kids_cpu_pct=usage["kids_cpu_pct"],
                        max_kids=usage["kids"],
                    )
                except Exception as e:
                    row["error"] = f"{type(e).__name__}: {e}"
                    log(traceback.format_exc())
                rows.append(row)
                log(
                    f"e {variant:10} rate={rate:4}/s -> ok {row.get('ok')} "
                    f"({fmt(row.get('achieved_per_s'), 0)}/s) failures {row.get('failures')} "
                    f"first line p99 {fmt((row.get('first_line') or {}).get('p99_ms'), 1)} ms"
                )
                wait_children(server, 0, 10)
                if row.get("error") or churn_broke(row):
                    break
        except Exception as e:
            rows.append({"variant": variant, "error": f"{type(e).__name__}: {e}"})
            log(traceback.format_exc())
        finally:
            if server is not None:
                stop(server)
    return {"rows": rows, "step_s": step}


def churn_broke(row: dict) -> bool:
    """Errors appeared, or the server no longer keeps up with the asked rate."""
    asked = row.get("asked") or 0
    return bool(
        row.get("failures") or (asked and (row.get("achieved_per_s") or 0) < 0.9 * row["rate"])
    )


# -- profile ----------------------------------------------------------------------------------


def profile_pingu(ctx: Ctx) -> dict:
    """pingu under cProfile during the throughput scenario (text and json)."""
    import pstats

    out = {}
    lines = 20_000 if ctx.quick else 100_000
    for variant, clients in (("pingu", 1), ("pingu.json", 1), ("pingu", 10)):
        tag = f"{variant}-{clients}"
        stats = ctx.out / f"profile-{tag}.pstats"
        child = [PY, str(CHILDREN / "flood.py"), "--lines", str(lines // clients)]
        server = ctx.pingu(child, f"prof{lines}", profile=stats)
        try:
            res = run_client(
                {
                    "url": server.url,
                    "sessions": clients,
                    "first": first_message(variant, "127.0.0.1"),
                    "subprotocol": VARIANTS[variant]["subprotocol"],
                    "mode": "drain",
                    "inflight": clients,
                    "deadline": 200,
                }
            )
        finally:
            stop(server)
        total = sum(r[4] for r in res["sessions"])
        text = ctx.out / f"profile-{tag}.txt"
        with open(text, "w") as f:
            f.write(f"# pingu under cProfile: {variant}, {clients} client(s), {total} messages\n")
            p = pstats.Stats(str(stats), stream=f)
            p.strip_dirs().sort_stats("tottime").print_stats(35)
            p.sort_stats("cumulative").print_stats(45)
        out[tag] = {"messages": total, "pstats": str(stats), "text": str(text)}
        log(f"profile {tag}: {total} messages -> {text}")
    return out


# -- output ------------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def errs(row: dict) -> str:
    if row.get("error"):
        return row["error"][:60]
    e = row.get("errors") or {}
    text = ", ".join(f"{k}: {v}" for k, v in e.items()) or "0"
    if (row.get("load_before_pct") or 0) > 30:
        text += f" [busy {row['load_before_pct']:.0f}%]"
    return text


def tables(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every scenario that ran."""
    out = []
    a = results.get("a_throughput")
    if a:
        out.append(
            (
                "a. Throughput (flood child, lines delivered per second)",
                [
                    "server",
                    "clients",
                    "lines/s",
                    "messages",
                    "server CPU %",
                    "CPU µs/msg",
                    "client CPU %",
                    "server RSS MB",
                    "failures",
                ],
                [
                    [
                        r["variant"],
                        str(r["clients"]),
                        fmt(r.get("lines_per_s"), 0),
                        fmt(r.get("messages")),
                        fmt(r.get("server_cpu_pct")),
                        fmt(r.get("cpu_us_per_msg")),
                        fmt(r.get("client_cpu_pct")),
                        fmt(r.get("server_rss_mb")),
                        errs(r),
                    ]
                    for r in a["rows"]
                ],
            )
        )
    b = results.get("b_latency")
    if b:
        out.append(
            (
                "b. Latency, child write to client receipt (a line every 10 ms)",
                [
                    "server",
                    "other sessions",
                    "samples",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "server CPU %",
                    "failures",
                ],
                [
                    [
                        r["variant"],
                        str(r.get("background", "-")),
                        fmt(r.get("n")),
                        fmt(r.get("p50_ms"), 3),
                        fmt(r.get("p99_ms"), 3),
                        fmt(r.get("max_ms"), 3),
                        fmt(r.get("server_cpu_pct")),
                        errs(r),
                    ]
                    for r in b["rows"]
                ],
            )
        )
    c = results.get("c_concurrency")
    if c:
        out.append(
            (
                "c. Concurrency (real ping to 127.0.0.1 at -i 0.2)",
                [
                    "server",
                    "sessions",
                    "server CPU %",
                    "server RSS MB",
                    "RSS MB/min",
                    "children RSS (PSS) MB",
                    "children CPU %",
                    "lines/s (expected)",
                    "first line p50/p99/max ms",
                    "failures",
                ],
                [
                    [
                        r["variant"],
                        str(r["sessions"]),
                        fmt(r.get("server_cpu_pct")),
                        fmt(r.get("server_rss_mb")),
                        fmt(r.get("server_rss_growth_mb_per_min")),
                        f"{fmt(r.get('kids_rss_mb'), 0)} ({fmt(r.get('kids_pss_mb'), 0)})",
                        fmt(r.get("kids_cpu_pct")),
                        f"{fmt(r.get('lines_per_s'), 0)} ({fmt(r.get('expected_lines_per_s'), 0)})",
                        "/".join(
                            fmt((r.get("ttfl") or {}).get(k), 0)
                            for k in ("p50_ms", "p99_ms", "max_ms")
                        ),
                        errs(r),
                    ]
                    for r in c["rows"]
                ],
            )
        )
    d = results.get("d_fanout")
    if d:
        out.append(
            (
                "d. Fan-out (one target at -i 0.2, N viewers)",
                [
                    "mode",
                    "viewers",
                    "processes",
                    "CPU % all (pingu, router, pings)",
                    "memory MB, PSS, all",
                    "events/s (expected)",
                    "delay p50/p99/max ms",
                    "failures",
                ],
                [
                    [
                        r["mode"],
                        str(r["viewers"]),
                        fmt(r.get("processes")),
                        f"{fmt(r.get('cpu_pct'))} ({fmt(r.get('server_cpu_pct'))}, "
                        f"{fmt(r.get('router_cpu_pct'))}, {fmt(r.get('kids_cpu_pct'))})",
                        fmt(r.get("memory_mb")),
                        f"{fmt(r.get('events_per_s'), 0)} "
                        f"({fmt(r.get('expected_events_per_s'), 0)})",
                        "/".join(
                            fmt((r.get("delay") or {}).get(k), 2)
                            for k in ("p50_ms", "p99_ms", "max_ms")
                        ),
                        errs(r),
                    ]
                    for r in d["rows"]
                ],
            )
        )
    e = results.get("e_churn")
    if e:
        out.append(
            (
                "e. Start-up and churn (connect, first line, close)",
                [
                    "server",
                    "asked/s",
                    "completed/s",
                    "first line p50/p99 ms",
                    "server CPU %",
                    "children CPU %",
                    "failures",
                ],
                [
                    [
                        r["variant"],
                        fmt(r.get("rate")),
                        fmt(r.get("achieved_per_s"), 0),
                        "/".join(
                            fmt((r.get("first_line") or {}).get(k), 1) for k in ("p50_ms", "p99_ms")
                        ),
                        fmt(r.get("server_cpu_pct")),
                        fmt(r.get("kids_cpu_pct")),
                        errs(r),
                    ]
                    for r in e["rows"]
                ],
            )
        )
    return out


def print_tables(results: dict) -> None:
    for title, header, rows in tables(results):
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print(f"\n{title}")
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        print("  ".join("-" * w for w in widths))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print()


def rst_tables(results: dict) -> str:
    parts = []
    for title, header, rows in tables(results):
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        rule = " ".join("=" * w for w in widths)
        lines = [title, "", rule, " ".join(h.ljust(w) for h, w in zip(header, widths)), rule]
        lines += [" ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines += [rule, ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    colors = {"pingu": "C0", "pingu.json": "C2", "websocketd": "C1", "pingu-wamp": "C3"}

    ax = axes[0][0]
    a = results.get("a_throughput", {}).get("rows", [])
    names = list(dict.fromkeys(r["variant"] for r in a))
    for i, name in enumerate(names):
        for j, clients in enumerate((1, 10)):
            r = next((r for r in a if r["variant"] == name and r["clients"] == clients), {})
            ax.bar(
                j * (len(names) + 1) + i,
                (r.get("lines_per_s") or 0) / 1000,
                color=colors.get(name),
                label=name if j == 0 else None,
            )
    ax.set_xticks([(len(names) - 1) / 2, len(names) + 1 + (len(names) - 1) / 2])
    ax.set_xticklabels(["1 client", "10 clients"])
    ax.set_ylabel("thousand lines/s")
    ax.set_title("a. throughput")
    ax.legend(fontsize=8)

    ax = axes[0][1]
    b = results.get("b_latency", {}).get("rows", [])
    labels = []
    for i, r in enumerate(r for r in b if "p50_ms" in r):
        labels.append(f"{r['variant']}\n{'idle' if not r['background'] else '+200'}")
        for k, (key, hatch) in enumerate((("p50_ms", ""), ("p99_ms", "//"), ("max_ms", ".."))):
            ax.bar(
                i * 4 + k,
                r.get(key) or 0,
                color=colors.get(r["variant"]),
                hatch=hatch,
                edgecolor="black",
                linewidth=0.3,
            )
    ax.set_xticks([i * 4 + 1 for i in range(len(labels))])
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ms (p50, p99 //, max ..)")
    ax.set_title("b. latency child → client")

    c = results.get("c_concurrency", {}).get("rows", [])
    ax = axes[0][2]
    for name in dict.fromkeys(r["variant"] for r in c):
        pts = [
            (r["sessions"], r.get("server_cpu_pct"), r.get("server_rss_mb"))
            for r in c
            if r["variant"] == name and r.get("server_cpu_pct") is not None
        ]
        if pts:
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                "o-",
                color=colors.get(name),
                label=f"{name} CPU %",
            )
            ax.plot(
                [p[0] for p in pts],
                [p[2] for p in pts],
                "s--",
                color=colors.get(name),
                label=f"{name} RSS MB",
            )
    ax.axhline(100, color="grey", lw=0.5)
    ax.axhline(150, color="grey", lw=0.5, ls="--")
    ax.text(ax.get_xlim()[0], 101, " one core", fontsize=7, color="grey", va="bottom")
    ax.text(ax.get_xlim()[0], 151, " 150 MB", fontsize=7, color="grey", va="bottom")
    ax.set_xlabel("sessions (real ping, -i 0.2)")
    ax.set_title("c. concurrency: server CPU % and RSS MB")
    ax.legend(fontsize=7)

    d = results.get("d_fanout", {}).get("rows", [])
    ax = axes[1][0]
    ax2 = axes[1][1]
    for name in dict.fromkeys(r["mode"] for r in d):
        pts = [
            (r["viewers"], r.get("cpu_pct"), r.get("memory_mb"), r.get("processes"))
            for r in d
            if r["mode"] == name and r.get("cpu_pct") is not None
        ]
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], "o-", color=colors.get(name), label=name
            )
            ax2.plot(
                [p[0] for p in pts], [p[2] for p in pts], "o-", color=colors.get(name), label=name
            )
    for x, title in (
        (ax, "d. fan-out: CPU % (all processes)"),
        (ax2, "d. fan-out: memory MB (all processes)"),
    ):
        x.set_xscale("log")
        x.set_yscale("log")
        x.set_xlabel("viewers of one target")
        x.set_title(title)
        x.legend(fontsize=8)

    e = results.get("e_churn", {}).get("rows", [])
    ax = axes[1][2]
    for name in dict.fromkeys(r["variant"] for r in e):
        pts = [
            (r["rate"], r.get("achieved_per_s"), r.get("failures"))
            for r in e
            if r["variant"] == name and r.get("achieved_per_s") is not None
        ]
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], "o-", color=colors.get(name), label=name
            )
            for p in pts:
                if p[2]:
                    ax.annotate(f"{p[2]} err", (p[0], p[1]), fontsize=7)
    if e:
        top = max(r["rate"] for r in e)
        ax.plot([0, top], [0, top], color="grey", lw=0.5)
    ax.set_xlabel("sessions asked per second")
    ax.set_ylabel("completed per second")
    ax.set_title("e. churn")
    ax.legend(fontsize=8)

    meta = results.get("meta", {})
    fig.suptitle(
        f"pingu vs websocketd — {meta.get('cpus')} CPUs, {meta.get('date')}"
        f"{' (quick)' if meta.get('quick') else ''}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


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


SCENARIOS: dict[str, tuple[str, Callable[[Ctx], dict]]] = {
    "a": ("a_throughput", scenario_throughput),
    "b": ("b_latency", scenario_latency),
    "c": ("c_concurrency", scenario_concurrency),
    "d": ("d_fanout", scenario_fanout),
    "e": ("e_churn", scenario_churn),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under two minutes)")
    parser.add_argument("--out", default=str(BENCH / "results"), help="results folder")
    parser.add_argument("--only", default="abcde", help="scenarios to run, e.g. 'ac' or 'a,c'")
    parser.add_argument(
        "--servers",
        help="only these series, e.g. pingu,websocketd (of pingu, pingu.json, websocketd, "
        "pingu-wamp, pipe)",
    )
    parser.add_argument("--pingu-src", help="source tree to run pingu from (a patched copy)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run pingu under cProfile during the throughput scenario",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="before each step, wait for other jobs to calm down; S seconds in all",
    )
    parser.add_argument(
        "--soak",
        type=float,
        default=0,
        metavar="S",
        help="scenario c only: hold 1000 pingu sessions for S seconds",
    )
    parser.add_argument(
        "--raw-icmp",
        action="store_true",
        help="leave net.ipv4.ping_group_range alone (see ICMP SOCKETS below)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also copy the chart and raw results to bench/latest.*",
    )
    args = parser.parse_args()
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
            name, fn = SCENARIOS[key]
            log(f"scenario {name}")
            t0 = time.monotonic()
            try:
                results[name] = fn(ctx)
            except Exception as e:
                results[name] = {"error": f"{type(e).__name__}: {e}", "rows": []}
                log(traceback.format_exc())
            results[name]["elapsed_s"] = time.monotonic() - t0
        if args.profile:
            results["profile"] = profile_pingu(ctx)
    finally:
        stop_all(list(LIVE))
        restore_icmp(results["meta"]["icmp"])
    results["meta"]["elapsed_s"] = time.monotonic() - started
    out = ctx.out
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    (out / "tables.rst").write_text(rst_tables(results))
    print_tables(results)
    try:
        chart(results, out / "bench.png")
    except Exception as e:
        log(f"no chart: {e}")
    if args.publish:
        shutil.copy(out / "bench.png", BENCH / "latest.png")
        shutil.copy(out / "bench.json", BENCH / "latest.json")
        shutil.copy(out / "tables.rst", BENCH / "latest-tables.rst")
    log(f"done in {results['meta']['elapsed_s']:.0f}s: {out}/bench.json, bench.png, tables.rst")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
