#!/usr/bin/env python3
"""The latency floor: the ticker child read straight from its pipe, no server.

    python pipefloor.py EVERY SECONDS WARMUP

Runs ``children/ticker.py`` and reads its stdout in a blocking loop; each
line's delay is the reader's CLOCK_MONOTONIC on receipt minus the line's
``mono=``.  What a server adds is its own delay minus this one (one wake-up
of one process, against two for a server and its client).  Prints JSON
``{"samples": [ns, ...]}`` (the lines after WARMUP seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TICKER = Path(__file__).resolve().parent / "children" / "ticker.py"


def main() -> int:
    every, seconds, warmup = (float(x) for x in sys.argv[1:4])
    lines = int((seconds + warmup) / every)
    child = subprocess.Popen(
        ["/usr/bin/python3", str(TICKER), "--every", str(every), "--lines", str(lines),
         "--", "::1"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    fd = child.stdout.fileno()
    start = time.monotonic_ns()
    skip_until = start + int(warmup * 1e9)
    deadline = start + int((seconds + warmup + 10) * 1e9)
    samples: list[int] = []
    pending = b""
    while time.monotonic_ns() < deadline:
        data = os.read(fd, 65536)
        now = time.monotonic_ns()
        if not data:
            break
        pending += data
        *complete, pending = pending.split(b"\n")
        for line in complete:
            at = line.find(b"mono=")
            if at >= 0 and now >= skip_until:
                samples.append(now - int(line[at + 5 :]))
    child.kill()
    child.wait()
    json.dump({"samples": samples}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
