"""d. fan-out: one target (real ping -i 0.2 -D) watched by 1 ... 1000
viewers: pingu's WAMP mode through Crossbar (one shared run), pingu's plain
WebSocket and websocketd (one ping each); processes, CPU and memory of all
of them, events delivered per second, delay from ping's print to the viewer.

The WAMP modes go to 5000 viewers: ``pingu-wamp``, one router worker
(``.crossbar/config.json``), and ``pingu-wamp-proxy``, a router worker behind
two proxy workers (``.crossbar/config-proxy.json``).  Their viewers are
spread over client processes of at most :data:`PER_CLIENT` sessions each
(this file, run as a script: bench/wampclient.py's viewer that also checks
every event's ``n``, none lost, none twice), which open their sessions,
then wait for one common window; CPU is per process (node, Crossbar's
controller, each worker, ping, the clients).

    .venv/bin/python bench/scenarios/d_fanout.py --wamp [--viewers 1,100,1000,5000]
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
import threading
from pathlib import Path

if __name__ == "__main__":  # a client process, or the WAMP fan-out on its own
    BENCH_DIR = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]

import json
import time
from collections import Counter
from typing import Any

from clients import WSCLIENT, ms_stats, run_client_measured, session_errors
from context import CHILDREN, PEERS, Ctx, child_wrapper, failed, greeting, log, stop, wait_children
from report import COLORS, FAILURES, Column, fmt, lead, num, series, slash
from sampler import Sampler
from servers import NODE, PINGU_BENCH_LIMITS, SECRET, Node, Router, wamp_available

from tests.harness.procs import children_of, descendants, pss_mb

NAME = "d_fanout"
TITLE = "d. Fan-out (one target at -i 0.2, N viewers)"
COLUMNS = [
    Column("mode", "mode"),
    Column("viewers", "viewers"),
    Column("processes", "processes"),
    Column(
        "CPU % all (pingu, router, pings)",
        ("cpu_pct", "server_cpu_pct", "router_cpu_pct", "kids_cpu_pct"),
        lead(),
    ),
    Column("memory MB, PSS, all", "memory_mb"),
    Column("events/s (expected)", ("events_per_s", "expected_events_per_s"), lead(0)),
    Column("delay p50/p99/max ms", ("delay.p50_ms", "delay.p99_ms", "delay.max_ms"), slash(2)),
    Column("starts tried again", "retries", num(0)),
    FAILURES,
]
PANELS = 2


def run(ctx: Ctx) -> dict:
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
    wamp = wamp_available(ctx.src)
    child = [str(CHILDREN / "realping"), "0.2", "--timestamps"]
    # --quick: the one router worker only, up to 100 viewers (the run stays short)
    for mode in ctx.pick(["pingu-wamp"] if q else list(WAMP_CONFIGS)):
        counts = [1, 100] if q else WAMP_VIEWERS
        if wamp is not True:
            rows += [{"mode": mode, "viewers": v, "error": f"skipped: {wamp}"} for v in counts]
            continue
        rows += wamp_fanout(ctx, mode, counts, child, window, warmup + 1)
    for mode in ctx.pick(["pingu", "websocketd", *([] if q else PEERS)]):
        servers: list[Any] = []
        try:
            main = ctx.server(mode, child, "ping0.2D")
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
                    spec.update(url=main.url, first=greeting(mode, "127.0.0.1")["first"])
                    script = WSCLIENT
                    sampler = Sampler([main.pid], interval=0.5).start()
                    rsampler = None

                    def memory(main: Any = main, router: Any = router) -> dict[str, float]:
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
                    failed(row, e)
                log(
                    f"d {mode:10} viewers={v:4} -> procs {row.get('processes')} "
                    f"cpu {fmt(row.get('cpu_pct'), 1)}% (server {fmt(row.get('server_cpu_pct'))}"
                    f", router {fmt(row.get('router_cpu_pct'))}) "
                    f"mem {fmt(row.get('memory_mb'), 1)} MB "
                    f"{fmt(row.get('events_per_s'), 0)} ev/s "
                    f"p99 {fmt((row.get('delay') or {}).get('p99_ms'), 2)} ms"
                )
                rows.append(row)
                wait_children(main, 0, 15)
        except Exception as e:
            rows.append(failed({"mode": mode, "viewers": 0}, e))
        finally:
            for s in reversed(servers):
                stop(s)
    return {"rows": rows, "window_s": window, "interval_s": 0.2}


# -- the WAMP fan-out: one run, up to 5000 viewers, one router worker or proxies --

#: The WAMP modes and the Crossbar configuration each runs.
WAMP_CONFIGS = {"pingu-wamp": "config.json", "pingu-wamp-proxy": "config-proxy.json"}
WAMP_VIEWERS = [1, 100, 1000, 5000]
#: Most sessions in one client process (each is a socket, and one Python
#: process decoding every event of 5000 sessions would be the bottleneck).
PER_CLIENT = 1250
#: Seconds the viewers of one step may take to open (then the step fails).
RAMP_S = 180
#: The node's limits: one client address (127.0.0.1) makes every call.
NODE_LIMITS = [
    *PINGU_BENCH_LIMITS,
    "--max-calls-per-second", "1000000",
    "--max-calls-per-second-total", "1000000",
]  # fmt: skip


class FanoutRouter(Router):
    """The bench's router with the named configuration."""

    def __init__(self, workdir: Path, name: str, config: str) -> None:
        super(Router, self).__init__(workdir, SECRET, name=name, config=config)


