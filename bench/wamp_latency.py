"""Publish-to-receive latency of pingu's WAMP path on loopback, beside the plain WebSocket path.

    .venv/bin/python bench/wamp_latency.py [--events 1000]
    .venv/bin/python bench/wamp_latency.py --serializers json,msgpack,cbor [--events 3000]

Starts a real Crossbar router and a real ``twistd pingu`` node (which also
serves /ws), pings 127.0.0.1 every 10 ms through each path and measures, for
every reply event, the time from the node making it (the event's ``t``) to
the viewer receiving it.  Both run on this machine, so the clocks agree.

``--serializers``: the WAMP path only, once per serializer of the node's
connection to the router (a copy of pingu whose
:data:`pingu.wamp.service.SERIALIZERS` is that one alone; the viewer stays
on JSON, as the page does), with the CPU the node and the router worker
spent per 1000 events delivered.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autobahn.twisted.component import Component  # noqa: E402
from twisted.internet import defer  # noqa: E402

from tests.harness.crossbar import Router  # noqa: E402
from tests.harness.pingu import Node  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402


def percentiles(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1000, 3),
        "p99_ms": round(pick(0.99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


def measure_websocket(port: int, count: int) -> list[float]:
    from websockets.sync.client import connect

    delays = []
    with connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["pingu.json"]) as ws:
        ws.send(json.dumps({"target": "127.0.0.1", "count": count, "interval": 0.01}))
        while True:
            event = json.loads(ws.recv(timeout=30))
            if event["type"] == "reply":
                delays.append(time.time() - event["t"])
            if event["type"] == "end":
                return delays


def measure_wamp(router_url: str, count: int) -> list[float]:
    delays: list[float] = []

    def main(reactor):
        done = defer.Deferred()
        component = Component(
            transports=[{"type": "websocket", "url": router_url, "max_retries": 0}],
            realm="pingu",
        )

        @component.on_join
        @defer.inlineCallbacks
        def joined(session, details):
            # the viewer's own connection: no Nagle either
            session._transport.transport.setTcpNoDelay(True)

            def on_event(event):
                if event["type"] == "reply":
                    delays.append(time.time() - event["t"])
                if event["type"] == "end" and not done.called:
                    done.callback(None)

            reply = yield session.call("pingu.bench.start", "127.0.0.1", count=count,
                                       interval=0.01)  # fmt: skip
            yield session.subscribe(on_event, reply["topic"])
            yield done
            yield session.leave()

        component.start(reactor)
        return done

    from twisted.internet import reactor

    d = main(reactor)
    d.addBoth(lambda _: reactor.stop())
    reactor.run()
    return delays


def pingu_with(serializer: str, workdir: Path) -> Path:
    """A copy of this tree's pingu whose node offers only ``serializer``."""
    import re
    import shutil

    src = workdir / f"src-{serializer}"
    shutil.copytree(REPO / "pingu", src / "pingu", ignore=shutil.ignore_patterns("__pycache__"))
    service = src / "pingu" / "wamp" / "service.py"
    text, count = re.subn(
        r"^SERIALIZERS = .*$", f"SERIALIZERS = [{serializer!r}]", service.read_text(), flags=re.M
    )
    assert count == 1, "pingu/wamp/service.py has no SERIALIZERS line"
    service.write_text(text)
    return src


