"""What two library alternatives would cost, per call, beside pingu's own code.

Micro-benchmarks (timeit, best of 5) of the real code, behind the "why not
the library" comments in pingu/gather.py and pingu/process.py:

* a counter bump: ``prometheus_client``'s ``Counter.inc`` (with and without
  its label looked up), the same in multiprocess mode, and pingu's ``Tally``;
* splitting a child's output into lines: ``pingu.process.LineSplitter``
  against Twisted's ``LineReceiver``, one ping line a chunk and 64 KiB chunks.

    PYTHONPATH=. .venv/bin/python bench/libcosts.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import timeit
from typing import Any, Callable

LINE = b"64 bytes from 127.0.0.1: icmp_seq=1234 ttl=64 time=0.045 ms\n"


def best_ns(stmt: Callable[[], Any], number: int, per: int = 1) -> int:
    return round(min(timeit.repeat(stmt, number=number, repeat=5)) / (number * per) * 1e9)


def counters(mode: str) -> None:
    """Run in a process of its own: multiprocess mode is chosen at import."""
    from prometheus_client import CollectorRegistry, Counter

    from pingu.metrics import Tally

    registry = CollectorRegistry()
    counter = Counter("bench", "bench", ["mode"], registry=registry)
    child = counter.labels("ws")
    tally = Tally()

    def bump() -> None:
        tally.value += 1

    n = 500_000
    print(
        f"counters, {mode}: Counter.inc {best_ns(child.inc, n)} ns, "
        f"labels().inc {best_ns(lambda: counter.labels('ws').inc(), n)} ns, "
        f"Tally {best_ns(bump, n)} ns"
    )


def lines() -> None:
    from twisted.protocols.basic import LineReceiver

    from pingu.process import LineSplitter

    class Lines(LineReceiver):
        delimiter = b"\n"
        MAX_LENGTH = 4096

        def __init__(self) -> None:
            self.got: list[str] = []

        def lineReceived(self, line: bytes) -> None:
            if line.endswith(b"\r"):
                line = line[:-1]
            self.got.append(line.decode("utf-8", "replace"))

    flood = LINE * (65536 // len(LINE))
    for name, chunk, n in (("one line a chunk", LINE, 200_000), ("64 KiB chunks", flood, 300)):
        per = chunk.count(b"\n")
        splitter = LineSplitter(4096)
        receiver = Lines()

        def twisted_feed(chunk: bytes = chunk, receiver: Lines = receiver) -> None:
            receiver.dataReceived(chunk)
            receiver.got.clear()

        mine = best_ns(lambda chunk=chunk, s=splitter: s.feed(chunk), n, per)
        theirs = best_ns(twisted_feed, n, per)
        print(f"lines, {name}: LineSplitter {mine} ns a line, LineReceiver {theirs} ns a line")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--counters":
        counters(sys.argv[2])
        return
    with tempfile.TemporaryDirectory(prefix="pingu-bench-mp-") as folder:
        for mode in ("single process", "multiprocess"):
            env = dict(os.environ)
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = folder
            subprocess.run([sys.executable, __file__, "--counters", mode], env=env, check=True)
    lines()


if __name__ == "__main__":
    main()
