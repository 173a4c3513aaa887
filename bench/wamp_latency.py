"""Publish-to-receive latency of pingu's WAMP path on loopback, beside the plain WebSocket path.

    .venv/bin/python bench/wamp_latency.py [--events 1000]

Starts a real Crossbar router and a real ``twistd pingu`` node (which also
serves /ws), pings 127.0.0.1 every 10 ms through each path and measures, for
every reply event, the time from the node making it (the event's ``t``) to
the viewer receiving it.  Both run on this machine, so the clocks agree.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
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