def viewer(url: str, count: int) -> list[float]:
    """measure_wamp in a process of its own (a reactor runs once)."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--viewer", url, "--events", str(count)],
        check=True, capture_output=True, timeout=count * 0.05 + 60,
    ).stdout  # fmt: skip
    return json.loads(out.splitlines()[-1])


def serializer_costs(count: int = 20000) -> None:
    """In-process: one reply event as a PUBLISH, serialised (the node's
    part) and parsed (the router's), in each serializer; best of five."""
    import txaio

    txaio.use_twisted()
    from autobahn.wamp import message
    from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer

    raw = "[1764626400.123456] 64 bytes from 127.0.0.1: icmp_seq=123 ttl=64 time=0.045 ms"
    event = {"type": "reply", "raw": raw, "seq": 123, "ttl": 64, "rtt_ms": 0.045, "bytes": 64,
             "from": "127.0.0.1", "dup": False, "n": 125, "t": 1764626400.123789,
             "node": "bench", "run": "1-abcdef"}  # fmt: skip
    print(f"{'serializer':<10} {'serialise us':>13} {'parse us':>9} {'bytes':>6}")
    for name, ser in (("json", JsonSerializer()), ("msgpack", MsgPackSerializer()),
                      ("cbor", CBORSerializer())):  # fmt: skip
        best = [1e9, 1e9]
        for _ in range(5):
            t0 = time.perf_counter()
            for i in range(count):
                msg = message.Publish(i + 1, "pingu.bench.run.1-abcdef", args=[event])
                payload, binary = ser.serialize(msg)
            t1 = time.perf_counter()
            for _ in range(count):
                ser.unserialize(payload, binary)
            t2 = time.perf_counter()
            best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
        print(f"{name:<10} {best[0] / count * 1e6:>13.2f} {best[1] / count * 1e6:>9.2f} "
              f"{len(payload):>6}")  # fmt: skip


def compare_serializers(serializers: list[str], count: int) -> None:
    from tests.harness.procs import children_of, tasks_run_ns

    secret = os.urandom(8).hex()
    workdir = Path(tempfile.mkdtemp(prefix="pingu-wamp-serializers-"))
    router = Router(workdir, secret).start()
    rows = {}
    try:
        assert router.proc is not None
        (worker,) = children_of(router.proc.pid)
        for serializer in serializers:
            node = Node(workdir, router.url, "bench", secret, name=f"node-{serializer}",
                        src=pingu_with(serializer, workdir),
                        args=["--min-interval", "0.01", "--max-starts-per-second", "100",
                              "--no-web"])  # fmt: skip
            try:
                node.start(30)
                viewer(router.url, 20)  # warm both up
                cpu0 = tasks_run_ns(node.pid), tasks_run_ns(worker)
                delays = viewer(router.url, count)
                cpu1 = tasks_run_ns(node.pid), tasks_run_ns(worker)
            finally:
                node.stop()
            events = len(delays)
            row = percentiles(delays)
            row["node_ms_per_1000"] = round((cpu1[0] - cpu0[0]) / 1e6 / events * 1000, 1)
            row["router_ms_per_1000"] = round((cpu1[1] - cpu0[1]) / 1e6 / events * 1000, 1)
            rows[serializer] = row
    finally:
        router.stop()
    print(f"{'node serializer':<16} {'events':>7} {'node ms/1000':>13} {'router ms/1000':>15} "
          f"{'p50 ms':>8} {'p99 ms':>8}")  # fmt: skip
    for name, row in rows.items():
        print(f"{name:<16} {row['n']:>7} {row['node_ms_per_1000']:>13} "
              f"{row['router_ms_per_1000']:>15} {row['p50_ms']:>8} {row['p99_ms']:>8}")  # fmt: skip
    print(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--serializers", help="compare the node's serializers, e.g. json,msgpack")
    parser.add_argument("--viewer", help=argparse.SUPPRESS)  # one viewer of URL: its delays
    args = parser.parse_args()
    if args.viewer:
        print(json.dumps(measure_wamp(args.viewer, args.events)))
        return
    if args.serializers:
        serializer_costs()
        compare_serializers(args.serializers.split(","), args.events)
        return
    secret = os.urandom(8).hex()
    workdir = Path(tempfile.mkdtemp(prefix="pingu-wamp-latency-"))
    router = Router(workdir, secret).start()
    port = free_port()
    node = Node(workdir, router.url, "bench", secret, port=port, name="node",
                args=["--min-interval", "0.01", "--max-starts-per-second", "100"])  # fmt: skip
    try:
        node.start(30)
        websocket = percentiles(measure_websocket(port, args.events))
        wamp_delays = measure_wamp(router.url, args.events)
        if os.environ.get("PINGU_DEBUG"):
            print([round(d * 1000, 1) for d in wamp_delays[:40]], file=sys.stderr)
        wamp = percentiles(wamp_delays)
    finally:
        node.stop()
        router.stop()
    print(f"{'path':<28} {'events':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in (("plain WebSocket (/ws)", websocket), ("WAMP via Crossbar", wamp)):
        print(f"{name:<28} {row['n']:>7} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}")
    print(json.dumps({"websocket": websocket, "wamp": wamp}))


if __name__ == "__main__":
    main()