class FanoutNode(Node):
    """The bench's node, joined to ``url`` (the router worker's port for nodes)."""

    def __init__(self, workdir: Path, name: str, url: str, ping: Path, src: Any) -> None:
        super(Node, self).__init__(
            workdir, url, NODE, SECRET, args=NODE_LIMITS, ping=ping, name=name, src=src
        )


def crossbar_processes(router: Any) -> dict[str, int]:
    """Crossbar's processes by role: ``controller``, ``router``, ``proxy1`` ..."""
    found = {"controller": router.pid}
    proxies = 0
    for pid in sorted(children_of(router.pid)):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        title = b" ".join(argv)  # crossbar-worker [crossbar.worker.proxy.ProxyController]
        kind = "proxy" if b"ProxyController" in title else "router"
        if kind == "proxy":
            proxies += 1
            kind = f"proxy{proxies}"
        found[kind] = pid
    return found


def _read_lines(proc: Any, ready: threading.Event, lines: list[bytes]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(b"READY"):
            ready.set()
        else:
            lines.append(line)
    ready.set()  # it ended: nothing more to wait for


def wamp_fanout(
    ctx: Any, mode: str, counts: list[int], child: list[str], window: float, warmup: float
) -> list[dict[str, Any]]:
    """One router (``mode``'s configuration), one node, one shared run, the
    viewer ``counts`` in rising order; one row per count."""
    from clients import start_client

    rows: list[dict[str, Any]] = []
    router = node = None
    try:
        router = ctx._start(FanoutRouter(ctx.tmp, ctx.name("crossbar"), WAMP_CONFIGS[mode]))
        wrapper = child_wrapper(ctx.tmp, "child-wamp", child)
        node = ctx._start(
            FanoutNode(ctx.tmp, ctx.name("pingu-node"), router.node_url, wrapper, ctx.src)
        )
        time.sleep(2)  # joined is logged before its procedures are registered
        for v in counts:
            row: dict[str, Any] = {"mode": mode, "viewers": v}
            row["load_before_pct"] = ctx.gate()
            try:
                row.update(_wamp_step(ctx, router, node, v, window, warmup, start_client))
            except Exception as e:
                failed(row, e)
            log(
                f"d {mode:16} viewers={v:5} -> procs {row.get('processes')} "
                f"cpu {fmt(row.get('cpu_pct'), 1)}% {row.get('cpu_by_process')} "
                f"mem {fmt(row.get('memory_mb'), 1)} MB "
                f"{fmt(row.get('events_per_s'), 0)} ev/s "
                f"(of {fmt(row.get('expected_events_per_s'), 0)}) "
                f"p50 {fmt((row.get('delay') or {}).get('p50_ms'), 2)} "
                f"p99 {fmt((row.get('delay') or {}).get('p99_ms'), 2)} ms "
                f"lost {row.get('lost')} failures {row.get('failures')}"
            )
            rows.append(row)
            time.sleep(1 + v / 1000)  # the shared run ends when its last viewer leaves
    except Exception as e:
        rows.append(failed({"mode": mode, "viewers": 0}, e))
    finally:
        stop(node)
        stop(router)
    return rows


def _wamp_step(
    ctx: Any, router: Any, node: Any, v: int, window: float, warmup: float, start_client: Any
) -> dict[str, Any]:
    nclients = max(1, math.ceil(v / PER_CLIENT))
    go = Path(tempfile.mkdtemp(dir=ctx.tmp, prefix="go-")) / "go"
    base: dict[str, Any] = {
        **router.viewer_spec("127.0.0.1"),
        "mode": "hold",
        "inflight": 64,
        "window": window,
        "latency": True,
        "first_timeout": 60,
        "deadline": window + warmup + RAMP_S,
        "go_file": str(go),
    }
    share = [v // nclients + (1 if i < v % nclients else 0) for i in range(nclients)]
    procs, readies, errs = [], [], []
    for n in share:
        proc = start_client({**base, "sessions": n}, script=Path(__file__).resolve())
        ready, lines = threading.Event(), []
        threading.Thread(target=_read_lines, args=(proc, ready, lines), daemon=True).start()
        procs.append(proc)
        readies.append(ready)
        errs.append(lines)
    roles = crossbar_processes(router)
    watched = {"node": node.pid, **roles}
    samplers = {name: Sampler([pid], interval=0.5).start() for name, pid in watched.items()}
    clients = Sampler([p.pid for p in procs], interval=0.5).start()
    ramp0 = time.monotonic()
    for ready in readies:
        ready.wait(window + warmup + RAMP_S)
    ramp_s = time.monotonic() - ramp0
    w0 = time.monotonic_ns() + int(warmup * 1e9)
    w1 = w0 + int(window * 1e9)
    go.write_text(str(w0))
    time.sleep(max(0.0, ((w0 + w1) / 2 - time.monotonic_ns()) / 1e9))
    mem = {name: pss_mb([pid]) for name, pid in watched.items()}
    kids = node.children()
    mem["ping"] = pss_mb(kids)
    mem["clients"] = pss_mb([p.pid for p in procs])
    results = []
    for proc, lines in zip(procs, errs):
        out = proc.stdout.read() if proc.stdout else b""
        proc.wait(window + warmup + RAMP_S + 30)
        if proc.returncode != 0:
            raise RuntimeError(f"client failed ({proc.returncode}): {b''.join(lines)[-800:]!r}")
        results.append(json.loads(out))
    for sampler in (*samplers.values(), clients):
        sampler.stop()
    secs = (w1 - w0) / 1e9
    usage = {name: s.window(w0, w1) for name, s in samplers.items()}
    cpu = {name: round(u["cpu_pct"], 1) for name, u in usage.items()}
    cpu["ping"] = round(usage["node"]["kids_cpu_pct"], 1)
    client_cpu = clients.window(w0, w1)["cpu_pct"]
    sessions = [r for res in results for r in res["sessions"]]
    timed_out = sum(1 for res in results if res.get("timed_out"))
    if timed_out:  # its sessions never all opened: no window was measured
        raise RuntimeError(f"{timed_out} of {len(results)} clients ran out of time opening")
    samples = [x for res in results for x in res["samples"][slice(*res["window_samples"])]]
    errors: Any = Counter()
    for res in results:
        errors.update(session_errors(res))
    lost = sum(res.get("lost", 0) for res in results)
    twice = sum(res.get("twice", 0) for res in results)
    return {
        "processes": len(watched) + len(kids) + len(procs),
        "client_processes": len(procs),
        "ramp_s": round(ramp_s, 1),
        "cpu_pct": sum(cpu.values()),
        "cpu_by_process": cpu,
        "client_cpu_pct": round(client_cpu, 1),
        "router_cpu_pct": sum(c for k, c in cpu.items() if k not in ("node", "ping")),
        "server_cpu_pct": cpu["node"],
        "kids_cpu_pct": cpu["ping"],
        "memory_mb": round(sum(m for k, m in mem.items() if k != "clients"), 1),
        "memory": mem,
        "machine_pct": usage["node"].get("machine_pct"),
        "events_per_s": sum(r[5] for r in sessions) / secs,
        "expected_events_per_s": v / 0.2,
        "delay": ms_stats(samples),
        "lost": lost,
        "twice": twice,
        "failures": sum(errors.values()),
        "errors": dict(errors),
        # starts refused for load and tried again, as the page does
        "retries": sum(res.get("retries", 0) for res in results),
    }


# -- the client process: bench/wampclient.py's viewers, every n checked --------------

#: An event's number in its WAMP EVENT frame (the terminator makes a number
#: cut between two reads wait for the rest).
N_FIELD = re.compile(rb'"n":\s?(\d+)[,}]')


def _client_classes() -> tuple[type, type]:
    import wampclient
    import wsclient

    class CheckedViewer(wampclient.Viewer):
        """Counts like wampclient's viewer, and keeps every event's ``n``."""

        def __init__(self, run: Any, index: int) -> None:
            super().__init__(run, index)
            self.seen: list[int] = []
            self._tail = b""

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.control:
                return
            text = self._tail + data
            skip = len(self._tail)  # a match wholly in the tail was seen last time
            self.seen += [int(m[1]) for m in N_FIELD.finditer(text) if m.end() > skip]
            self._tail = text[-24:]

    class CheckedRun(wampclient.ViewerRun):
        session_class = CheckedViewer

        async def hold(self) -> None:
            """Open every session, say READY, wait for the window the
            parent writes in ``go_file`` (CLOCK_MONOTONIC ns), measure it."""
            import asyncio

            n = int(self.spec["sessions"])
            await asyncio.gather(*(self.open_one(i, wait_first=True) for i in range(n)))
            self.ramp_end = wsclient.mono()
            print("READY", file=sys.stderr, flush=True)
            go = Path(self.spec["go_file"])
            while not go.exists() or not go.read_text():
                await asyncio.sleep(0.05)
            self.window_start = int(go.read_text())
            self.window_end = self.window_start + int(float(self.spec["window"]) * 1e9)
            await asyncio.sleep(max(0.0, (self.window_start - wsclient.mono()) / 1e9))
            self.samples_before = len(self.samples)
            await asyncio.sleep(max(0.0, (self.window_end - wsclient.mono()) / 1e9))
            self.window_samples = (self.samples_before, len(self.samples))
            await self.close_all()

    return CheckedViewer, CheckedRun


def client_main() -> int:
    """This file as bench/wampclient.py, plus ``lost`` and ``twice``: the
    events missing between each session's first and last ``n``, and those
    seen again."""
    import asyncio

    import wsclient

    _viewer, run_class = _client_classes()
    spec = json.load(sys.stdin)
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    holder: list[Any] = []

    class Kept(run_class):  # type: ignore[misc, valid-type]
        def __init__(self, spec: dict[str, Any]) -> None:
            super().__init__(spec)
            holder.append(self)

    result = asyncio.run(wsclient.amain(spec, Kept))
    lost = twice = 0
    for session in holder[0].sessions:
        seen = getattr(session, "seen", [])
        if seen:
            lost += seen[-1] - seen[0] + 1 - len(set(seen))
            twice += len(seen) - len(set(seen))
    result.update(lost=lost, twice=twice)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


def plot(axes: list[Any], rows: list[dict]) -> None:
    ax, ax2 = axes
    for name in series(rows, "mode"):
        pts = [
            (r["viewers"], r.get("cpu_pct"), r.get("memory_mb"), r.get("processes"))
            for r in rows
            if r["mode"] == name and r.get("cpu_pct") is not None
        ]
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], "o-", color=COLORS.get(name), label=name
            )
            ax2.plot(
                [p[0] for p in pts], [p[2] for p in pts], "o-", color=COLORS.get(name), label=name
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


def standalone() -> int:
    """``--wamp``: the two WAMP modes alone, their rows as JSON on stdout."""
    import argparse

    from context import stop_all

    parser = argparse.ArgumentParser(description="the WAMP fan-out alone")
    parser.add_argument("--wamp", action="store_true")
    parser.add_argument("--viewers", default="1,100,1000,5000")
    parser.add_argument("--modes", default=",".join(WAMP_CONFIGS))
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--wait-quiet", type=float, default=0.0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "results"))
    args = parser.parse_args()
    ns = argparse.Namespace(
        quick=False, out=args.out, pingu_src=None, wait_quiet=args.wait_quiet, servers=args.modes
    )
    ctx = Ctx(ns)
    child = [str(CHILDREN / "realping"), "0.2", "--timestamps"]
    counts = [int(v) for v in args.viewers.split(",")]
    rows: list[dict[str, Any]] = []
    try:
        for mode in ctx.pick(list(WAMP_CONFIGS)):
            rows += wamp_fanout(ctx, mode, counts, child, args.window, args.warmup)
    finally:
        stop_all()
    json.dump(rows, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(standalone() if "--wamp" in sys.argv else client_main())
